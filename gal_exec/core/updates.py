"""What the exchange told us about one order, in one exchange-neutral shape.

The Kraken layer turns a WebSocket v2 execution report, a REST order record or a "not found" answer
into an OrderUpdate; the order model consumes only this.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import msgspec

from gal_exec.core.ledger import Fill

__all__ = ["ExchangeStatus", "OrderUpdate", "UpdateSource"]


class ExchangeStatus(StrEnum):
    """The exchange's view of the order (Kraken's WS order_status / REST status, unified)."""

    PENDING = "pending"  # received, not yet live (WS pending_new, REST pending)
    OPEN = "open"  # live, possibly partly filled
    FILLED = "filled"  # fully executed (REST closed)
    CANCELED = "canceled"
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # this update carries no status (e.g. a bare trade)


class UpdateSource(StrEnum):
    STREAM = "stream"  # WebSocket executions update
    SNAPSHOT = "snapshot"  # WebSocket executions snapshot after (re)connect
    REST = "rest"  # QueryOrders / OpenOrders / ClosedOrders


class OrderUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """One observation of an order. Cumulative figures, when present, are the exchange's totals."""

    source: UpdateSource
    cl_ord_id: str | None = None
    txid: str | None = None
    status: ExchangeStatus = ExchangeStatus.UNKNOWN
    fill: Fill | None = None  # a trade with its id (stream)
    cum_quantity: Decimal | None = None
    cum_cost: Decimal | None = None
    average_price: Decimal | None = None
    cum_fee: Decimal | None = None
    fee_asset: str = ""
    order_quantity: Decimal | None = None
    limit_price: Decimal | None = None  # the order's limit price as the exchange holds it
    trigger_price: Decimal | None = None  # the order's trigger price as the exchange holds it
    amended: bool = False  # the exchange changed the order's figures (an amend or a restatement)
    trade_ids: tuple[str, ...] = ()  # the order's trades by id, when a REST record lists them
    reason: str | None = None
    time: float | None = None  # exchange time, epoch seconds
