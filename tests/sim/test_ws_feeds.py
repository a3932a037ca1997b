"""The simulator's WS v2 channels over a fake exchange: ticker and executions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from ws_testkit import TOKEN, Client, FakeExchange, connect, subscribe_executions

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


@pytest.fixture
def public_server(exchange: FakeExchange) -> Iterator[SimWsServer]:
    with SimWsServer(exchange, public=True, heartbeat_interval_s=60) as server:
        yield server


# -- ticker ----------------------------------------------------------------------------------


def test_ticker_acks_each_symbol_then_snapshot_then_updates(
    public_server: SimWsServer, exchange: FakeExchange
) -> None:
    client = Client(public_server.url)
    client.recv()
    request = {"channel": "ticker", "symbol": ["BTC/USD", "XBT/USD"], "event_trigger": "bbo"}
    client.send({"method": "subscribe", "params": request, "req_id": 5})
    ack = client.recv()
    assert ack["result"] == {"channel": "ticker", "snapshot": True, "symbol": "BTC/USD"}
    assert ack["success"] is True and ack["req_id"] == 5
    snapshot = client.recv()
    assert snapshot["channel"] == "ticker" and snapshot["type"] == "snapshot"
    assert snapshot["data"][0]["bid"] == Decimal("26500.0")
    assert '"bid":26500.0' in client.raw[-1]  # a JSON number with its digits, not a string
    error = client.recv()
    assert error["success"] is False and error["symbol"] == "XBT/USD"
    assert error["error"] == "Currency pair not supported XBT/USD"

    (callback,) = exchange.tickers.values()
    callback({"symbol": "ETH/USD", "last": Decimal("1")})  # not subscribed: filtered
    callback({"symbol": "BTC/USD", "last": Decimal("26501.5")})
    update = client.recv()
    assert update == {"channel": "ticker", "type": "update", "data": [update["data"][0]]}
    assert update["data"][0]["last"] == Decimal("26501.5")

    client.send({"method": "unsubscribe", "params": {"channel": "ticker", "symbol": ["BTC/USD"]}})
    assert client.recv()["result"] == {"channel": "ticker", "symbol": "BTC/USD"}
    assert exchange.unsubscribed.wait(5) and not exchange.tickers
    client.close()


def test_public_endpoint_refuses_private_channels_and_methods(
    public_server: SimWsServer,
) -> None:
    client = Client(public_server.url)
    client.recv()
    client.send({"method": "subscribe", "params": {"channel": "executions", "token": TOKEN}})
    assert client.recv()["error"] == "EGeneral:Permission denied"
    client.send({"method": "cancel_all", "params": {"token": TOKEN}})
    assert client.recv()["error"] == "EGeneral:Permission denied"
    client.close()


# -- executions ------------------------------------------------------------------------------


def test_executions_token_errors(client: Client) -> None:
    client.send({"method": "subscribe", "params": {"channel": "executions", "token": "stale"}})
    answer = client.recv()
    assert (answer["success"], answer["error"]) == (False, "EAPI:Invalid token")
    client.send({"method": "subscribe", "params": {"channel": "executions"}})
    assert client.recv()["error"] == "Token(s) not found"


def test_executions_ack_snapshot_and_numbered_updates(
    client: Client, exchange: FakeExchange
) -> None:
    exchange.open_orders = [
        {"order_id": "O-OPEN", "symbol": "BTC/USD", "order_qty": Decimal("0.00010000")}
    ]
    exchange.trades = [{"order_id": "O-OLD", "exec_type": "trade", "last_qty": Decimal("1")}]
    ack = subscribe_executions(client, snap_trades=True)
    assert ack["method"] == "subscribe" and ack["success"] is True and ack["req_id"] == 3
    assert ack["result"] == {
        "channel": "executions",
        "maxratecount": 60,
        "snap_orders": True,
        "snap_trades": True,
    }
    snapshot = client.recv()
    assert snapshot["type"] == "snapshot" and snapshot["sequence"] == 1
    assert [row["order_id"] for row in snapshot["data"]] == ["O-OPEN", "O-OLD"]
    assert '"order_qty":0.00010000' in client.raw[-1]

    exchange.emit([{"order_id": "O-1", "exec_type": "pending_new", "order_status": "pending_new"}])
    exchange.emit([{"order_id": "O-1", "exec_type": "new", "order_status": "new"}])
    first, second = client.recv(), client.recv()
    assert (first["type"], first["sequence"], first["data"][0]["exec_type"]) == (
        "update",
        2,
        "pending_new",
    )
    assert (second["sequence"], second["data"][0]["exec_type"]) == (3, "new")


def test_default_snapshot_has_orders_but_no_trades(client: Client, exchange: FakeExchange) -> None:
    exchange.open_orders = [{"order_id": "O-OPEN"}]
    exchange.trades = [{"order_id": "O-OLD", "exec_type": "trade"}]
    assert subscribe_executions(client)["result"]["snap_trades"] is False
    assert [row["order_id"] for row in client.recv()["data"]] == ["O-OPEN"]


def test_updates_during_the_snapshot_follow_it_in_order(
    client: Client, exchange: FakeExchange
) -> None:
    exchange.during_snapshot = lambda: exchange.emit([{"order_id": "O-RACE", "exec_type": "new"}])
    subscribe_executions(client)
    snapshot = client.recv()
    update = client.recv()
    assert (snapshot["type"], snapshot["sequence"]) == ("snapshot", 1)
    assert (update["sequence"], update["data"][0]["order_id"]) == (2, "O-RACE")


def test_order_status_false_streams_only_open_close_transitions_and_fills(
    client: Client, exchange: FakeExchange
) -> None:
    subscribe_executions(client, order_status=False)
    client.recv()
    exchange.emit([{"order_id": "O-1", "exec_type": "pending_new"}])
    exchange.emit([{"order_id": "O-1", "exec_type": "amended"}])
    exchange.emit([{"order_id": "O-1", "exec_type": "new"}, {"order_id": "O-1", "exec_type": "x"}])
    exchange.emit([{"order_id": "O-1", "exec_type": "trade"}])
    first, second = client.recv(), client.recv()
    assert (first["sequence"], [r["exec_type"] for r in first["data"]]) == (2, ["new"])
    assert (second["sequence"], second["data"][0]["exec_type"]) == (3, "trade")


def test_ratecounter_adds_the_pairs_counter_to_each_report(
    client: Client, exchange: FakeExchange
) -> None:
    subscribe_executions(client, ratecounter=True)
    client.recv()
    exchange.emit([{"order_id": "O-1", "exec_type": "pending_new", "symbol": "BTC/USD"}])
    exchange.emit([{"order_id": "O-1", "exec_type": "new"}])
    assert client.recv()["data"][0]["ratecount"] == Decimal("3.5")
    assert client.recv()["data"][0]["ratecount"] == Decimal("3.5")  # sparse: symbol remembered


def test_unsubscribe_executions_stops_updates(client: Client, exchange: FakeExchange) -> None:
    subscribe_executions(client)
    client.recv()
    client.send({"method": "unsubscribe", "params": {"channel": "executions", "token": TOKEN}})
    answer = client.recv()
    assert answer["method"] == "unsubscribe" and answer["result"] == {"channel": "executions"}
    assert not exchange.executions
    client.send({"method": "unsubscribe", "params": {"channel": "executions", "token": TOKEN}})
    assert client.recv()["error"] == "Subscription Not Found"
