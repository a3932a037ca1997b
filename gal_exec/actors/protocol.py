"""Messages between gal_exec's actors (internal; the public protocol is gal_exec.messages).

Every request carries ``reply_to`` (an ActorRef, or anything with ``tell``) and a ``request_id``; the
answer is another message told back. Nothing here blocks.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pykka

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
    "HttpCall",
    "HttpDone",
    "ListOpenOrders",
    "LookupOrder",
    "LookupResult",
    "OpenOrdersResult",
    "OrderAdopted",
    "OrderReleased",
    "PlaceOrder",
    "PlaceResult",
    "QueryOrderStatus",
    "RateCounterReading",
    "StatusResult",
    "Subscribe",
    "SuccessObserved",
    "TradingChannelDown",
    "TradingChannelUp",
    "TradingReply",
]


class _Msg(msgspec.Struct, frozen=True, kw_only=True):
    # msgspec applies kw_only to the fields a class defines itself, so every subclass repeats it
    # (otherwise a required field after an optional one, like AmendOrder.reply_to, fails).
    pass


# ---- requests to the KrakenGateway --------------------------------------------------------------


class PlaceOrder(_Msg, kw_only=True):
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


class CancelOrder(_Msg, kw_only=True):
    """Cancel one order by txid (or cl_ord_id when the txid is not known). Idempotent: retried."""

    request_id: int
    cl_ord_id: str
    txid: str | None
    pair: str
    order_age_s: float
    reply_to: Any


class AmendOrder(_Msg, kw_only=True):
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


class QueryOrderStatus(_Msg, kw_only=True):
    """Status of one order by txid; the gateway batches these into QueryOrders calls of up to 50."""

    request_id: int
    cl_ord_id: str
    txid: str
    reply_to: Any


class LookupOrder(_Msg, kw_only=True):
    """Find an order by cl_ord_id (OpenOrders, then ClosedOrders) to resolve an unknown outcome."""

    request_id: int
    cl_ord_id: str
    reply_to: Any


class ListOpenOrders(_Msg, kw_only=True):
    """One OpenOrders call: the flat-cost audit while the stream is up."""

    request_id: int
    reply_to: Any


class CancelAllAfter(_Msg, kw_only=True):
    """Arm or refresh (timeout_s > 0) or disarm (0) the dead man's switch."""

    request_id: int
    timeout_s: int
    reply_to: Any = None


class OrderReleased(_Msg, kw_only=True):
    """An order that was open on the exchange is now terminal (open-orders-per-pair bookkeeping)."""

    pair: str
    cl_ord_id: str


class WithdrawPlacement(_Msg, kw_only=True):
    """Take back a placement that has not left yet (the order was cancelled while queued)."""

    cl_ord_id: str
    reply_to: Any


class WithdrawResult(_Msg, kw_only=True):
    """``withdrawn`` True: the AddOrder never left and never will; False: it left already."""

    cl_ord_id: str
    withdrawn: bool


class OrderAdopted(_Msg, kw_only=True):
    """An order recovered after a restart is open on the exchange: count it against the pair."""

    pair: str
    cl_ord_id: str


class RateCounterReading(_Msg, kw_only=True):
    """The trading counter's level for a pair as reported by the executions channel."""

    pair: str
    level: float


class TradingChannelUp(_Msg, kw_only=True):
    """The authenticated WebSocket can carry order entry: ``channel`` sends frames of this
    ``session`` (gal_exec.kraken.ws.KrakenWsClient); ``symbols`` maps REST pair names to WS
    symbols. Told to the gateway from the reader thread, in order with the replies."""

    session: int
    channel: Any
    symbols: dict[str, str]


class TradingChannelDown(_Msg, kw_only=True):
    """That connection ended: a request still waiting on it has an unknown outcome."""

    session: int
    reason: str = ""


class TradingReply(_Msg, kw_only=True):
    """A WS v2 method response (gal_exec.kraken.ws_codec.MethodResponse) read on ``session``."""

    session: int
    response: Any


# ---- replies from the KrakenGateway -------------------------------------------------------------


class PlaceResult(_Msg, kw_only=True):
    """txid set on success; otherwise ``error`` is a gal_exec.kraken.errors.ClassifiedError.

    error.category == outcome_unknown means the order may exist: resolve by cl_ord_id.
    """

    request_id: int
    cl_ord_id: str
    txid: str | None = None
    error: Any = None
    sent_at: float = 0.0


class CancelResult(_Msg, kw_only=True):
    request_id: int
    cl_ord_id: str
    count: int | None = None
    error: Any = None


class AmendResult(_Msg, kw_only=True):
    request_id: int
    cl_ord_id: str
    amend_id: str | None = None
    error: Any = None


class StatusResult(_Msg, kw_only=True):
    """``info`` is the exchange's order record (codec OrderInfo); None when QueryOrders omitted it."""

    request_id: int
    cl_ord_id: str
    txid: str
    info: Any = None
    error: Any = None


class LookupResult(_Msg, kw_only=True):
    """``found`` False: the order is in neither OpenOrders nor ClosedOrders."""

    request_id: int
    cl_ord_id: str
    found: bool = False
    txid: str | None = None
    info: Any = None
    error: Any = None


class OpenOrdersResult(_Msg, kw_only=True):
    """``orders`` maps txid to the exchange's order record."""

    request_id: int
    orders: dict[str, Any] = msgspec.field(default_factory=dict)
    error: Any = None


class CancelAllAfterResult(_Msg, kw_only=True):
    request_id: int
    trigger_time: str | None = None
    error: Any = None


# ---- the ErrorClassifier ------------------------------------------------------------------------


class ErrorObserved(_Msg, kw_only=True):
    """Every exchange or transport error the gateway sees, already classified."""

    endpoint: str
    error: Any  # ClassifiedError
    time: float


class BreakerChanged(_Msg, kw_only=True):
    """A per-category circuit breaker opened, half-opened or closed."""

    category: str
    state: str
    time: float


class HaltRequested(_Msg, kw_only=True):
    """Stop trading now (auth or lockout errors): the supervisor halts with this reason."""

    reason: str
    error_code: str | None = None


# ---- order actors and the supervisor ------------------------------------------------------------


class IntentDurable(_Msg, kw_only=True):
    """The journal committed this order's intent: the request may now leave."""


class JournalFailed(_Msg, kw_only=True):
    """The journal could not store the intent: the order must not be sent."""

    error: str


class ExchangeUpdate(_Msg, kw_only=True):
    """One observation of this order from the stream (a gal_exec.core.updates.OrderUpdate)."""

    update: Any


class ExchangeUpdates(_Msg, kw_only=True):
    """A batch of observations from the stream, for the supervisor to route."""

    updates: list[Any]


class StreamStatus(_Msg, kw_only=True):
    """The executions stream connected (up) or dropped; ``gap`` after a reconnect."""

    up: bool
    gap: bool = False
    reason: str = ""


class StreamChanged(_Msg, kw_only=True):
    """Told to each order actor when the stream's state changes."""

    up: bool
    gap: bool = False


class CancelRequest(_Msg, kw_only=True):
    reason: str


class VerifyStatus(_Msg, kw_only=True):
    """The flat-cost audit found this order missing from OpenOrders: ask for its record."""


class SetPosition(_Msg, kw_only=True):
    """Told to a protective child: the entry's filled quantity it must cover."""

    filled_quantity: Decimal
    final: bool = False


class SiblingFilled(_Msg, kw_only=True):
    """Told to a protective child: its OCO sibling has filled this much."""

    filled_quantity: Decimal


class Link(_Msg, kw_only=True):
    """Told to a protective child: the ActorRef of its OCO sibling."""

    sibling: Any


class OrderIdentified(_Msg, kw_only=True):
    cl_ord_id: str
    txid: str


class OrderFinished(_Msg, kw_only=True):
    """The order reached a terminal state and was reported."""

    cl_ord_id: str
    filled_quantity: Decimal = Decimal(0)


class OrderStopped(_Msg, kw_only=True):
    """The order actor stopped (after lingering for late reports)."""

    cl_ord_id: str


class OrderCrashed(_Msg, kw_only=True):
    """Told by an OrderActor's on_failure: the supervisor restarts it from persisted state."""

    cl_ord_id: str
    error: str


class Protect(_Msg, kw_only=True):
    """Told by an entry: its protective children must cover ``filled_quantity``."""

    parent_cl_ord_id: str
    filled_quantity: Decimal
    final: bool = False


class GetHealth(_Msg, kw_only=True):
    """Asked at the edge (Engine.health()); answered with a dict."""


class SuccessObserved(_Msg, kw_only=True):
    """A call that was a half-open breaker's trial got a clean answer from Kraken.

    ``categories`` names the breakers it counts for (those the gateway held this kind of call for).
    """

    endpoint: str
    categories: tuple[str, ...]
    time: float


class Subscribe(_Msg, kw_only=True):
    """Ask the ErrorClassifier to tell ``ref`` every BreakerChanged and HaltRequested."""

    ref: Any


# ---- the gateway and its HTTP workers -----------------------------------------------------------


class HttpCall(_Msg, kw_only=True):
    """Call ``method_name(**kwargs)`` on the worker's KrakenRestClient; answer ``reply_to``."""

    call_id: int
    endpoint: str
    method_name: str
    kwargs: dict[str, Any] = msgspec.field(default_factory=dict)
    reply_to: Any


class HttpDone(_Msg, kw_only=True):
    """The outcome of an HttpCall: ``result`` on success, else the exception in ``error``.

    ``started`` and ``finished`` are the worker's clock.monotonic() around the blocking call.
    """

    call_id: int
    endpoint: str
    result: Any = None
    error: Any = None
    started: float = 0.0
    finished: float = 0.0


def tell_quietly(ref: Any, message: Any) -> bool:
    """Tell ``ref`` unless it has stopped (during shutdown); True if the message was delivered."""
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        return False
    return True
