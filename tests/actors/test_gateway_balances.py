"""The gateway's balance job: BalanceEx in the query lane, retried like any query, answered as
BalancesResult; and the supervisor keeping what it answers."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pykka
import pytest
import responses

from gal_exec.actors.protocol import BalancesResult, GetHealth, QueryBalances, RestCallMade
from gal_exec.actors.supervisor import ExecutionSupervisor, Restore
from gal_exec.core.desk import Desk, DeskSettings
from gal_exec.kraken.codec import BalanceExEntry
from gal_exec.kraken.pairs import PairRegistry
from tests.actors.gateway_support import MockKraken, health, make_config, start_gateway

D = Decimal


@pytest.fixture
def kraken() -> Iterator[MockKraken]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield MockKraken(rsps)
        pykka.ActorRegistry.stop_all()  # before the mock goes: no call may reach the network


def test_balances_are_one_balanceex_call(kraken, clock, timers, recorder) -> None:
    gateway = start_gateway(make_config(), clock, timers)
    gateway.tell(QueryBalances(request_id=7, reply_to=recorder.ref))
    answer = recorder.next(BalancesResult)
    assert answer.request_id == 7 and answer.error is None
    assert answer.balances is not None
    assert answer.balances["ZUSD"].balance == D("171288.6158")
    assert answer.balances["ZUSD"].hold_trade == D("1000.0000")
    assert health(gateway).calls == {"BalanceEx": 1}


def test_a_failed_balance_query_is_answered_with_the_error(kraken, clock, timers, recorder) -> None:
    kraken.script("BalanceEx", {"error": ["EGeneral:Permission denied"]})
    gateway = start_gateway(make_config(), clock, timers)
    gateway.tell(QueryBalances(request_id=1, reply_to=recorder.ref))
    answer = recorder.next(BalancesResult)
    assert answer.balances is None and answer.error is not None
    assert answer.error.raw == "EGeneral:Permission denied"


def test_the_supervisor_fetches_balances_at_start_and_keeps_them(
    make_recorder, clock, timers
) -> None:
    gateway, sink = make_recorder(), make_recorder()
    desk = Desk(DeskSettings(), pairs=PairRegistry([]).limits, clock=clock)
    supervisor = ExecutionSupervisor.start(
        desk=desk, gateway=gateway.ref, sink=sink.ref, timers=timers, clock=clock
    )
    supervisor.tell(Restore(models={}))
    asked = gateway.next(QueryBalances)
    entries = {
        "XXBT": BalanceExEntry(balance=D("2.5"), hold_trade=D("0.5")),
        "ZUSD": BalanceExEntry(balance=D("100.0")),
    }
    supervisor.tell(
        BalancesResult(
            request_id=asked.request_id,
            balances=entries,
        )
    )
    account = supervisor.ask(GetHealth(), timeout=5).account
    assert account.balances["XXBT"].available == D("2.0")
    assert account.balances["ZUSD"].hold == D(0)
    assert account.balances_at == clock.time()
    supervisor.stop()


def test_a_private_call_made_elsewhere_counts_on_the_rest_model(kraken, clock, timers) -> None:
    """The WebSocket token is fetched outside the gateway; Kraken counts it all the same."""
    gateway = start_gateway(make_config(), clock, timers)
    assert health(gateway).rest_level == 0
    gateway.tell(RestCallMade(endpoint="GetWebSocketsToken"))
    assert health(gateway).rest_level == 1
