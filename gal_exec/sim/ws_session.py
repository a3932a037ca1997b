"""One simulator WebSocket v2 connection: request dispatch, subscriptions, heartbeat and faults.

The websockets handler thread reads and dispatches requests; a sender thread per connection is
the only writer, draining an :class:`Outbox` so exchange callbacks never block. The exchange's
fault plan may delay executions updates or cut the connection (no close frame) before any
outgoing message.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

from websockets.exceptions import ConnectionClosed

from gal_exec.sim.permissions import PERMISSION_DENIED
from gal_exec.sim.ws_feeds import ExecutionsFeed, TickerFeed
from gal_exec.sim.ws_outbox import CLOSED, Outbox
from gal_exec.sim.ws_trading import TRADING_METHODS, kraken_error, resolve_symbol
from gal_exec.sim.ws_translate import boolean, check_fields
from gal_exec.sim.ws_wire import (
    RequestError,
    decode,
    encode,
    error_response,
    rfc3339,
    success_response,
)

__all__ = ["WsSession"]

log = logging.getLogger(__name__)

#: The trading counter's threshold per tier, announced as ``maxratecount`` (FACTS §3.2).
MAX_RATE_COUNT = {"starter": 60, "intermediate": 125, "pro": 180}

_HEARTBEAT = encode({"channel": "heartbeat"})
_EXECUTIONS_FIELDS = frozenset(
    {
        "channel",
        "token",
        "snap_trades",
        "snap_orders",
        "order_status",
        "ratecounter",
        "rebased",
        "users",
        "snapshot_trades",
        "snapshot",
    }
)
_TICKER_FIELDS = frozenset({"channel", "symbol", "event_trigger", "snapshot"})
_connection_ids = random.Random()


class WsSession:
    """State and threads of one connection; :meth:`run` blocks in the handler thread."""

    def __init__(
        self, connection: Any, exchange: Any, *, public: bool, heartbeat_interval_s: float
    ) -> None:
        self.connection = connection
        self.exchange = exchange
        self.public = public
        self._heartbeat_interval_s = heartbeat_interval_s
        self._heartbeat_on = False
        self._outbox = Outbox(exchange.clock)
        self._executions: ExecutionsFeed | None = None
        self._ticker = TickerFeed(exchange, self._outbox.put_update)
        self._aborted = threading.Event()
        self._sender = threading.Thread(target=self._send_loop, name="sim-ws-sender", daemon=True)
        # Kraken's connection_id does not fit in int64: keep the top bit set.
        self.connection_id = _connection_ids.getrandbits(63) | (1 << 63)

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self) -> None:
        """Greet with a status message, serve requests until the connection ends, clean up."""
        self._sender.start()
        status = {
            "api_version": "v2",
            "connection_id": self.connection_id,
            "system": self._system_status(),
            "version": "2.0.0",
        }
        self._outbox.put_reply(encode({"channel": "status", "data": [status], "type": "update"}))
        try:
            for raw in self.connection:
                self._handle(raw)
        except ConnectionClosed:
            pass
        finally:
            self.close()

    def _system_status(self) -> str:
        """The engine status Kraken names in ``system``: online, maintenance, cancel_only, ..."""
        query = getattr(self.exchange, "system_status", None)
        return "online" if query is None else str(query().get("status", "online"))

    def abort(self) -> None:
        """Drop the connection at once, without a close frame, as a network fault would."""
        if self._aborted.is_set():
            return
        self._aborted.set()
        self._outbox.close()
        try:
            self.connection.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close_socket()

    def close(self) -> None:
        """Unsubscribe from the exchange and stop the sender; safe to call twice."""
        for feed in (self._executions, self._ticker):
            if feed is None:
                continue
            try:
                feed.close()
            except Exception:
                log.exception("sim ws: unsubscribing from the exchange failed")
        self._executions = None
        self._outbox.close()
        if threading.current_thread() is not self._sender and self._sender.is_alive():
            self._sender.join(timeout=5)

    # -- sending -----------------------------------------------------------------------------

    def _publish_execution(self, payload: bytes) -> None:
        self._outbox.put_update(payload, self._fault("ws_update_delay_s", 0.0))

    def _reply(self, message: Mapping[str, Any]) -> None:
        self._outbox.put_reply(encode(message))

    def _fault(self, name: str, default: Any) -> Any:
        """Ask the exchange's fault plan, if it has one and knows ``name``."""
        query = getattr(getattr(self.exchange, "faults", None), name, None)
        return default if query is None else query()

    def _send_loop(self) -> None:
        last_sent = time.monotonic()
        while True:
            idle_deadline = last_sent + self._heartbeat_interval_s if self._heartbeat_on else None
            item = self._outbox.take(idle_deadline)
            if item is CLOSED:
                return
            payload = _HEARTBEAT if item is None else item
            if self._fault("ws_disconnect_due", False):
                log.info("sim ws: fault plan drops connection %s", self.connection_id)
                self.abort()
                return
            try:
                self.connection.send(payload, text=True)
            except (ConnectionClosed, OSError, RuntimeError):
                self.abort()
                return
            last_sent = time.monotonic()

    # -- requests ----------------------------------------------------------------------------

    def _stamp(self) -> str:
        return rfc3339(self.exchange.clock.time())

    def _handle(self, raw: str | bytes) -> None:
        time_in = self._stamp()
        try:
            request = decode(raw)
        except ValueError:
            request = None
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            self._reply(error_response(None, None, "Malformed request", time_in, self._stamp()))
            return
        method, req_id = request["method"], request.get("req_id")
        try:
            self._dispatch(method, request, req_id, time_in)
        except RequestError as error:
            self._reply(error_response(method, req_id, error.message, time_in, self._stamp()))
        except Exception as error:
            text = kraken_error(error)
            if text is None:
                log.exception("sim ws: %s failed", method)
                text = "EGeneral:Internal error"
            self._reply(error_response(method, req_id, text, time_in, self._stamp()))

    def _dispatch(self, method: str, request: dict[str, Any], req_id: Any, time_in: str) -> None:
        if method == "ping":
            if "params" in request:
                raise RequestError("Unsupported field: 'params' for the given msg type: ping")
            pong: dict[str, Any] = {"method": "pong"}
            if req_id is not None:
                pong["req_id"] = req_id
            pong.update(time_in=time_in, time_out=self._stamp())
            self._reply(pong)
            return
        params = request.get("params", {})
        if not isinstance(params, dict):
            raise RequestError("Params field must be an object")
        if method in ("subscribe", "unsubscribe"):
            channel = params.get("channel")
            if channel == "ticker":
                self._ticker_request(method, params, req_id, time_in)
            elif channel == "executions" and not self.public:
                self._executions_request(method, params, req_id, time_in)
            elif channel == "executions":
                raise RequestError("EGeneral:Permission denied")
            else:
                raise RequestError("Unsupported event")
            return
        trading_method = TRADING_METHODS.get(method)
        if trading_method is None:
            raise RequestError("Unsupported event")
        if self.public:
            raise RequestError("EGeneral:Permission denied")
        api_key = self._api_key(params)
        if not self.exchange.has_permission(api_key, method):
            raise RequestError(PERMISSION_DENIED)
        if self._request_fault(method, req_id, "before", time_in):
            return
        outcomes = trading_method(self.exchange, api_key, params)
        if self._request_fault(method, req_id, "after", time_in):
            return
        for outcome in outcomes:
            if isinstance(outcome, RequestError):
                self._reply(error_response(method, req_id, outcome.message, time_in, self._stamp()))
            else:
                self._reply(success_response(method, req_id, outcome, time_in, self._stamp()))

    def _request_fault(self, method: str, req_id: Any, when: str, time_in: str) -> bool:
        """Apply the fault plan's fault for this request, if one fires; True: do not answer."""
        query = getattr(getattr(self.exchange, "faults", None), "ws_request", None)
        fault = None if query is None else query(method, when)
        if fault is None:
            return False
        log.info("sim ws: fault plan: %s %s (%s)", fault.kind, method, when)
        if fault.kind == "ws_drop":
            self.abort()
        elif fault.kind == "ws_error_no_req_id":
            self._reply(error_response(method, None, fault.message, time_in, self._stamp()))
        elif fault.kind == "ws_error":
            self._reply(error_response(method, req_id, fault.message, time_in, self._stamp()))
        return True

    def _api_key(self, params: Mapping[str, Any]) -> str:
        token = params.get("token")
        if token is None:
            raise RequestError("Token(s) not found")
        if not isinstance(token, str):
            raise RequestError("Token field must be a string")
        api_key = self.exchange.key_for_token(token)
        if api_key is None:
            raise RequestError("EAPI:Invalid token")
        return api_key

    def _executions_request(
        self, method: str, params: dict[str, Any], req_id: Any, time_in: str
    ) -> None:
        check_fields(params, _EXECUTIONS_FIELDS, method)
        api_key = self._api_key(params)
        if method == "unsubscribe":
            if self._executions is None:
                raise RequestError("Subscription Not Found")
            self._executions.close()
            self._executions = None
            result: dict[str, Any] = {"channel": "executions"}
            self._reply(success_response(method, req_id, result, time_in, self._stamp()))
            return
        if self._executions is not None:
            raise RequestError("Already subscribed")
        snap_orders = boolean(params, "snap_orders", True)
        snap_trades = boolean(params, "snap_trades", False)
        if boolean(params, "snapshot_trades", False):  # deprecated: a trades-only snapshot
            snap_orders, snap_trades = False, True
        want_snapshot = boolean(params, "snapshot", True)
        feed = ExecutionsFeed(
            self.exchange,
            api_key,
            self._publish_execution,
            order_status=boolean(params, "order_status", True),
            ratecounter=boolean(params, "ratecounter", False),
        )
        feed.open()
        self._executions = feed
        self._heartbeat_on = True
        result = {
            "channel": "executions",
            "maxratecount": MAX_RATE_COUNT.get(str(self.exchange.tier).lower(), 60),
            "snap_orders": snap_orders,
            "snap_trades": snap_trades,
        }
        self._reply(success_response(method, req_id, result, time_in, self._stamp()))
        try:
            rows = None
            if want_snapshot:
                rows = feed.snapshot(orders=snap_orders, trades=snap_trades)
            feed.start(rows, self._outbox.put_reply)
        except Exception:
            # A feed without its snapshot would hold updates forever; drop it.
            self._executions = None
            feed.close()
            raise

    def _ticker_request(
        self, method: str, params: dict[str, Any], req_id: Any, time_in: str
    ) -> None:
        check_fields(params, _TICKER_FIELDS, method)
        symbols = params.get("symbol")
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise RequestError("Symbol field must be an array of strings")
        snapshot = boolean(params, "snapshot", True)
        for symbol in symbols:
            try:
                if method == "subscribe":
                    self._ticker_subscribe(symbol, snapshot, req_id, time_in)
                elif self._ticker.remove(symbol):
                    result = {"channel": "ticker", "symbol": symbol}
                    self._reply(success_response(method, req_id, result, time_in, self._stamp()))
                else:
                    raise RequestError("Subscription Not Found")
            except RequestError as error:
                self._reply(
                    error_response(
                        method, req_id, error.message, time_in, self._stamp(), symbol=symbol
                    )
                )

    def _ticker_subscribe(self, symbol: str, snapshot: bool, req_id: Any, time_in: str) -> None:
        resolve_symbol(self.exchange, symbol)
        if symbol in self._ticker:
            raise RequestError("Already subscribed")
        self._heartbeat_on = True
        result = {"channel": "ticker", "snapshot": snapshot, "symbol": symbol}
        self._reply(success_response("subscribe", req_id, result, time_in, self._stamp()))
        self._ticker.add(symbol, self._outbox.put_reply if snapshot else None)
