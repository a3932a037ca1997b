"""Conformance of the simulator's WebSocket v2 endpoints with the real exchange core.

A websocket-client script gets a token over signed REST (GetWebSocketsToken), subscribes to
``executions`` and follows orders placed and cancelled over REST and over WS. The clock is
manual and prices move through the control API, so every outcome is deterministic.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import websocket

from gal_exec.config import SimConfig
from gal_exec.sim.server import Simulator

pytestmark = pytest.mark.timeout(30)


class Rest:
    """Signed Kraken REST calls and control-API calls against one simulator."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.session = requests.Session()
        self.session.trust_env = False
        self._nonces = itertools.count(int(time.time() * 1000))

    def private(self, method: str, **params: Any) -> dict:
        nonce = next(self._nonces)
        body = urlencode({"nonce": nonce, **params}).encode()
        path = f"/0/private/{method}"
        digest = hashlib.sha256(str(nonce).encode() + body).digest()
        mac = hmac.new(
            base64.b64decode(self.sim.api_secret), path.encode() + digest, hashlib.sha512
        )
        response = self.session.post(
            self.sim.rest_url + path,
            data=body,
            headers={
                "API-Key": self.sim.api_key,
                "API-Sign": base64.b64encode(mac.digest()).decode(),
                "Content-Type": "application/x-www-form-urlencoded",
            },
            timeout=5,
        )
        payload = response.json(parse_float=Decimal)
        assert payload["error"] == [], payload
        return payload["result"]

    def control(self, route: str, **body: Any) -> Any:
        response = self.session.post(f"{self.sim.control_url}/{route}", json=body, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()


class Ws:
    """A websocket-client connection reading JSON (numbers as Decimal), heartbeats skipped.

    Messages that one ``expect`` passes over are kept, in order, for the next: a method's
    response and the executions updates it causes may arrive in either order.
    """

    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, timeout=5)
        self.raw: list[str] = []
        self.backlog: list[dict] = []

    def send(self, message: dict) -> None:
        self.ws.send(json.dumps(message))

    def _read(self) -> dict:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            text = self.ws.recv()
            self.raw.append(text)
            message = json.loads(text, parse_float=Decimal)
            if message.get("channel") != "heartbeat":
                return message
        raise AssertionError(f"only heartbeats for 5 s; last messages: {self.raw[-5:]}")

    def recv(self) -> dict:
        return self.backlog.pop(0) if self.backlog else self._read()

    def expect(self, predicate: Callable[[dict], bool], limit: int = 20) -> dict:
        for index, message in enumerate(self.backlog):
            if predicate(message):
                return self.backlog.pop(index)
        for _ in range(limit):
            message = self._read()
            if predicate(message):
                return message
            self.backlog.append(message)
        raise AssertionError(f"the expected message did not arrive; got {self.backlog}")

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(clock="manual")) as simulator:
        yield simulator


@pytest.fixture
def rest(sim: Simulator) -> Iterator[Rest]:
    client = Rest(sim)
    yield client
    client.session.close()


@pytest.fixture
def executions(sim: Simulator, rest: Rest) -> Iterator[Ws]:
    """An authenticated connection subscribed to executions, past its ack and snapshot."""
    assert sim.ws_auth_url is not None
    token = rest.private("GetWebSocketsToken")["token"]
    client = Ws(sim.ws_auth_url)
    assert client.recv()["channel"] == "status"
    client.send(
        {"method": "subscribe", "params": {"channel": "executions", "token": token}, "req_id": 1}
    )
    ack = client.recv()
    assert ack["success"] is True, ack
    assert ack["result"] == {
        "channel": "executions",
        "maxratecount": 60,
        "snap_orders": True,
        "snap_trades": False,
    }
    snapshot = client.recv()
    assert (snapshot["type"], snapshot["sequence"], snapshot["data"]) == ("snapshot", 1, [])
    client.token = token  # type: ignore[attr-defined]
    yield client
    client.close()


def updates_for(client: Ws, order_id: str, count: int) -> list[dict]:
    """The next ``count`` execution reports about ``order_id``, checking sequence continuity."""
    reports: list[dict] = []
    last_sequence = None
    while len(reports) < count:
        message = client.expect(lambda m: m.get("channel") == "executions")
        assert message["type"] == "update"
        if last_sequence is not None:
            assert message["sequence"] == last_sequence + 1
        last_sequence = message["sequence"]
        reports.extend(row for row in message["data"] if row.get("order_id") == order_id)
    return reports


def test_rest_orders_stream_pending_new_new_canceled_then_trade_filled(
    executions: Ws, rest: Rest
) -> None:
    """The issue's conformance test: lifecycle of REST orders as seen on WS executions."""
    txid = rest.private(
        "AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.001", price="60000"
    )["txid"][0]
    pending_new, new = updates_for(executions, txid, 2)
    assert pending_new["exec_type"] == pending_new["order_status"] == "pending_new"
    assert pending_new["symbol"] == "BTC/USD" and pending_new["side"] == "buy"
    assert pending_new["order_qty"] == Decimal("0.001")
    assert pending_new["limit_price"] == Decimal("60000")
    assert new["exec_type"] == new["order_status"] == "new"

    assert rest.private("CancelOrder", txid=txid)["count"] == 1
    (canceled,) = updates_for(executions, txid, 1)
    assert canceled["exec_type"] == canceled["order_status"] == "canceled"
    assert canceled["reason"] == "User requested"

    txid = rest.private(
        "AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.001", price="64000"
    )["txid"][0]
    assert [r["exec_type"] for r in updates_for(executions, txid, 2)] == ["pending_new", "new"]
    rest.control("price", pair="XBTUSD", price="63000")
    trade, filled = updates_for(executions, txid, 2)
    assert trade["exec_type"] == "trade"
    assert trade["last_qty"] == Decimal("0.001") and trade["last_price"] == Decimal("64000")
    assert trade["cum_qty"] == Decimal("0.001")
    assert filled["exec_type"] == filled["order_status"] == "filled"
    # Numbers are JSON numbers with exact digits, never strings.
    assert any('"last_qty":0.001' in text for text in executions.raw)


def test_ws_trading_methods_round_trip_through_the_exchange(executions: Ws, rest: Rest) -> None:
    token = executions.token  # type: ignore[attr-defined]
    executions.send(
        {
            "method": "add_order",
            "params": {
                "order_type": "limit",
                "side": "sell",
                "order_qty": 0.002,
                "limit_price": 70000.5,
                "post_only": True,
                "cl_ord_id": "ws-sell-1",
                "symbol": "BTC/USD",
                "token": token,
            },
            "req_id": 11,
        }
    )
    added = executions.expect(lambda m: m.get("method") == "add_order")
    assert added["success"] is True and added["req_id"] == 11, added
    order_id = added["result"]["order_id"]
    assert added["result"]["cl_ord_id"] == "ws-sell-1"
    pending_new, new = updates_for(executions, order_id, 2)
    assert pending_new["post_only"] is True and pending_new["limit_price"] == Decimal("70000.5")
    assert new["exec_type"] == "new"

    executions.send(
        {
            "method": "amend_order",
            "params": {"cl_ord_id": "ws-sell-1", "limit_price": 71000, "token": token},
        }
    )
    amended = executions.expect(lambda m: m.get("method") == "amend_order")
    assert amended["success"] is True, amended
    assert amended["result"]["cl_ord_id"] == "ws-sell-1" and amended["result"]["amend_id"]
    (amend_update,) = updates_for(executions, order_id, 1)
    assert amend_update["exec_type"] == "amended"
    assert amend_update["limit_price"] == Decimal("71000")

    executions.send(
        {"method": "cancel_order", "params": {"cl_ord_id": ["ws-sell-1"], "token": token}}
    )
    cancel = executions.expect(lambda m: m.get("method") == "cancel_order")
    assert cancel["success"] is True and cancel["result"] == {"cl_ord_id": "ws-sell-1"}
    (canceled,) = updates_for(executions, order_id, 1)
    assert canceled["exec_type"] == "canceled"

    executions.send(
        {"method": "cancel_order", "params": {"order_id": [order_id], "token": token}, "req_id": 2}
    )
    again = executions.expect(lambda m: m.get("method") == "cancel_order")
    assert again["success"] is False and again["error"].startswith("EOrder:")


def test_ws_amend_order_follows_amendorders_rules(executions: Ws, rest: Rest) -> None:
    token = executions.token  # type: ignore[attr-defined]
    txid = rest.private(
        "AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.002", price="60000"
    )["txid"][0]
    updates_for(executions, txid, 2)  # pending_new, new
    for params, error in (
        ({"order_qty": 0.00001}, "EOrder:Order minimum not met"),
        ({"display_qty": 0.001}, "EGeneral:Invalid arguments:display_qty"),  # not an iceberg
    ):
        executions.send(
            {"method": "amend_order", "params": {"order_id": txid, **params, "token": token}}
        )
        answer = executions.expect(lambda m: m.get("method") == "amend_order")
        assert (answer["success"], answer["error"]) == (False, error), answer
    executions.send(
        {"method": "amend_order", "params": {"order_id": txid, "order_qty": 0.003, "token": token}}
    )
    answer = executions.expect(lambda m: m.get("method") == "amend_order")
    assert answer["success"] is True and answer["result"]["order_id"] == txid
    (amended,) = updates_for(executions, txid, 1)
    assert amended["exec_type"] == "amended" and amended["order_qty"] == Decimal("0.003")


def test_ws_triggered_and_conditional_orders_are_understood_by_the_exchange(
    executions: Ws, rest: Rest
) -> None:
    token = executions.token  # type: ignore[attr-defined]
    executions.send(
        {
            "method": "add_order",
            "params": {
                "order_type": "stop-loss-limit",
                "side": "sell",
                "order_qty": 0.001,
                "triggers": {"price": -2.0, "price_type": "pct", "reference": "last"},
                "limit_price": 60000,
                "symbol": "BTC/USD",
                "token": token,
            },
        }
    )
    stop = executions.expect(lambda m: m.get("method") == "add_order")
    assert stop["success"] is True, stop
    executions.send(
        {
            "method": "add_order",
            "params": {
                "order_type": "limit",
                "side": "buy",
                "order_qty": 0.001,
                "limit_price": 60000,
                "conditional": {"order_type": "take-profit", "trigger_price": 66000},
                "order_userref": 42,
                "symbol": "BTC/USD",
                "token": token,
            },
        }
    )
    parent = executions.expect(lambda m: m.get("method") == "add_order")
    assert parent["success"] is True, parent
    assert parent["result"]["order_userref"] == 42
    orders = {o["txid"]: o for o in requests.get(rest.sim.control_url + "/orders").json()["orders"]}
    assert {stop["result"]["order_id"], parent["result"]["order_id"]} <= set(orders)

    executions.send({"method": "cancel_all", "params": {"token": token}, "req_id": 5})
    cancel_all = executions.expect(lambda m: m.get("method") == "cancel_all")
    assert cancel_all["result"] == {"count": 2}


def test_ws_errors_come_from_the_exchange(executions: Ws) -> None:
    token = executions.token  # type: ignore[attr-defined]
    executions.send(
        {
            "method": "add_order",
            "params": {
                "order_type": "limit",
                "side": "buy",
                "order_qty": 1000,
                "limit_price": 60000,
                "symbol": "BTC/USD",
                "token": token,
            },
            "req_id": 3,
        }
    )
    answer = executions.expect(lambda m: m.get("method") == "add_order")
    assert answer["success"] is False and answer["error"] == "EOrder:Insufficient funds"
    executions.send(
        {"method": "cancel_all_orders_after", "params": {"timeout": 60, "token": token}}
    )
    armed = executions.expect(lambda m: m.get("method") == "cancel_all_orders_after")
    assert set(armed["result"]) == {"currentTime", "triggerTime"}


def test_status_message_names_the_engine_status(sim: Simulator, rest: Rest) -> None:
    assert sim.ws_url is not None
    rest.control("status", status="cancel_only")
    client = Ws(sim.ws_url)
    status = client.recv()
    client.close()
    assert status["channel"] == "status" and status["data"][0]["system"] == "cancel_only"


def test_public_ticker_follows_price_moves(sim: Simulator, rest: Rest) -> None:
    assert sim.ws_url is not None
    client = Ws(sim.ws_url)
    client.recv()
    client.send({"method": "subscribe", "params": {"channel": "ticker", "symbol": ["BTC/USD"]}})
    assert client.recv()["result"] == {"channel": "ticker", "snapshot": True, "symbol": "BTC/USD"}
    snapshot = client.recv()
    assert snapshot["type"] == "snapshot" and snapshot["data"][0]["symbol"] == "BTC/USD"
    rest.control("price", pair="XBTUSD", price="66000")
    update = client.expect(lambda m: m.get("type") == "update")
    assert update["channel"] == "ticker" and update["data"][0]["symbol"] == "BTC/USD"
    data = update["data"][0]
    assert data["bid"] < Decimal("66000") < data["ask"]  # quoted around the new mid
    client.close()


def test_fault_plan_delays_updates_until_the_clock_moves(
    sim: Simulator, executions: Ws, rest: Rest
) -> None:
    response = rest.session.put(
        sim.control_url + "/faults",
        json={"rules": [{"kind": "ws_delay", "delay_s": 5, "next": 1}]},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    txid = rest.private(
        "AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.001", price="60000"
    )["txid"][0]
    # The REST answer came first; the delayed pending_new holds the new behind it.
    executions.send({"method": "ping", "req_id": 77})
    assert executions.recv()["method"] == "pong"
    rest.control("advance", seconds=5)
    assert [r["exec_type"] for r in updates_for(executions, txid, 2)] == ["pending_new", "new"]


def test_control_api_and_fault_plan_drop_connections(
    sim: Simulator, executions: Ws, rest: Rest
) -> None:
    assert rest.control("ws/disconnect") is not None
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        executions.ws.recv()

    assert sim.ws_auth_url is not None
    client = Ws(sim.ws_auth_url)
    assert client.recv()["channel"] == "status"
    response = rest.session.put(
        sim.control_url + "/faults",
        json={"rules": [{"kind": "ws_disconnect", "next": 1}]},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    client.send({"method": "ping"})
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        client.ws.recv()
