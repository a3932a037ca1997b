"""Messages between gal_exec's actors (internal; the public protocol is gal_exec.messages).

Every request carries ``reply_to`` (an ActorRef, or anything with ``tell``) and a ``request_id``; the
answer is another message told back. Nothing here blocks.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

__all__ = [
    "AmendOrder",
    "AmendResult",
    "BreakerChanged",
    "CancelAllAfter",
    "CancelAllAfterResult",
    "CancelOrder",
    "CancelResult",
    "ErrorObserved",
    "HaltRequested",
    "ListOpenOrders",
    "LookupOrder",
    "LookupResult",
    "OpenOrdersResult",
    "OrderReleased",
    "PlaceOrder",
    "PlaceResult",
    "QueryOrderStatus",
    "RateCounterReading",
    "StatusResult",
]


class _Msg(msgspec.Struct, frozen=True, kw_only=True):
    pass


# ---- requests to the KrakenGateway --------------------------------------------------------------


class PlaceOrder(_Msg):
    """Place one order (AddOrder, or coalesced with others for the same pair into AddOrderBatch).

    ``order`` is a gal_exec.kraken.rest.OrderRequest carrying the cl_ord_id. Never retried blindly:
    an unknown outcome is answered as such and the requester resolves it by cl_ord_id.
    """

    request_id: int
    cl_ord_id: str
    pair: str
    order: Any
    reply_to: Any
    enqueued_at: float = 0.0


class CancelOrder(_Msg):
    """Cancel one order by txid (or cl_ord_id when the txid is not known). Idempotent: retried."""

    request_id: int
    cl_ord_id: str
    txid: str | None
    pair: str
    order_age_s: float
    reply_to: Any


class AmendOrder(_Msg):
    """Change an order's quantity or prices in place (AmendOrder keeps its identity)."""

    request_id: int
    cl_ord_id: str
    txid: str | None
    pair: str
    order_qty: Decimal | None = None
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None
    order_age_s: float = 0.0
    reply_to: Any


class QueryOrderStatus(_Msg):
    """Status of one order by txid; the gateway batches these into QueryOrders calls of up to 50."""

    request_id: int
    cl_ord_id: str
    txid: str
    reply_to: Any


class LookupOrder(_Msg):
    """Find an order by cl_ord_id (OpenOrders, then ClosedOrders) to resolve an unknown outcome."""

    request_id: int
    cl_ord_id: str
    reply_to: Any


class ListOpenOrders(_Msg):
    """One OpenOrders call: the flat-cost audit while the stream is up."""

    request_id: int
    reply_to: Any


class CancelAllAfter(_Msg):
    """Arm or refresh (timeout_s > 0) or disarm (0) the dead man's switch."""

    request_id: int
    timeout_s: int
    reply_to: Any = None


class OrderReleased(_Msg):
    """An order that was open on the exchange is now terminal (open-orders-per-pair bookkeeping)."""

    pair: str
    cl_ord_id: str


class RateCounterReading(_Msg):
    """The trading counter's level for a pair as reported by the executions channel."""

    pair: str
    level: float


# ---- replies from the KrakenGateway -------------------------------------------------------------


class PlaceResult(_Msg):
    """txid set on success; otherwise ``error`` is a gal_exec.kraken.errors.ClassifiedError.

    error.category == outcome_unknown means the order may exist: resolve by cl_ord_id.
    """

    request_id: int
    cl_ord_id: str
    txid: str | None = None
    error: Any = None
    sent_at: float = 0.0


class CancelResult(_Msg):
    request_id: int
    cl_ord_id: str
    count: int | None = None
    error: Any = None


class AmendResult(_Msg):
    request_id: int
    cl_ord_id: str
    amend_id: str | None = None
    error: Any = None


class StatusResult(_Msg):
    """``info`` is the exchange's order record (codec OrderInfo); None when QueryOrders omitted it."""

    request_id: int
    cl_ord_id: str
    txid: str
    info: Any = None
    error: Any = None


class LookupResult(_Msg):
    """``found`` False: the order is in neither OpenOrders nor ClosedOrders."""

    request_id: int
    cl_ord_id: str
    found: bool = False
    txid: str | None = None
    info: Any = None
    error: Any = None


class OpenOrdersResult(_Msg):
    """``orders`` maps txid to the exchange's order record."""

    request_id: int
    orders: dict[str, Any] = msgspec.field(default_factory=dict)
    error: Any = None


class CancelAllAfterResult(_Msg):
    request_id: int
    trigger_time: str | None = None
    error: Any = None


# ---- the ErrorClassifier ------------------------------------------------------------------------


class ErrorObserved(_Msg):
    """Every exchange or transport error the gateway sees, already classified."""

    endpoint: str
    error: Any  # ClassifiedError
    time: float


class BreakerChanged(_Msg):
    """A per-category circuit breaker opened, half-opened or closed."""

    category: str
    state: str
    time: float


class HaltRequested(_Msg):
    """Stop trading now (auth or lockout errors): the supervisor halts with this reason."""

    reason: str
    error_code: str | None = None
