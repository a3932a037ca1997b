"""Typed Kraken REST replies: msgspec Structs for each result and one envelope decoder.

Every reply is ``{"error": [...], "result": ...}``. :func:`decode_response` returns the typed
result, raises :class:`~gal_exec.kraken.errors.KrakenAPIError` when Kraken reports an error and
:class:`~gal_exec.kraken.errors.MalformedResponse` when the body is not JSON or not the documented
shape. Money fields are Decimal. Decoding is lenient (``strict=False``) because the same field
arrives as a JSON number in one capture and as a string in another (``"userref": "0"``,
``"opentm": "1705260547.472000"``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import msgspec

from gal_exec.kraken.errors import KrakenAPIError, MalformedResponse

__all__ = [
    "RESULT_TYPES",
    "AddOrderBatchResult",
    "AddOrderDescription",
    "AddOrderResult",
    "AmendOrderResult",
    "ApiKeyInfo",
    "AssetInfo",
    "AssetPairInfo",
    "BalanceExEntry",
    "BatchOrderResult",
    "CancelAllOrdersAfterResult",
    "CancelOrderBatchResult",
    "CancelOrderResult",
    "ClosedOrdersResult",
    "EditOrderResult",
    "OpenOrdersResult",
    "OrderDescription",
    "OrderInfo",
    "ServerTime",
    "SystemStatus",
    "TickerInfo",
    "TradeInfo",
    "TradesHistoryResult",
    "WebSocketsToken",
    "decode_response",
    "decode_result",
    "epoch_of",
]

_ZERO = Decimal(0)


class _Reply(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every reply Struct: immutable, keyword-only."""


# --- order entry -------------------------------------------------------------------------------


class AddOrderDescription(_Reply, frozen=True):
    """Kraken's text description of a placed order and of its conditional close, if any."""

    order: str = ""
    close: str | None = None


class AddOrderResult(_Reply, frozen=True):
    """AddOrder: ``txid`` is a list (empty when ``validate=true``)."""

    descr: AddOrderDescription
    txid: list[str] = []


class BatchOrderResult(_Reply, frozen=True):
    """One AddOrderBatch entry, in request order: a scalar ``txid``, or ``error`` if rejected."""

    txid: str | None = None
    descr: AddOrderDescription | None = None
    error: str | None = None


class AddOrderBatchResult(_Reply, frozen=True):
    orders: list[BatchOrderResult]


class AmendOrderResult(_Reply, frozen=True):
    amend_id: str


class EditOrderResult(_Reply, frozen=True):
    """EditOrder (legacy cancel/replace): the new order has a new ``txid``."""

    descr: AddOrderDescription | None = None
    txid: str | None = None
    originaltxid: str | None = None
    status: str = ""
    volume: Decimal | None = None
    price: Decimal | None = None
    price2: Decimal | None = None
    orders_cancelled: int | None = None
    newuserref: int | None = None
    olduserref: int | None = None
    error_message: str | None = None


class CancelOrderResult(_Reply, frozen=True):
    """CancelOrder and CancelAll: orders cancelled, and whether some are still pending."""

    count: int
    pending: bool | None = None


class CancelOrderBatchResult(_Reply, frozen=True):
    count: int


def epoch_of(timestamp: str | None) -> float | None:
    """Epoch seconds of a Kraken RFC3339 time (``2023-03-24T17:42:56Z``); None when empty,
    ``"0"`` (a disarmed dead man's switch) or not a time."""
    if not timestamp:
        return None
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class CancelAllOrdersAfterResult(_Reply, frozen=True):
    """Dead man's switch: RFC3339 times; ``trigger_time`` is ``"0"`` or absent when disarmed."""

    current_time: str = msgspec.field(name="currentTime")
    trigger_time: str | None = msgspec.field(default=None, name="triggerTime")


# --- order and trade queries -------------------------------------------------------------------


class OrderDescription(_Reply, frozen=True):
    """``descr`` of an order. ``price``/``price2`` stay text: trailing stops show ``+50.0000%``."""

    pair: str
    type: str
    ordertype: str
    price: str = "0"
    price2: str = "0"
    leverage: str = "none"
    order: str = ""
    close: str = ""


class OrderInfo(_Reply, frozen=True):
    """An order as QueryOrders, OpenOrders and ClosedOrders report it.

    ``status`` is one of pending, open, closed, canceled, expired; ``price`` is the average fill
    price; ``closetm`` and ``reason`` appear on closed orders only.
    """

    status: str
    descr: OrderDescription
    vol: Decimal
    vol_exec: Decimal = _ZERO
    cost: Decimal = _ZERO
    fee: Decimal = _ZERO
    price: Decimal = _ZERO
    stopprice: Decimal | None = None
    limitprice: Decimal | None = None
    refid: str | None = None
    userref: int | None = None
    cl_ord_id: str | None = None
    opentm: float = 0.0
    closetm: float | None = None
    starttm: float = 0.0
    expiretm: float = 0.0
    trigger: str | None = None
    margin: bool | None = None
    misc: str = ""
    oflags: str = ""
    sender_sub_id: str | None = None
    trades: list[str] | None = None
    reason: str | None = None

    @property
    def oflag_set(self) -> frozenset[str]:
        """``oflags`` as a set, e.g. ``{"post", "fciq"}``."""
        return frozenset(flag for flag in self.oflags.split(",") if flag)

    @property
    def misc_set(self) -> frozenset[str]:
        """``misc`` as a set, e.g. ``{"stopped", "amended"}``."""
        return frozenset(item for item in self.misc.split(",") if item)


class OpenOrdersResult(_Reply, frozen=True):
    open: dict[str, OrderInfo]


class ClosedOrdersResult(_Reply, frozen=True):
    """One page (50, most recent first); ``count`` is the total over all pages."""

    closed: dict[str, OrderInfo]
    count: int | None = None


class TradeInfo(_Reply, frozen=True):
    """A fill as QueryTrades and TradesHistory report it."""

    ordertxid: str
    pair: str
    time: float
    type: str
    ordertype: str
    price: Decimal
    cost: Decimal
    fee: Decimal
    vol: Decimal
    postxid: str | None = None
    margin: Decimal | None = None
    leverage: str | None = None
    misc: str = ""
    ledgers: list[str] | None = None
    trade_id: int | None = None
    maker: bool | None = None
    posstatus: str | None = None
    cprice: Decimal | None = None
    ccost: Decimal | None = None
    cfee: Decimal | None = None
    cvol: Decimal | None = None
    cmargin: Decimal | None = None
    net: Decimal | None = None
    trades: list[str] | None = None


class TradesHistoryResult(_Reply, frozen=True):
    trades: dict[str, TradeInfo]
    count: int | None = None


# --- account -----------------------------------------------------------------------------------


class WebSocketsToken(_Reply, frozen=True):
    """A token for the private WebSocket; ``expires`` in seconds. Redacted in repr."""

    token: str
    expires: int

    def __repr__(self) -> str:
        return f"WebSocketsToken(token=<redacted>, expires={self.expires})"


class ApiKeyInfo(_Reply, frozen=True):
    """GetApiKeyInfo: the calling key's name and permissions (needs no permission itself).

    ``permissions`` are Kraken's strings, e.g. ``query-funds``, ``modify-trades``,
    ``withdraw-funds``. The key itself (``apiKey``) is public but is not kept here.
    """

    name: str = msgspec.field(default="", name="apiKeyName")
    permissions: list[str] = []
    nonce_window: int = msgspec.field(default=0, name="nonceWindow")
    valid_until: str = msgspec.field(default="0", name="validUntil")
    ip_allowlist: list[str] = msgspec.field(default_factory=list, name="ipAllowlist")


class BalanceExEntry(_Reply, frozen=True):
    """BalanceEx: available = balance + credit - credit_used - hold_trade."""

    balance: Decimal
    hold_trade: Decimal = _ZERO
    credit: Decimal | None = None
    credit_used: Decimal | None = None


# --- public ------------------------------------------------------------------------------------


class ServerTime(_Reply, frozen=True):
    unixtime: int
    rfc1123: str = ""


class SystemStatus(_Reply, frozen=True):
    """``status``: online, maintenance, cancel_only or post_only; ``timestamp`` RFC3339."""

    status: str
    timestamp: str = ""


class AssetInfo(_Reply, frozen=True):
    altname: str
    decimals: int
    display_decimals: int | None = None
    aclass: str = "currency"
    collateral_value: Decimal | None = None
    status: str | None = None


class AssetPairInfo(_Reply, frozen=True):
    """A tradable pair's rules: price decimals (``pair_decimals``), volume decimals
    (``lot_decimals``), minimum volume (``ordermin``), minimum cost (``costmin``), ``tick_size``.
    """

    altname: str
    base: str
    quote: str
    pair_decimals: int
    lot_decimals: int
    cost_decimals: int | None = None
    wsname: str | None = None
    aclass_base: str = "currency"
    aclass_quote: str = "currency"
    lot: str | None = None
    lot_multiplier: int = 1
    leverage_buy: list[int] = []
    leverage_sell: list[int] = []
    fees: list[list[Decimal]] = []
    fees_maker: list[list[Decimal]] = []
    fee_volume_currency: str | None = None
    margin_call: Decimal | None = None
    margin_stop: Decimal | None = None
    ordermin: Decimal | None = None
    costmin: Decimal | None = None
    tick_size: Decimal | None = None
    status: str = "online"
    long_position_limit: Decimal | None = None
    short_position_limit: Decimal | None = None


class TickerInfo(_Reply, frozen=True):
    """Ticker: a/b = [price, whole-lot volume, lot volume], c = [last price, volume],
    v/p/l/h = [today, last 24 h] volume, VWAP, low, high; t = trade counts; o = today's open.
    """

    a: list[Decimal]
    b: list[Decimal]
    c: list[Decimal]
    v: list[Decimal] = []
    p: list[Decimal] = []
    t: list[int] = []
    l: list[Decimal] = []  # noqa: E741 - Kraken's field name
    h: list[Decimal] = []
    o: Decimal | None = None

    @property
    def ask(self) -> Decimal:
        return self.a[0]

    @property
    def bid(self) -> Decimal:
        return self.b[0]

    @property
    def last(self) -> Decimal:
        return self.c[0]


# --- decoding ----------------------------------------------------------------------------------

T = TypeVar("T")


class _Envelope(msgspec.Struct, Generic[T]):
    error: list[str] = []
    result: T | None = None


class _ErrorsOnly(msgspec.Struct):
    error: list[str] = []


RESULT_TYPES: Mapping[str, Any] = {
    "AddOrder": AddOrderResult,
    "AddOrderBatch": AddOrderBatchResult,
    "AmendOrder": AmendOrderResult,
    "EditOrder": EditOrderResult,
    "CancelOrder": CancelOrderResult,
    "CancelOrderBatch": CancelOrderBatchResult,
    "CancelAll": CancelOrderResult,
    "CancelAllOrdersAfter": CancelAllOrdersAfterResult,
    "QueryOrders": dict[str, OrderInfo],
    "OpenOrders": OpenOrdersResult,
    "ClosedOrders": ClosedOrdersResult,
    "QueryTrades": dict[str, TradeInfo],
    "TradesHistory": TradesHistoryResult,
    "GetWebSocketsToken": WebSocketsToken,
    "Balance": dict[str, Decimal],
    "BalanceEx": dict[str, BalanceExEntry],
    "GetApiKeyInfo": ApiKeyInfo,
    "Time": ServerTime,
    "SystemStatus": SystemStatus,
    "Assets": dict[str, AssetInfo],
    "AssetPairs": dict[str, AssetPairInfo],
    "Ticker": dict[str, TickerInfo],
}
"""The result type of each endpoint, by Kraken's method name."""

_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
_decoders_lock = threading.Lock()
_errors_decoder = msgspec.json.Decoder(_ErrorsOnly, strict=False)


def _decoder_for(result_type: Any) -> msgspec.json.Decoder[Any]:
    decoder = _decoders.get(result_type)
    if decoder is None:
        with _decoders_lock:
            decoder = _decoders.get(result_type)
            if decoder is None:
                decoder = msgspec.json.Decoder(_Envelope[result_type], strict=False)
                _decoders[result_type] = decoder
    return decoder


def _is_warning_only(errors: list[str]) -> bool:
    return all(error.startswith("W") for error in errors)


def decode_response(body: bytes, result_type: type[T] | Any, *, endpoint: str = "response") -> T:
    """Decode a Kraken reply into ``result_type``.

    Raises KrakenAPIError when ``error`` holds an error (entries that are all warnings, ``W...``,
    do not fail a reply that has a result) and MalformedResponse, naming ``endpoint`` and the
    problem, when the body is not JSON or does not fit.
    """
    try:
        envelope = _decoder_for(result_type).decode(body)
    except msgspec.DecodeError as error:
        # Wrong shape: an error reply may still be readable (and is what matters).
        try:
            errors = _errors_decoder.decode(body).error
        except msgspec.DecodeError:
            errors = []
        if errors and not _is_warning_only(errors):
            raise KrakenAPIError(errors, endpoint=endpoint) from None
        reason = str(error) if isinstance(error, msgspec.ValidationError) else f"not JSON: {error}"
        raise MalformedResponse(endpoint, reason) from None
    if envelope.error and not (_is_warning_only(envelope.error) and envelope.result is not None):
        raise KrakenAPIError(envelope.error, endpoint=endpoint)
    if envelope.result is None:
        raise MalformedResponse(endpoint, "neither a result nor an error")
    return envelope.result


def decode_result(method: str, body: bytes) -> Any:
    """Decode a reply of the Kraken endpoint ``method`` (e.g. ``"AddOrder"``) by its known type."""
    try:
        result_type = RESULT_TYPES[method]
    except KeyError:
        raise ValueError(f"no result type known for Kraken method {method!r}") from None
    return decode_response(body, result_type, endpoint=method)
