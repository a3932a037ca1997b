"""Positions and balances against the simulator: balances fetched at start, positions after a
bracket round trip equal to the simulator's trades (live, from the journal, after a restart), and
the position limit refusing a signal."""

from __future__ import annotations

import json
from decimal import Decimal

import msgspec
import pytest

from gal_exec.engine import Endpoints, Engine
from gal_exec.journal import orders_command
from tests.e2e.support import Harness, engine_config, wait_until

pytestmark = pytest.mark.timeout(60)

D = Decimal


def _sim_position(harness: Harness) -> tuple[Decimal, Decimal, Decimal]:
    """(net base quantity, quote cash flow, fees) of the simulator's trades of this account."""
    net = cash = fees = D(0)
    for trade in harness.sim.trades():
        sign = 1 if trade["side"] == "buy" else -1
        net += sign * D(trade["vol"])
        cash -= sign * D(trade["vol"]) * D(trade["price"])
        assert trade["fee_asset"] == "ZUSD"
        fees += D(trade["fee"])
    return net, cash, fees


def test_balances_are_fetched_at_start(harness: Harness) -> None:
    assert harness.engine is not None
    account = wait_until(
        lambda: (lambda a: a if a.balances_at is not None else None)(harness.engine.account()),
        10,
        "the balances",
    )
    on_exchange = harness.exchange.balance_ex(harness.api_key)
    assert set(account.balances) == set(on_exchange)
    for asset, entry in on_exchange.items():
        mine = account.balances[asset]
        assert (mine.total, mine.hold) == (D(entry["balance"]), D(entry["hold_trade"]))
        assert mine.available == mine.total - mine.hold
    assert harness.engine.health()["account"]["balances_error"] is None


def test_balances_are_fetched_again_after_the_stream_reconnects(harness: Harness) -> None:
    assert harness.engine is not None
    engine = harness.engine
    wait_until(lambda: engine.account().balances_at is not None, 10, "the first balances")
    assert harness.gateway_health()["calls"]["BalanceEx"] == 1
    # Moved by something that is not ours: another client of the key rests a buy (a hold).
    order = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "volume": "1", "price": "1000"}
    harness.exchange.add_order(harness.api_key, order)
    assert harness.sim.disconnect_ws() >= 1
    wait_until(lambda: engine.health()["stream"]["sessions"] >= 2, 10, "a new stream session")
    harness.wait_stream_subscribed()
    wait_until(
        lambda: harness.gateway_health()["calls"]["BalanceEx"] == 2, 10, "the balances again"
    )
    total = D(harness.exchange.balance_ex(harness.api_key)["ZUSD"]["balance"])
    wait_until(lambda: engine.account().balances["ZUSD"].total == total, 10, "the new USD balance")


def test_positions_after_a_bracket_round_trip_equal_the_simulators_trades(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = harness.sim
    reports = harness.reports
    signal_id = harness.signal(
        order_type="market", quantity="0.03", sl_price="64000.0", tp_price="66000.0"
    )
    entry = reports.entry_id(signal_id)
    bought = reports.wait_terminal(entry)
    assert bought.filled_quantity == D("0.03")
    take_profit = reports.child_id(signal_id, "take_profit")
    stop_loss = reports.child_id(signal_id, "stop_loss")
    reports.wait_status(take_profit, {"open"})
    sim.liquidity("0.01")
    sim.price("66100.0")  # the take-profit triggers and sells 0.01 a step
    reports.wait_filled_quantity(take_profit, D("0.01"))
    assert harness.engine is not None
    account = harness.engine.account()
    view = account.positions["XBT/USD"]
    net, cash, fees = _sim_position(harness)
    assert view.quantity == net == D("0.02")  # the rest is still protected
    sim.step(2)
    reports.wait_terminal(take_profit)
    assert reports.wait_terminal(stop_loss).status == "canceled"
    assert harness.engine.wait_until_idle(10)

    view = harness.engine.account().positions["XBT/USD"]
    net, cash, fees = _sim_position(harness)
    assert (view.quantity, view.average_price) == (net, None) == (D(0), None)
    assert view.realized_pnl == cash  # flat again: everything realised
    assert view.fees == {"USD": fees} and view.net_pnl == cash - fees
    assert (view.bought, view.sold, view.trades) == (D("0.03"), D("0.03"), len(sim.trades()))

    # The journal says the same (gal-exec orders --positions).
    journal = harness.tmp_path / "journal.sqlite"
    assert orders_command(["--journal", str(journal), "--positions", "--json"]) == 0
    from_journal = json.loads(capsys.readouterr().out)
    assert from_journal == msgspec.to_builtins(harness.engine.account().positions)


def test_positions_come_back_after_a_restart(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    signal_id = harness.signal(order_type="market", quantity="0.02")
    harness.reports.wait_terminal(harness.reports.entry_id(signal_id))
    assert harness.engine is not None and harness.engine.wait_until_idle(10)
    before = harness.engine.account().positions
    assert before["XBT/USD"].quantity == D("0.02")
    journal = harness.tmp_path / "journal.sqlite"
    harness.engine.stop(cancel_open=False)
    assert orders_command(["--journal", str(journal), "--positions", "--json"]) == 0
    from_journal = json.loads(capsys.readouterr().out)
    assert from_journal == msgspec.to_builtins(before)

    assert harness.simulator is not None
    simulator = harness.simulator
    engine = Engine.start(
        engine_config(),
        endpoints=Endpoints(
            rest_url=simulator.rest_url,
            ws_url=simulator.ws_url or "",
            ws_auth_url=simulator.ws_auth_url or "",
            api_key=simulator.api_key,
            api_secret=simulator.api_secret,
        ),
        journal_path=journal,
        stream=False,
    )
    harness.engine = engine  # the harness stops it
    assert engine.account().positions == before


def test_the_position_limit_refuses_a_signal(start_harness) -> None:
    config = engine_config()
    config = msgspec.structs.replace(
        config, risk=msgspec.structs.replace(config.risk, max_position_per_pair="0.025")
    )
    harness: Harness = start_harness(config=config)
    first = harness.signal(order_type="market", quantity="0.02")
    harness.reports.wait_terminal(harness.reports.entry_id(first))
    refused = harness.signal(order_type="market", quantity="0.01")
    report = harness.reports.wait_for(
        lambda rs: next((r for r in rs if r.signal_id == refused), None), what="the refusal"
    )
    assert report.status == "rejected"
    assert report.reason == (
        "position limit: XBT/USD position 0.02 + open buys 0 + this buy 0.01 = 0.03 exceeds 0.025"
    )
    sold = harness.signal(order_type="market", side="sell", quantity="0.01")
    assert harness.reports.wait_terminal(harness.reports.entry_id(sold)).status == "filled"
    assert len(harness.sim.orders()) == 2
