"""Messages between gal_exec's actors (internal; the public protocol is gal_exec.messages).

Every request carries ``reply_to`` (anything :class:`Tellable`, usually an ActorRef) and a
``request_id``; the answer is another message told back. Nothing here blocks. Each actor's module
defines its inbox as a union of these types and handles it with ``match``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NoReturn, Protocol

import msgspec
import pykka

from gal_exec.core.order import OrderModel, OrderSpec
from gal_exec.core.updates import OrderUpdate
from gal_exec.kraken.codec import BalanceExEntry, OrderInfo, TradeInfo
from gal_exec.kraken.errors import ClassifiedError
from gal_exec.kraken.orders import OrderRequest
from gal_exec.kraken.ws_codec import MethodResponse
from gal_exec.kraken.ws_entry import OrderChannel
from gal_exec.messages import ExecutionReport

__all__ = [
    "AmendOrder",
    "AmendResult",
    "BalancesResult",
    "BreakerChanged",
    "CancelAllAfter",
    "CancelAllAfterResult",
    "CancelOrder",
    "CancelResult",
    "EntryFilled",
    "ErrorObserved",
    "ExchangeUpdates",
    "GetHealth",
    "HaltRequested",
    "HttpCall",
    "HttpDone",
    "JournalFailed",
    "Link",
    "ListOpenOrders",
    "LookupOrder",
    "LookupResult",
    "OpenOrdersListed",
    "OrderAdopted",
    "OrderAmended",
    "OrderAnomaly",
    "OrderCrashed",
    "OrderDurable",
    "OrderFilled",
    "OrderFinished",
    "OrderIdentified",
    "OrderReleased",
    "OrderReloaded",
    "OrderStopped",
    "Own",
    "PlaceOrder",
    "PlaceResult",
    "QueryBalances",
    "QueryOrderStatus",
    "QueryTrades",
    "RateCounterReading",
    "RestCallMade",
    "SiblingFilled",
    "StatusResult",
    "StreamStatus",
    "SubscribeAlerts",
    "SuccessObserved",
    "Tellable",
    "TimerScheduler",
    "TradesResult",
    "TradingChannelDown",
    "TradingChannelUp",
    "TradingReply",
    "WithdrawPlacement",
    "WithdrawResult",
    "tell_quietly",
    "unexpected",
]


class Tellable(Protocol):
    """Anything a message can be told to: a Pykka ActorRef, or a test's recorder."""

    def tell(self, message: Any) -> None: ...


class TimerScheduler(Protocol):
    """The TimerService as actors use it: schedule a TimerFired, or cancel it."""

    def schedule(self, key: str, delay_s: float, target: Tellable) -> int: ...
    def cancel(self, key: str) -> None: ...


class _Msg(msgspec.Struct, frozen=True, kw_only=True):
    # msgspec applies kw_only and frozen to the fields a class defines itself, so every subclass
    # repeats them (otherwise a required field after an optional one fails).
    pass


# ---- requests to the KrakenGateway --------------------------------------------------------------


class Forward(_Msg, frozen=True, kw_only=True):
    """A message that rides with a PlaceOrder: the gateway tells ``message`` to ``to`` once it
    is done with the placement's arrival (sent, handed to a worker, queued or refused)."""

    to: Tellable
    message: Any


class PlaceOrder(_Msg, frozen=True, kw_only=True):
    """Place one order (AddOrder, or coalesced with others for the same pair into AddOrderBatch).

    Never retried blindly: an unknown outcome is answered as such and the requester resolves it
    by cl_ord_id.

    ``after``: messages the gateway passes on, in order, right after it has dealt with this one
    (see Forward). A new entry's first report and its order's Own ride here, so the threads they
    wake start after the frame is on the wire, not while the gateway sends it; and the order's
    actor hears Own before the gateway can answer it.
    """

    request_id: int
    cl_ord_id: str
    pair: str
    order: OrderRequest
    reply_to: Tellable
    enqueued_at: float = 0.0
    after: tuple[Forward, ...] = ()


class CancelOrder(_Msg, frozen=True, kw_only=True):
    """Cancel one order by txid (or cl_ord_id when the txid is not known). Idempotent: retried."""

    request_id: int
    cl_ord_id: str
    txid: str | None
    pair: str
    order_age_s: float
    reply_to: Tellable


class AmendOrder(_Msg, frozen=True, kw_only=True):
    """Change an order's quantity or prices in place (AmendOrder keeps its identity)."""

    request_id: int
    cl_ord_id: str
    txid: str | None
    pair: str
    order_qty: Decimal | None = None
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None
    order_age_s: float = 0.0
    reply_to: Tellable


class QueryOrderStatus(_Msg, frozen=True, kw_only=True):
    """Status of one order by txid; the gateway batches these into QueryOrders calls of up to 50."""

    request_id: int
    cl_ord_id: str
    txid: str
    reply_to: Tellable


class QueryTrades(_Msg, frozen=True, kw_only=True):
    """Trades of one order by trade txid (QueryTrades, up to 20 ids a call). Idempotent."""

    request_id: int
    cl_ord_id: str
    trade_ids: tuple[str, ...]
    reply_to: Tellable


class QueryBalances(_Msg, frozen=True, kw_only=True):
    """The account's balances (BalanceEx: total and held per asset). Idempotent."""

    request_id: int
    reply_to: Tellable


class LookupOrder(_Msg, frozen=True, kw_only=True):
    """Find an order by cl_ord_id (OpenOrders, then ClosedOrders) to resolve an unknown outcome."""

    request_id: int
    cl_ord_id: str
    reply_to: Tellable


class ListOpenOrders(_Msg, frozen=True, kw_only=True):
    """One OpenOrders call: the flat-cost audit while the stream is up."""

    request_id: int
    reply_to: Tellable


class CancelAllAfter(_Msg, frozen=True, kw_only=True):
    """Arm or refresh (timeout_s > 0) or disarm (0) the dead man's switch."""

    request_id: int
    timeout_s: int
    reply_to: Tellable | None = None


class OrderReleased(_Msg, frozen=True, kw_only=True):
    """An order that was open on the exchange is now terminal (open-orders-per-pair bookkeeping)."""

    pair: str
    cl_ord_id: str


class WithdrawPlacement(_Msg, frozen=True, kw_only=True):
    """Take back a placement that has not left yet (the order was cancelled while queued)."""

    cl_ord_id: str
    reply_to: Tellable


class WithdrawResult(_Msg, frozen=True, kw_only=True):
    """``withdrawn`` True: the AddOrder never left and never will; False: it left already."""

    cl_ord_id: str
    withdrawn: bool


class OrderAdopted(_Msg, frozen=True, kw_only=True):
    """An order recovered after a restart is open on the exchange: count it against the pair."""

    pair: str
    cl_ord_id: str


class RestCallMade(_Msg, frozen=True, kw_only=True):
    """A private REST call made outside the gateway (the WebSocket token): its cost counts on
    the key's REST counter all the same."""

    endpoint: str


class RateCounterReading(_Msg, frozen=True, kw_only=True):
    """The trading counter's level for a pair as reported by the executions channel."""

    pair: str
    level: float


class TradingChannelUp(_Msg, frozen=True, kw_only=True):
    """The authenticated WebSocket can carry order entry: ``channel`` sends frames of this
    ``session`` (gal_exec.kraken.ws.KrakenWsClient); ``symbols`` maps REST pair names to WS
    symbols. Told to the gateway from the reader thread, in order with the replies."""

    session: int
    channel: OrderChannel
    symbols: dict[str, str]


class TradingChannelDown(_Msg, frozen=True, kw_only=True):
    """That connection ended: a request still waiting on it has an unknown outcome."""

    session: int
    reason: str = ""


class TradingReply(_Msg, frozen=True, kw_only=True):
    """A WS v2 method response read on ``session``."""

    session: int
    response: MethodResponse


# ---- replies from the KrakenGateway -------------------------------------------------------------


class PlaceResult(_Msg, frozen=True, kw_only=True):
    """txid set on success; without it and without ``error``, a validate-only check passed.

    error.category == outcome_unknown means the order may exist: resolve by cl_ord_id.
    """

    request_id: int
    cl_ord_id: str
    txid: str | None = None
    error: ClassifiedError | None = None
    sent_at: float = 0.0


class CancelResult(_Msg, frozen=True, kw_only=True):
    request_id: int
    cl_ord_id: str
    count: int | None = None
    error: ClassifiedError | None = None


class AmendResult(_Msg, frozen=True, kw_only=True):
    request_id: int
    cl_ord_id: str
    amend_id: str | None = None
    error: ClassifiedError | None = None


class BalancesResult(_Msg, frozen=True, kw_only=True):
    """``balances`` maps Kraken's asset name to its BalanceEx entry (None on error)."""

    request_id: int
    balances: dict[str, BalanceExEntry] | None = None
    error: ClassifiedError | None = None


class StatusResult(_Msg, frozen=True, kw_only=True):
    """``info`` is the exchange's order record; None when QueryOrders omitted it."""

    request_id: int
    cl_ord_id: str
    txid: str
    info: OrderInfo | None = None
    error: ClassifiedError | None = None


class TradesResult(_Msg, frozen=True, kw_only=True):
    """``trades`` maps trade txid to the exchange's trade record."""

    request_id: int
    cl_ord_id: str
    trades: dict[str, TradeInfo] = msgspec.field(default_factory=dict)
    error: ClassifiedError | None = None


class LookupResult(_Msg, frozen=True, kw_only=True):
    """``found`` False: the order is in neither OpenOrders nor ClosedOrders."""

    request_id: int
    cl_ord_id: str
    found: bool = False
    txid: str | None = None
    info: OrderInfo | None = None
    error: ClassifiedError | None = None


class OpenOrdersListed(_Msg, frozen=True, kw_only=True):
    """``orders`` maps txid to the exchange's order record."""

    request_id: int
    orders: dict[str, OrderInfo] = msgspec.field(default_factory=dict)
    error: ClassifiedError | None = None


class CancelAllAfterResult(_Msg, frozen=True, kw_only=True):
    request_id: int
    trigger_time: str | None = None
    error: ClassifiedError | None = None


# ---- the ErrorClassifier ------------------------------------------------------------------------


class ErrorObserved(_Msg, frozen=True, kw_only=True):
    """Every exchange or transport error the gateway sees, already classified."""

    endpoint: str
    error: ClassifiedError
    time: float


class BreakerChanged(_Msg, frozen=True, kw_only=True):
    """A per-category circuit breaker opened, half-opened or closed."""

    category: str
    state: str
    time: float


class HaltRequested(_Msg, frozen=True, kw_only=True):
    """Stop placing now (auth or lockout errors, a dead man's switch that cannot be kept armed):
    the supervisor halts with this reason."""

    reason: str
    error_code: str | None = None


class SuccessObserved(_Msg, frozen=True, kw_only=True):
    """A call that was a half-open breaker's trial got a clean answer from Kraken.

    ``categories`` names the breakers it counts for (those the gateway held this kind of call for).
    """

    endpoint: str
    categories: tuple[str, ...]
    time: float


class SubscribeAlerts(_Msg, frozen=True, kw_only=True):
    """Ask the ErrorClassifier to tell ``ref`` every BreakerChanged and HaltRequested."""

    ref: Tellable


# ---- order actors and the supervisor ------------------------------------------------------------


class Own(_Msg, frozen=True, kw_only=True):
    """Told to an OrderActor: run this order. ``resume``: rebuilt from the journal, find out what
    happened meanwhile; ``durable``: its intent is durable already; ``sent``: and its first
    placement has left with the commit (the supervisor told it to the gateway, which passes this
    Own on after it: PlaceOrder.after), so the actor must not place it again. Messages an actor
    gets before its Own wait for it."""

    model: OrderModel
    resume: bool = False
    durable: bool = False
    sent: bool = False


class OrderUpdates(_Msg, frozen=True, kw_only=True):
    """Several observations of one order, in the order they were read: what a burst of the
    executions stream brought for it, told to its actor in one message."""

    updates: tuple[OrderUpdate, ...]


class JournalFailed(_Msg, frozen=True, kw_only=True):
    """The journal could not store the intent: the order must not be sent."""

    error: str


class ExchangeUpdates(_Msg, frozen=True, kw_only=True):
    """A batch of observations from the stream, for the supervisor to route."""

    updates: list[OrderUpdate]


class StreamStatus(_Msg, frozen=True, kw_only=True):
    """The executions stream connected (up) or dropped; ``gap`` after a reconnect."""

    up: bool
    gap: bool = False
    reason: str = ""


class SiblingFilled(_Msg, frozen=True, kw_only=True):
    """Told to a protective child: its OCO sibling has filled this much."""

    filled_quantity: Decimal


class Link(_Msg, frozen=True, kw_only=True):
    """Told to a protective child: the ActorRef of its OCO sibling."""

    sibling: Tellable


class OrderIdentified(_Msg, frozen=True, kw_only=True):
    cl_ord_id: str
    txid: str


class EntryFilled(_Msg, frozen=True, kw_only=True):
    """Told by an entry with protection: its filled quantity grew, or it ended (``final``)."""

    cl_ord_id: str
    filled_quantity: Decimal
    average_price: Decimal | None = None
    final: bool = False


class OrderFilled(_Msg, frozen=True, kw_only=True):
    """Told by an OrderActor with each report that announces a new fill (positions follow)."""

    report: ExecutionReport


class OrderAmended(_Msg, frozen=True, kw_only=True):
    """Told by an OrderActor: its quantity or prices changed (an amend applied)."""

    cl_ord_id: str
    quantity: Decimal
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None


class OrderFinished(_Msg, frozen=True, kw_only=True):
    """The order reached a terminal state and was reported."""

    cl_ord_id: str
    filled_quantity: Decimal = Decimal(0)


class OrderStopped(_Msg, frozen=True, kw_only=True):
    """The order actor stopped (after lingering for late reports)."""

    cl_ord_id: str


class OrderCrashed(_Msg, frozen=True, kw_only=True):
    """Told by an OrderActor's on_failure: the supervisor rebuilds it from the journal."""

    cl_ord_id: str
    error: str


class OrderAnomaly(_Msg, frozen=True, kw_only=True):
    """An event the order's transition table refused, or figures it could not account."""

    cl_ord_id: str
    reason: str


class OrderDurable(_Msg, frozen=True, kw_only=True):
    """The intent of an order that was not running when it was journaled is durable."""

    cl_ord_id: str


class OrderReloaded(_Msg, frozen=True, kw_only=True):
    """A crashed order's journaled reports, read after every report it emitted was journaled."""

    spec: OrderSpec
    reports: list[ExecutionReport]


class GetHealth(_Msg, frozen=True, kw_only=True):
    """Asked at the edge (Engine.health()); answered with the actor's typed health Struct."""


# ---- the gateway and its HTTP workers -----------------------------------------------------------


class HttpCall(_Msg, frozen=True, kw_only=True):
    """Call ``method_name(**kwargs)`` on the worker's KrakenRestClient; answer ``reply_to``."""

    call_id: int
    endpoint: str
    method_name: str
    kwargs: dict[str, Any] = msgspec.field(default_factory=dict)
    reply_to: Tellable


class HttpDone(_Msg, frozen=True, kw_only=True):
    """The outcome of an HttpCall: ``result`` on success, else the exception in ``error``.

    ``started`` and ``finished`` are the worker's clock.monotonic() around the blocking call.
    """

    call_id: int
    endpoint: str
    result: Any = None
    error: BaseException | None = None
    started: float = 0.0
    finished: float = 0.0


def tell_quietly(ref: Tellable | None, message: Any) -> bool:
    """Tell ``ref`` unless it has stopped (during shutdown); True if the message was delivered."""
    if ref is None:
        return False
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        return False
    return True


def unexpected(message: NoReturn, *, actor: str, log: Any) -> None:
    """The ``case _`` of an actor's match: typed as unreachable (mypy checks the inbox is handled
    exhaustively), and at run time a warning rather than a crash."""
    log.warning("%s ignored an unexpected %s", actor, type(message).__name__)
