"""Test kit for the simulator's WebSocket v2 server: a scripted fake exchange and a JSON client.

The fake implements only the exchange-core contract methods the server calls and records what it
is asked, so a test can drive the exchange side (callbacks, errors, faults) by hand.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import websocket

from gal_exec.core.clock import ManualClock
from gal_exec.sim.errors import SimError

TOKEN = "good-token"
API_KEY = "key-1"


class FakeFaults:
    def __init__(self) -> None:
        self.delay_s = 0.0
        self.disconnect = False

    def ws_update_delay_s(self) -> float:
        return self.delay_s

    def ws_disconnect_due(self) -> bool:
        return self.disconnect


class FakeExchange:
    """The exchange-core contract methods the WS server uses, scripted and recorded."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.tier = "starter"
        self.faults = FakeFaults()
        self.calls: list[tuple[str, Any]] = []
        self.executions: dict[int, tuple[str, Callable[[list[dict]], None]]] = {}
        self.tickers: dict[int, Callable[[dict], None]] = {}
        self.unsubscribed = threading.Event()
        self.open_orders: list[dict] = []
        self.trades: list[dict] = []
        self.during_snapshot: Callable[[], None] | None = None
        self.fail_with: SimError | None = None
        self._handles = 0

    def _handle(self) -> int:
        self._handles += 1
        return self._handles

    def key_for_token(self, token: str) -> str | None:
        return API_KEY if token == TOKEN else None

    def has_permission(self, api_key: str, method: str) -> bool:
        return True

    def resolve_pair(self, name: str) -> str:
        pairs = {"BTC/USD": "XXBTZUSD", "XBT/USD": "XXBTZUSD", "ETH/USD": "XETHZUSD"}
        if name not in pairs:
            raise SimError("EQuery:Unknown asset pair")
        return pairs[name]

    def ws_symbol(self, pair_key: str) -> str:
        return {"XXBTZUSD": "BTC/USD", "XETHZUSD": "ETH/USD"}[pair_key]

    # executions
    def subscribe_executions(self, api_key: str, callback: Callable[[list[dict]], None]) -> int:
        handle = self._handle()
        self.executions[handle] = (api_key, callback)
        return handle

    def unsubscribe_executions(self, handle: int) -> None:
        self.executions.pop(handle, None)
        self.unsubscribed.set()

    def emit(self, reports: list[dict]) -> None:
        for _api_key, callback in list(self.executions.values()):
            callback(reports)

    def snapshot_orders(self, api_key: str) -> list[dict]:
        if self.during_snapshot is not None:
            self.during_snapshot()
        return list(self.open_orders)

    def snapshot_trades(self, api_key: str, limit: int = 50) -> list[dict]:
        return list(self.trades[-limit:])

    def rate_counter(self, api_key: str) -> dict:
        return {"BTC/USD": Decimal("3.5")}

    # ticker
    def subscribe_ticker(self, callback: Callable[[dict], None]) -> int:
        handle = self._handle()
        self.tickers[handle] = callback
        return handle

    def unsubscribe_ticker(self, handle: int) -> None:
        self.tickers.pop(handle, None)
        self.unsubscribed.set()

    def ticker_ws(self, symbol: str) -> dict:
        return {"symbol": symbol, "bid": Decimal("26500.0"), "ask": Decimal("26500.1")}

    # trading
    def _record(self, name: str, value: Any) -> None:
        self.calls.append((name, value))
        if self.fail_with is not None:
            raise self.fail_with

    def add_order(self, api_key: str, params: dict, *, source: str = "rest") -> dict:
        self._record("add_order", (api_key, params, source))
        if params.get("validate"):
            return {"descr": {"order": "buy"}}
        return {"descr": {"order": "buy"}, "txid": ["OAAAAA-BBBBB-CCCCCC"]}

    def add_order_batch(self, api_key, pair, orders, *, validate=False, source="rest") -> dict:
        self._record("add_order_batch", (pair, orders, validate, source))
        return {"orders": [{"txid": "O1-ONE"}, {"error": "EOrder:Insufficient funds"}]}

    def amend_order(self, api_key: str, params: dict, *, source: str = "rest") -> dict:
        self._record("amend_order", params)
        return {"amend_id": "TAMEND-1"}

    def cancel_order(self, api_key, *, txid=None, userref=None, cl_ord_id=None, source="rest"):
        self.calls.append(("cancel_order", (txid, userref, cl_ord_id, source)))
        if txid == "UNKNOWN":
            raise SimError("EOrder:Unknown order")
        return {"count": 1}

    def cancel_order_batch(self, api_key, ids, cl_ord_ids) -> dict:
        self._record("cancel_order_batch", (ids, cl_ord_ids))
        return {"count": len(ids) + len(cl_ord_ids)}

    def cancel_all(self, api_key: str) -> dict:
        self._record("cancel_all", api_key)
        return {"count": 2}

    def cancel_all_orders_after(self, api_key: str, timeout_s: int) -> dict:
        self._record("cancel_all_orders_after", timeout_s)
        return {"currentTime": "2023-11-14T22:13:20Z", "triggerTime": "2023-11-14T22:14:20Z"}


class Client:
    """A websocket-client connection that reads JSON with Decimal numbers, with timeouts."""

    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, timeout=5)
        self.raw: list[str] = []

    def send(self, message: dict | str) -> None:
        self.ws.send(message if isinstance(message, str) else json.dumps(message))

    def recv(self) -> dict:
        text = self.ws.recv()
        self.raw.append(text)
        return json.loads(text, parse_float=Decimal)

    def close(self) -> None:
        self.ws.close()


def connect(url: str) -> Client:
    """A client past the status message every connection starts with."""
    client = Client(url)
    status = client.recv()
    assert status["channel"] == "status", status
    return client


def subscribe_executions(client: Client, **params: Any) -> dict:
    """Send an executions subscribe (req_id 3) with the fake's good token; return the answer."""
    client.send(
        {
            "method": "subscribe",
            "params": {"channel": "executions", "token": TOKEN, **params},
            "req_id": 3,
        }
    )
    return client.recv()
