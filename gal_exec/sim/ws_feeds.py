"""Channel subscriptions of one simulator WebSocket connection: ``executions`` and ``ticker``.

Exchange callbacks arrive on whatever thread caused the event; they only filter, number, encode
and queue (never block). An executions subscription registers with the exchange before it takes
the snapshot and holds back updates until the snapshot is queued, so nothing falls between them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from gal_exec.sim.ws_wire import encode

__all__ = ["ExecutionsFeed", "TickerFeed"]

# With order_status=false Kraken streams only open/close transitions; fills are kept because a
# client cannot follow its position without them.
_OPEN_CLOSE_TYPES = frozenset({"new", "trade", "filled", "canceled", "expired"})
_TERMINAL_TYPES = frozenset({"filled", "canceled", "expired"})

Publish = Callable[[bytes], None]


class ExecutionsFeed:
    """One ``executions`` subscription: sequence numbers, filters and the rate counter."""

    def __init__(
        self,
        exchange: Any,
        api_key: str,
        publish: Publish,
        *,
        order_status: bool,
        ratecounter: bool,
    ) -> None:
        self.exchange = exchange
        self.api_key = api_key
        self._publish = publish
        self._order_status = order_status
        self._ratecounter = ratecounter
        self._lock = threading.Lock()
        self._sequence = 0
        self._ready = False
        self._closed = False
        self._held: list[list[dict[str, Any]]] = []
        self._symbols: dict[str, str] = {}
        self.handle: int | None = None

    def open(self) -> None:
        """Register with the exchange; updates are held until :meth:`start`."""
        self.handle = self.exchange.subscribe_executions(self.api_key, self.on_reports)

    def snapshot(self, *, orders: bool, trades: bool) -> list[dict[str, Any]]:
        """Open orders and/or the last 50 fills, in the WS v2 snapshot shape."""
        rows: list[dict[str, Any]] = []
        if orders:
            rows.extend(self.exchange.snapshot_orders(self.api_key))
        if trades:
            rows.extend(self.exchange.snapshot_trades(self.api_key, 50))
        return rows

    def start(self, snapshot_rows: list[dict[str, Any]] | None, publish_snapshot: Publish) -> None:
        """Queue the snapshot (sequence 1) via ``publish_snapshot``, then any held updates."""
        with self._lock:
            if snapshot_rows is not None:
                self._remember(snapshot_rows)
                self._sequence += 1
                message = {
                    "channel": "executions",
                    "type": "snapshot",
                    "data": self._with_ratecount(snapshot_rows),
                    "sequence": self._sequence,
                }
                publish_snapshot(encode(message))
            self._ready = True
            held, self._held = self._held, []
            for reports in held:
                self._emit(reports)

    def on_reports(self, reports: list[dict[str, Any]]) -> None:
        """Exchange callback: one list of execution reports becomes one update message."""
        with self._lock:
            if self._closed:
                return
            if not self._ready:
                self._held.append(reports)
                return
            self._emit(reports)

    def close(self) -> None:
        """Stop listening; safe to call twice."""
        with self._lock:
            self._closed = True
            handle, self.handle = self.handle, None
        if handle is not None:
            self.exchange.unsubscribe_executions(handle)

    def _emit(self, reports: list[dict[str, Any]]) -> None:
        self._remember(reports)
        rows = [
            report
            for report in reports
            if self._order_status or report.get("exec_type") in _OPEN_CLOSE_TYPES
        ]
        if rows:
            self._sequence += 1
            message = {
                "channel": "executions",
                "type": "update",
                "data": self._with_ratecount(rows),
                "sequence": self._sequence,
            }
            self._publish(encode(message))
        for report in reports:
            if report.get("exec_type") in _TERMINAL_TYPES:
                self._symbols.pop(report.get("order_id", ""), None)

    def _remember(self, rows: list[dict[str, Any]]) -> None:
        # Sparse reports (new, canceled) carry no symbol; the rate counter is per pair.
        for row in rows:
            order_id, symbol = row.get("order_id"), row.get("symbol")
            if order_id and symbol and row.get("order_status") not in _TERMINAL_TYPES:
                self._symbols[order_id] = symbol

    def _with_ratecount(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows with ``ratecount`` (the pair's trading counter) when ``ratecounter`` is on."""
        if not self._ratecounter or not rows:
            return rows
        counters = self.exchange.rate_counter(self.api_key)
        enriched = []
        for row in rows:
            symbol = row.get("symbol") or self._symbols.get(row.get("order_id", ""))
            level = counters.get(symbol) if symbol else None
            # Copy: the exchange hands the same report to every subscriber.
            enriched.append(row if level is None else {**row, "ratecount": level})
        return enriched


class TickerFeed:
    """The ``ticker`` symbols of one connection, fed by one exchange ticker subscription."""

    def __init__(self, exchange: Any, publish: Publish) -> None:
        self.exchange = exchange
        self._publish = publish
        self._lock = threading.Lock()
        self._symbols: set[str] = set()
        self._handle: int | None = None

    def add(self, symbol: str, publish_snapshot: Publish | None) -> None:
        """Follow ``symbol``; queue its snapshot first when ``publish_snapshot`` is given."""
        with self._lock:
            if self._handle is None:
                self._handle = self.exchange.subscribe_ticker(self.on_ticker)
            if publish_snapshot is not None:
                data = self.exchange.ticker_ws(symbol)
                if data is not None:
                    message = {"channel": "ticker", "type": "snapshot", "data": [data]}
                    publish_snapshot(encode(message))
            self._symbols.add(symbol)

    def remove(self, symbol: str) -> bool:
        """Stop following ``symbol``; False if it was not followed."""
        with self._lock:
            if symbol not in self._symbols:
                return False
            self._symbols.discard(symbol)
            handle = self._handle if not self._symbols else None
            if handle is not None:
                self._handle = None
        if handle is not None:
            self.exchange.unsubscribe_ticker(handle)
        return True

    def __contains__(self, symbol: object) -> bool:
        with self._lock:
            return symbol in self._symbols

    def on_ticker(self, update: Mapping[str, Any] | list[Mapping[str, Any]]) -> None:
        """Exchange callback: a WS v2 ticker dict (or a list of them), one message per symbol."""
        rows = update if isinstance(update, list) else [update]
        with self._lock:
            for row in rows:
                if row.get("symbol") in self._symbols:
                    self._publish(encode({"channel": "ticker", "type": "update", "data": [row]}))

    def close(self) -> None:
        """Drop every symbol and the exchange subscription."""
        with self._lock:
            self._symbols.clear()
            handle, self._handle = self._handle, None
        if handle is not None:
            self.exchange.unsubscribe_ticker(handle)
