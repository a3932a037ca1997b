"""HttpWorker: performs one HttpCall on a real KrakenRestClient (HTTP mocked with responses) and
carries the result or the exception back; a failure never stops it."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pykka
import pytest
import responses

from gal_exec.actors.http_worker import HttpWorker, WorkerHealth
from gal_exec.actors.protocol import GetHealth, HttpCall, HttpDone
from gal_exec.kraken.auth import Credentials
from gal_exec.kraken.errors import KrakenAPIError, TransportError
from gal_exec.kraken.orders import OrderRequest
from gal_exec.kraken.rest import KrakenRestClient
from tests.actors.gateway_support import BASE_URL, SECRET, MockKraken


@pytest.fixture
def kraken() -> Iterator[MockKraken]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield MockKraken(rsps)
        pykka.ActorRegistry.stop_all()


@pytest.fixture
def worker(clock):
    client = KrakenRestClient(BASE_URL, Credentials("test-key", SECRET), clock=clock)
    return HttpWorker.start(client, clock=clock)


def _call(recorder, call_id: int, method: str, **kwargs) -> HttpCall:
    return HttpCall(
        call_id=call_id, endpoint=method, method_name=method, kwargs=kwargs, reply_to=recorder.ref
    )


def _order() -> OrderRequest:
    return OrderRequest(
        pair="XBTUSD",
        type="buy",
        ordertype="limit",
        volume=Decimal("0.01"),
        price=Decimal("30000"),
        cl_ord_id="w1",
    )


def test_a_call_is_performed_and_its_result_told_back(kraken, worker, recorder):
    worker.tell(_call(recorder, 1, "add_order", order=_order()))
    done = recorder.next(HttpDone)
    assert (done.call_id, done.error) == (1, None)
    assert done.result.txid == ["OTX001-AAAAA-BBBBBB"]
    assert done.started <= done.finished
    assert kraken.calls_to("AddOrder")[0]["cl_ord_id"] == "w1"


def test_failures_are_carried_and_the_worker_keeps_working(kraken, worker, recorder):
    kraken.script("QueryOrders", 502, {"error": ["EGeneral:Invalid arguments"]})
    worker.tell(_call(recorder, 1, "query_orders", txids=["O1"]))
    worker.tell(_call(recorder, 2, "query_orders", txids=["O1"]))
    worker.tell(_call(recorder, 3, "no_such_method"))
    worker.tell(_call(recorder, 4, "query_orders", txids=["O1"]))

    first, second, third, fourth = recorder.take(4, HttpDone)

    assert isinstance(first.error, TransportError) and first.error.status == 502
    assert isinstance(second.error, KrakenAPIError)
    assert second.error.errors == ["EGeneral:Invalid arguments"]
    assert isinstance(third.error, AttributeError)
    assert fourth.error is None and "O1" in fourth.result
    assert worker.is_alive()
    assert worker.ask(GetHealth(), timeout=5) == WorkerHealth(calls=4, failures=3)
