"""The simulator's WS v2 trading methods over a fake exchange: translation and answer shapes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from ws_testkit import API_KEY, TOKEN, Client, FakeExchange, connect

from gal_exec.sim.errors import SimError
from gal_exec.sim.ws_server import SimWsServer

RFC3339_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
def exchange() -> FakeExchange:
    return FakeExchange()


@pytest.fixture
def auth_server(exchange: FakeExchange) -> Iterator[SimWsServer]:
    with SimWsServer(exchange, public=False, heartbeat_interval_s=60) as server:
        yield server


@pytest.fixture
def client(auth_server: SimWsServer) -> Iterator[Client]:
    connection = connect(auth_server.url)
    yield connection
    connection.close()


# -- trading methods -------------------------------------------------------------------------


def test_add_order_calls_the_exchange_with_rest_params_and_echoes_ids(
    client: Client, exchange: FakeExchange
) -> None:
    params = {
        "order_type": "limit",
        "side": "buy",
        "limit_price": 26500.4,
        "order_userref": 100054,
        "order_qty": 1.2,
        "symbol": "BTC/USD",
        "time_in_force": "ioc",
        "token": TOKEN,
    }
    client.send({"method": "add_order", "params": params, "req_id": 123456789})
    answer = client.recv()
    assert answer["method"] == "add_order" and answer["req_id"] == 123456789
    assert answer["success"] is True
    assert answer["result"] == {"order_id": "OAAAAA-BBBBB-CCCCCC", "order_userref": 100054}
    name, (api_key, rest, source) = exchange.calls[-1]
    assert (name, api_key, source) == ("add_order", API_KEY, "ws")
    assert rest == {
        "pair": "XXBTZUSD",
        "ordertype": "limit",
        "type": "buy",
        "volume": Decimal("1.2"),
        "price": Decimal("26500.4"),
        "timeinforce": "IOC",
        "userref": 100054,
    }


def test_validate_only_add_order_has_an_empty_order_id(client: Client) -> None:
    params = {
        "order_type": "market",
        "side": "sell",
        "order_qty": 1,
        "symbol": "BTC/USD",
        "token": TOKEN,
    }
    client.send({"method": "add_order", "params": {**params, "validate": True, "cl_ord_id": "c-1"}})
    assert client.recv()["result"] == {"order_id": "", "cl_ord_id": "c-1"}


def test_add_order_errors_are_kraken_strings(client: Client, exchange: FakeExchange) -> None:
    base = {"order_type": "limit", "side": "buy", "order_qty": 1, "limit_price": 1}
    client.send({"method": "add_order", "params": {**base, "symbol": "BTC/USD"}, "req_id": 1})
    assert client.recv()["error"] == "Token(s) not found"
    client.send({"method": "add_order", "params": {**base, "symbol": "DOGE/EUR", "token": TOKEN}})
    assert client.recv()["error"] == "Currency pair not supported DOGE/EUR"
    exchange.fail_with = SimError("EOrder:Insufficient funds")
    client.send(
        {
            "method": "add_order",
            "params": {**base, "symbol": "BTC/USD", "token": TOKEN},
            "req_id": 7,
        }
    )
    answer = client.recv()
    assert answer == {
        "error": "EOrder:Insufficient funds",
        "method": "add_order",
        "req_id": 7,
        "success": False,
        "time_in": answer["time_in"],
        "time_out": answer["time_out"],
    }


def test_cancel_order_answers_once_per_identifier(client: Client, exchange: FakeExchange) -> None:
    params = {"order_id": ["OM5CRX", "UNKNOWN"], "cl_ord_id": ["c-1"], "order_userref": [7]}
    client.send({"method": "cancel_order", "params": {**params, "token": TOKEN}, "req_id": 4})
    answers = [client.recv() for _ in range(4)]
    assert [a.get("result") for a in answers] == [
        {"order_id": "OM5CRX"},
        None,
        {"cl_ord_id": "c-1"},
        {"order_userref": 7},
    ]
    assert answers[1]["error"] == "EOrder:Unknown order" and answers[1]["success"] is False
    assert all(a["req_id"] == 4 and a["method"] == "cancel_order" for a in answers)
    assert exchange.calls == [
        ("cancel_order", ("OM5CRX", None, None, "ws")),
        ("cancel_order", ("UNKNOWN", None, None, "ws")),
        ("cancel_order", (None, None, "c-1", "ws")),
        ("cancel_order", (None, 7, None, "ws")),
    ]


def test_batch_add_answers_in_request_order(client: Client, exchange: FakeExchange) -> None:
    orders = [
        {
            "order_type": "limit",
            "side": "buy",
            "order_qty": 1,
            "limit_price": 10,
            "order_userref": 1,
        },
        {
            "order_type": "limit",
            "side": "sell",
            "order_qty": 2,
            "limit_price": 20,
            "cl_ord_id": "b",
        },
    ]
    params = {"symbol": "BTC/USD", "orders": orders, "token": TOKEN}
    client.send({"method": "batch_add", "params": params, "req_id": 1234567890})
    answer = client.recv()
    assert answer["success"] is True and answer["req_id"] == 1234567890
    assert answer["result"] == [
        {"order_id": "O1-ONE", "order_userref": 1},
        {"error": "EOrder:Insufficient funds", "cl_ord_id": "b"},
    ]
    name, (pair, rest_orders, validate, source) = exchange.calls[-1]
    assert (name, pair, validate, source) == ("add_order_batch", "XXBTZUSD", False, "ws")
    assert rest_orders[1] == {
        "ordertype": "limit",
        "type": "sell",
        "volume": 2,
        "price": 20,
        "cl_ord_id": "b",
    }


def test_amend_batch_cancel_cancel_all_and_dead_man_switch(
    client: Client, exchange: FakeExchange
) -> None:
    client.send(
        {
            "method": "amend_order",
            "params": {"order_id": "O-1", "limit_price": 61031.3, "token": TOKEN},
        }
    )
    assert client.recv()["result"] == {"amend_id": "TAMEND-1", "order_id": "O-1"}
    assert exchange.calls[-1] == ("amend_order", {"txid": "O-1", "limit_price": Decimal("61031.3")})

    client.send(
        {
            "method": "batch_cancel",
            "params": {"orders": ["1", "O-2"], "cl_ord_id": ["c"], "token": TOKEN},
        }
    )
    assert client.recv()["result"] == {"count": 3}
    assert exchange.calls[-1] == ("cancel_order_batch", (["1", "O-2"], ["c"]))

    client.send({"method": "cancel_all", "params": {"token": TOKEN}, "req_id": 1})
    assert client.recv()["result"] == {"count": 2}

    client.send({"method": "cancel_all_orders_after", "params": {"timeout": 60, "token": TOKEN}})
    answer = client.recv()
    assert answer["result"] == {
        "currentTime": "2023-11-14T22:13:20Z",
        "triggerTime": "2023-11-14T22:14:20Z",
    }
    assert exchange.calls[-1] == ("cancel_all_orders_after", 60)
