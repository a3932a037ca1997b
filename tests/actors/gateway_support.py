"""A scripted Kraken REST API on `responses`, and helpers that start a gateway with real workers.

The mock answers the private endpoints the gateway uses with shapes taken from the samples, records
every call (method and form fields), lets a test script the next replies of an endpoint, and can
enforce Kraken's per-pair trading counter so a test notices if the gateway ever exceeds it.
"""

from __future__ import annotations

import base64
import itertools
import random
import re
import threading
from collections import defaultdict, deque
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import msgspec
import requests
import responses

from gal_exec.actors.gateway import KrakenGateway
from gal_exec.actors.http_worker import HttpWorker
from gal_exec.actors.protocol import PlaceOrder
from gal_exec.config import Config
from gal_exec.kraken.auth import Credentials
from gal_exec.kraken.nonce import NonceSequencer
from gal_exec.kraken.orders import OrderRequest
from gal_exec.kraken.rest import KrakenRestClient

BASE_URL = "https://api.kraken.com"
SECRET = base64.b64encode(bytes(range(64))).decode()
_PRIVATE = re.compile(re.escape(BASE_URL) + r"/0/private/(\w+)")


def order_info(txid: str, cl_ord_id: str | None = None, status: str = "open") -> dict[str, Any]:
    """An order record shaped like QueryOrders/OpenOrders entries in the samples."""
    return {
        "refid": None,
        "userref": 0,
        "cl_ord_id": cl_ord_id,
        "status": status,
        "opentm": 1700000000.1,
        "starttm": 0,
        "expiretm": 0,
        "descr": {
            "pair": "XBTUSD",
            "type": "buy",
            "ordertype": "limit",
            "price": "30000.0",
            "price2": "0",
            "leverage": "none",
            "order": f"buy 0.01 XBTUSD @ limit 30000.0 ({txid})",
            "close": "",
        },
        "vol": "0.01000000",
        "vol_exec": "0.00000000",
        "cost": "0.00000",
        "fee": "0.00000",
        "price": "0.00000",
        "misc": "",
        "oflags": "fciq",
    }


class TradingModel:
    """Kraken's trading counter for adds on one account (per pair), driven by the test's clock."""

    def __init__(self, clock: Any, threshold: float = 60.0, decay: float = 1.0) -> None:
        self.clock = clock
        self.threshold = threshold
        self.decay = decay
        self.levels: dict[str, tuple[float, float]] = {}
        self.max_level = 0.0

    def charge(self, pair: str, cost: float) -> bool:
        """Apply ``cost``; False (rejected) when the counter would go over the threshold."""
        now = self.clock.monotonic()
        level, at = self.levels.get(pair, (0.0, now))
        level = max(0.0, level - (now - at) * self.decay)
        if level + cost > self.threshold + 1e-9:
            # Kraken applies the fixed count even to a rejected transaction.
            self.levels[pair] = (level + cost, now)
            return False
        level += cost
        self.levels[pair] = (level, now)
        self.max_level = max(self.max_level, level)
        return True


class MockKraken:
    """Default answers for each private endpoint, scripted overrides, and a call log."""

    def __init__(self, rsps: responses.RequestsMock, trading: TradingModel | None = None) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.trading = trading
        self._scripts: dict[str, deque[Any]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._txids = itertools.count(1)
        self.gates: dict[str, threading.Event] = {}
        """Calls to a method with a gate wait (in the worker) until the test sets it."""
        self.arrivals = threading.Semaphore(0)
        """Released once per call as it arrives, before any gate."""
        rsps.add_callback(responses.POST, _PRIVATE, callback=self._callback)

    def script(self, method: str, *replies: Any) -> None:
        """The next replies of ``method``: a dict (JSON body), an int (HTTP status), an exception."""
        with self._lock:
            self._scripts[method].extend(replies)

    def wait_for_calls(self, count: int, timeout: float = 5.0) -> None:
        """Block until ``count`` more calls have arrived."""
        for _ in range(count):
            assert self.arrivals.acquire(timeout=timeout), "an expected call never arrived"

    def calls_to(self, method: str) -> list[dict[str, str]]:
        with self._lock:
            return [params for name, params in self.calls if name == method]

    def methods(self) -> list[str]:
        with self._lock:
            return [name for name, _params in self.calls]

    def _callback(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        method = _PRIVATE.match(request.url or "").group(1)  # type: ignore[union-attr]
        body = request.body or ""
        params = dict(parse_qsl(body.decode() if isinstance(body, bytes) else body))
        with self._lock:
            self.calls.append((method, params))
            scripted = self._scripts[method].popleft() if self._scripts[method] else None
        self.arrivals.release()
        gate = self.gates.get(method)
        if gate is not None:
            assert gate.wait(10), f"test gate for {method} never opened"
        if isinstance(scripted, BaseException):
            raise scripted
        if isinstance(scripted, int):
            return scripted, {}, "<html>error</html>"
        if scripted is None:
            scripted = self._default(method, params)
        return 200, {"Content-Type": "application/json"}, msgspec.json.encode(scripted).decode()

    def _txid(self) -> str:
        return f"OTX{next(self._txids):03d}-AAAAA-BBBBBB"

    def _default(self, method: str, params: dict[str, str]) -> dict[str, Any]:
        if method == "AddOrder":
            if self.trading and not self.trading.charge(params["pair"], 1):
                return {"error": ["EOrder:Rate limit exceeded"]}
            return {"error": [], "result": {"descr": {"order": "x"}, "txid": [self._txid()]}}
        if method == "AddOrderBatch":
            count = len({key.split("]")[0] for key in params if key.startswith("orders[")})
            if self.trading and not self.trading.charge(params["pair"], count / 2):
                return {"error": ["EOrder:Rate limit exceeded"]}
            orders = [{"txid": self._txid(), "descr": {"order": "x"}} for _ in range(count)]
            return {"error": [], "result": {"orders": orders}}
        if method == "CancelOrder":
            return {"error": [], "result": {"count": 1}}
        if method == "AmendOrder":
            return {"error": [], "result": {"amend_id": "TEZA4R-DSDGT-IJBOJK"}}
        if method == "CancelAllOrdersAfter":
            return {
                "error": [],
                "result": {
                    "currentTime": "2023-11-14T22:13:20Z",
                    "triggerTime": "2023-11-14T22:14:20Z",
                },
            }
        if method == "QueryOrders":
            txids = params["txid"].split(",")
            return {"error": [], "result": {txid: order_info(txid) for txid in txids}}
        if method == "BalanceEx":
            entry = {"balance": "171288.6158", "hold_trade": "1000.0000"}
            return {"error": [], "result": {"ZUSD": entry, "XXBT": {"balance": "1.0000000000"}}}
        if method in ("OpenOrders", "ClosedOrders"):
            key = "open" if method == "OpenOrders" else "closed"
            return {"error": [], "result": {key: {}, **({"count": 0} if key == "closed" else {})}}
        raise AssertionError(f"unexpected call to {method}")


def make_config(
    *,
    coalesce: bool = True,
    nonce_window: int = 0,
    http_workers: int = 2,
    failure_threshold: int = 10,
    open_s: float = 15.0,
    max_attempts: int = 5,
) -> Config:
    config = Config()
    return msgspec.structs.replace(
        config,
        exchange=msgspec.structs.replace(
            config.exchange, nonce_window=nonce_window, http_workers=http_workers
        ),
        engine=msgspec.structs.replace(config.engine, coalesce_batches=coalesce),
        circuit_breaker=msgspec.structs.replace(
            config.circuit_breaker, failure_threshold=failure_threshold, open_s=open_s
        ),
        retry=msgspec.structs.replace(config.retry, max_attempts=max_attempts),
    )


def start_gateway(
    config: Config,
    clock: Any,
    timers: Any,
    *,
    classifier: Any = None,
    workers: int = 2,
    tier: str = "starter",
) -> Any:
    """A KrakenGateway with ``workers`` real HttpWorkers, each with its own KrakenRestClient."""
    sequencer = NonceSequencer(clock)
    credentials = Credentials("test-key", SECRET)

    def client() -> KrakenRestClient:
        return KrakenRestClient(
            BASE_URL,
            credentials,
            nonce=sequencer,
            clock=clock,
            nonce_window=config.exchange.nonce_window,
        )

    refs = [HttpWorker.start(client(), clock=clock) for _ in range(workers)]
    return KrakenGateway.start(
        config,
        clock=clock,
        timers=timers,
        workers=refs,
        classifier=classifier,
        tier=tier,
        rng=random.Random(7),
    )


_request_ids = itertools.count(1)


def place(
    reply_to: Any, cl_ord_id: str, *, pair: str = "XBTUSD", volume: str = "0.01", **extra: Any
) -> PlaceOrder:
    order = OrderRequest(
        pair=pair,
        type="buy",
        ordertype="limit",
        volume=Decimal(volume),
        price=Decimal("30000"),
        cl_ord_id=cl_ord_id,
        **extra,
    )
    return PlaceOrder(
        request_id=next(_request_ids),
        cl_ord_id=cl_ord_id,
        pair=pair,
        order=order,
        reply_to=reply_to,
    )


def health(gateway: Any) -> Any:
    """The gateway's health snapshot; being an ask, it also waits for earlier messages."""
    return gateway.proxy().health().get(timeout=5)
