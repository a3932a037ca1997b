"""The codec's seven WS v2 trading requests against the simulator's authenticated endpoint, and
its decoding of every answer: add_order, batch_add, amend_order, cancel_order, batch_cancel,
cancel_all and cancel_all_orders_after, with req_id echoed and errors as Kraken's strings."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import websocket

from gal_exec.config import SimConfig
from gal_exec.core.clock import ManualClock
from gal_exec.kraken import ws_codec as wc
from gal_exec.kraken.auth import Credentials
from gal_exec.kraken.rest import KrakenRestClient
from gal_exec.sim.server import Simulator

pytestmark = pytest.mark.timeout(30)
D = Decimal


class Connection:
    """A websocket-client connection that decodes with the codec and waits for one answer."""

    def __init__(self, url: str, token: str) -> None:
        self.ws = websocket.create_connection(url, timeout=5)
        self.token = token
        self.req_ids = iter(range(100, 10_000))

    def call(self, build: Any, *args: Any, **kwargs: Any) -> wc.MethodResponse:
        req_id = next(self.req_ids)
        request = build(self.token, *args, req_id=req_id, **kwargs)
        self.ws.send(wc.encode(request))
        return self.answer(request.method, req_id)

    def answer(self, method: str, req_id: int) -> wc.MethodResponse:
        for _ in range(50):
            message = wc.decode_message(self.ws.recv())
            if isinstance(message, wc.MethodResponse) and message.req_id == req_id:
                assert message.method == method
                return message
        raise AssertionError(f"no answer to {method} {req_id}")


@pytest.fixture
def connection() -> Iterator[Connection]:
    with Simulator(SimConfig(clock="manual", volatility_bps=0.0)) as sim:
        assert sim.ws_auth_url is not None
        rest = KrakenRestClient(
            sim.rest_url,
            Credentials(sim.api_key, sim.api_secret),
            clock=ManualClock(start=1_700_000_000.0),
            http="stdlib",
        )
        connection = Connection(sim.ws_auth_url, rest.get_websockets_token().token)
        try:
            yield connection
        finally:
            connection.ws.close()
            rest.close()


def _spec(cl_ord_id: str, price: str = "60000") -> wc.OrderSpec:
    return wc.OrderSpec(
        order_type="limit",
        side="buy",
        order_qty=D("0.001"),
        limit_price=D(price),
        cl_ord_id=cl_ord_id,
    )


def test_each_trading_method_round_trips_through_the_codec(connection: Connection) -> None:
    added = connection.call(wc.add_order, _spec("one"), symbol="BTC/USD")
    assert isinstance(added, wc.AddOrderResponse) and added.success
    assert added.result is not None and added.result.order_id and added.result.cl_ord_id == "one"

    batch = connection.call(wc.batch_add, [_spec("two"), _spec("three")], symbol="BTC/USD")
    assert isinstance(batch, wc.BatchAddResponse) and batch.success and batch.result is not None
    assert [entry.cl_ord_id for entry in batch.result] == ["two", "three"]
    assert all(entry.order_id for entry in batch.result)

    amended = connection.call(wc.amend_order, cl_ord_id="one", limit_price=D("60100"))
    assert isinstance(amended, wc.AmendOrderResponse) and amended.success
    assert amended.result is not None and amended.result.amend_id

    cancelled = connection.call(wc.cancel_order, order_ids=[added.result.order_id])
    assert isinstance(cancelled, wc.CancelOrderResponse) and cancelled.success
    assert cancelled.result == wc.CancelAck(order_id=added.result.order_id)

    both = connection.call(wc.batch_cancel, cl_ord_ids=["two", "three"])
    assert isinstance(both, wc.BatchCancelResponse) and both.success
    assert both.result == wc.CountAck(count=2)

    connection.call(wc.add_order, _spec("four"), symbol="BTC/USD")
    everything = connection.call(wc.cancel_all)
    assert isinstance(everything, wc.CancelAllResponse) and everything.result == wc.CountAck(
        count=1
    )

    switch = connection.call(wc.cancel_all_orders_after, 60)
    assert isinstance(switch, wc.CancelAllOrdersAfterResponse) and switch.success
    assert switch.result is not None and switch.result.trigger_time and switch.result.current_time
    assert connection.call(wc.cancel_all_orders_after, 0).success


def test_errors_are_kraken_strings_with_the_req_id(connection: Connection) -> None:
    gone = connection.call(wc.cancel_order, order_ids=["OAAAAA-BBBBB-CCCCCC"])
    assert isinstance(gone, wc.CancelOrderResponse) and not gone.success
    assert gone.error is not None and gone.error.startswith("EOrder:")
    poor = connection.call(
        wc.add_order,
        wc.OrderSpec(order_type="market", side="buy", order_qty=D("1000000")),
        symbol="BTC/USD",
    )
    assert not poor.success and poor.error == "EOrder:Insufficient funds"
    wrong = connection.call(wc.add_order, _spec("five"), symbol="XBT/USD")
    assert not wrong.success and wrong.error == "Currency pair not supported XBT/USD"
