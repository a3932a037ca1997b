"""Kraken WebSocket v2 messages: msgspec Structs, one decoder entry point and request builders.

Prices and quantities travel as JSON numbers; they decode to ``Decimal`` exactly (msgspec reads
the number's text) and encode back as JSON numbers, never through float.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

import msgspec

__all__ = [
    "AddOrderResponse",
    "AmendAck",
    "AmendOrderResponse",
    "BatchAddResponse",
    "BatchCancelResponse",
    "CancelAck",
    "CancelAfterAck",
    "CancelAllOrdersAfterResponse",
    "CancelAllResponse",
    "CancelOrderResponse",
    "ConditionalSpec",
    "CountAck",
    "ExecutionsMessage",
    "Heartbeat",
    "MalformedMessage",
    "MethodResponse",
    "OrderAck",
    "OrderSpec",
    "Pong",
    "StatusMessage",
    "SubscribeResult",
    "SubscriptionAck",
    "SystemStatus",
    "Ticker",
    "TickerMessage",
    "TriggerSpec",
    "UnknownMessage",
    "WsContingent",
    "WsExecution",
    "WsFee",
    "WsMessage",
    "WsRequest",
    "WsTriggers",
    "add_order",
    "amend_order",
    "batch_add",
    "batch_cancel",
    "cancel_all",
    "cancel_all_orders_after",
    "cancel_order",
    "decode_message",
    "decode_request",
    "encode",
    "ping",
    "redact",
    "subscribe_executions",
    "subscribe_ticker",
]


class _Wire(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base of every wire Struct: immutable and sparse when encoded (msgspec does not inherit
    kw_only, so each subclass repeats it)."""


# ---------------------------------------------------------------- executions channel


class WsFee(_Wire, frozen=True, kw_only=True):
    asset: str
    qty: Decimal


class WsTriggers(_Wire, frozen=True, kw_only=True):
    reference: str | None = None
    price: Decimal | None = None
    price_type: str | None = None
    actual_price: Decimal | None = None
    peak_price: Decimal | None = None
    last_price: Decimal | None = None
    status: str | None = None
    timestamp: str | None = None


class WsContingent(_Wire, frozen=True, kw_only=True):
    order_type: str | None = None
    trigger_price: Decimal | None = None
    trigger_price_type: str | None = None
    limit_price: Decimal | None = None
    limit_price_type: str | None = None


class WsExecution(_Wire, frozen=True, kw_only=True):
    """One execution report of the ``executions`` channel; every field is optional because
    Kraken sends sparse updates whose field set depends on ``exec_type``.

    ``ratecount`` is not in Kraken's v2 reference; it is kept if the ``ratecounter`` option
    ever delivers it on a report (as v1's openOrders did). Unknown fields are ignored.
    """

    order_id: str | None = None
    cl_ord_id: str | None = None
    order_userref: int | None = None
    symbol: str | None = None
    side: str | None = None
    order_type: str | None = None
    order_qty: Decimal | None = None
    display_qty: Decimal | None = None
    display_qty_remain: Decimal | None = None
    cash_order_qty: Decimal | None = None
    limit_price: Decimal | None = None
    limit_price_type: str | None = None
    time_in_force: str | None = None
    effective_time: str | None = None
    expire_time: str | None = None
    post_only: bool | None = None
    reduce_only: bool | None = None
    margin: bool | None = None
    margin_borrow: bool | None = None
    liquidated: bool | None = None
    no_mpp: bool | None = None
    fee_ccy_pref: str | None = None
    exec_type: str | None = None
    order_status: str | None = None
    exec_id: str | None = None
    trade_id: int | None = None
    last_qty: Decimal | None = None
    last_price: Decimal | None = None
    liquidity_ind: str | None = None
    cost: Decimal | None = None
    cum_qty: Decimal | None = None
    cum_cost: Decimal | None = None
    avg_price: Decimal | None = None
    fees: list[WsFee] | None = None
    fee_usd_equiv: Decimal | None = None
    timestamp: str | None = None
    reason: str | None = None
    cancel_reason: str | None = None
    amended: bool | None = None
    triggers: WsTriggers | None = None
    stop_price: Decimal | None = None
    trigger: str | None = None
    triggered_price: Decimal | None = None
    contingent: WsContingent | None = None
    position_status: str | None = None
    ord_ref_id: str | None = None
    sender_sub_id: str | None = None
    ext_ord_id: str | None = None
    ext_exec_id: str | None = None
    user: str | None = None
    ratecount: Decimal | None = None


class ExecutionsMessage(_Wire, frozen=True, kw_only=True, tag_field="channel", tag="executions"):
    type: Literal["snapshot", "update"]
    data: list[WsExecution]
    sequence: int | None = None


# ---------------------------------------------------------------- admin and public channels


class Heartbeat(_Wire, frozen=True, kw_only=True, tag_field="channel", tag="heartbeat"):
    """``{"channel": "heartbeat"}``, about once a second while anything is subscribed."""


class SystemStatus(_Wire, frozen=True, kw_only=True):
    api_version: str | None = None
    # Kraken's connection ids exceed int64; Python ints hold any uint64.
    connection_id: int | None = None
    system: str | None = None
    version: str | None = None


class StatusMessage(_Wire, frozen=True, kw_only=True, tag_field="channel", tag="status"):
    type: str | None = None
    data: list[SystemStatus]


class Ticker(_Wire, frozen=True, kw_only=True):
    symbol: str
    bid: Decimal | None = None
    bid_qty: Decimal | None = None
    ask: Decimal | None = None
    ask_qty: Decimal | None = None
    last: Decimal | None = None
    volume: Decimal | None = None
    vwap: Decimal | None = None
    low: Decimal | None = None
    high: Decimal | None = None
    change: Decimal | None = None
    change_pct: Decimal | None = None
    timestamp: str | None = None


class TickerMessage(_Wire, frozen=True, kw_only=True, tag_field="channel", tag="ticker"):
    type: Literal["snapshot", "update"]
    data: list[Ticker]


class Pong(_Wire, frozen=True, kw_only=True, tag_field="method", tag="pong"):
    req_id: int | None = None
    time_in: str | None = None
    time_out: str | None = None
    warnings: list[str] | None = None


class UnknownMessage(_Wire, frozen=True, kw_only=True):
    """A well-formed JSON object on a channel or method this codec does not model."""

    channel: str | None = None
    method: str | None = None
    type: str | None = None
    raw: str


# ---------------------------------------------------------------- method responses


class MethodResponse(_Wire, frozen=True, kw_only=True):
    """Common envelope of every method response; used as is for ``ping`` errors, methods this
    codec does not model, and errors Kraken could not tie to a request (no ``method``, no
    ``req_id``: e.g. a frame it could not parse)."""

    method: str | None = None
    success: bool
    error: str | None = None
    req_id: int | None = None
    time_in: str | None = None
    time_out: str | None = None
    warnings: list[str] | None = None


class SubscribeResult(_Wire, frozen=True, kw_only=True):
    channel: str
    symbol: str | None = None
    snapshot: bool | None = None
    event_trigger: str | None = None
    snap_orders: bool | None = None
    snap_trades: bool | None = None
    order_status: bool | None = None
    ratecounter: bool | None = None
    maxratecount: int | None = None
    warnings: list[str] | None = None


class SubscriptionAck(MethodResponse, frozen=True, kw_only=True):
    """Answer to ``subscribe``/``unsubscribe``; ticker subscriptions get one per symbol."""

    result: SubscribeResult | None = None


class OrderAck(_Wire, frozen=True, kw_only=True):
    """One placed order: add_order's result, or one entry of batch_add's (in request order).
    ``error`` is kept if an entry reports its own rejection, as REST's AddOrderBatch does."""

    order_id: str | None = None
    cl_ord_id: str | None = None
    order_userref: int | None = None
    error: str | None = None
    warnings: list[str] | None = None


class AmendAck(_Wire, frozen=True, kw_only=True):
    amend_id: str | None = None
    order_id: str | None = None
    cl_ord_id: str | None = None
    warnings: list[str] | None = None


class CancelAck(_Wire, frozen=True, kw_only=True):
    order_id: str | None = None
    cl_ord_id: str | None = None
    warnings: list[str] | None = None


class CountAck(_Wire, frozen=True, kw_only=True):
    count: int
    warnings: list[str] | None = None


class CancelAfterAck(_Wire, frozen=True, kw_only=True):
    current_time: str | None = msgspec.field(default=None, name="currentTime")
    trigger_time: str | None = msgspec.field(default=None, name="triggerTime")


class AddOrderResponse(MethodResponse, frozen=True, kw_only=True):
    result: OrderAck | None = None


class AmendOrderResponse(MethodResponse, frozen=True, kw_only=True):
    result: AmendAck | None = None


class CancelOrderResponse(MethodResponse, frozen=True, kw_only=True):
    """One arrives per cancelled identifier when several were given."""

    result: CancelAck | None = None


class BatchAddResponse(MethodResponse, frozen=True, kw_only=True):
    result: list[OrderAck] | None = None


class BatchCancelResponse(MethodResponse, frozen=True, kw_only=True):
    result: CountAck | None = None


class CancelAllResponse(MethodResponse, frozen=True, kw_only=True):
    result: CountAck | None = None


class CancelAllOrdersAfterResponse(MethodResponse, frozen=True, kw_only=True):
    result: CancelAfterAck | None = None


WsMessage = (
    ExecutionsMessage
    | Heartbeat
    | StatusMessage
    | TickerMessage
    | Pong
    | MethodResponse
    | UnknownMessage
)
"""Everything ``decode_message`` can return (MethodResponse covers its subclasses)."""


# ---------------------------------------------------------------- decoding


class MalformedMessage(ValueError):
    """A WS message that is not JSON, not an object, or does not fit its channel's schema."""


class _Envelope(msgspec.Struct):
    channel: str | None = None
    method: str | None = None
    type: str | None = None
    success: Any = None


_envelope_decoder = msgspec.json.Decoder(_Envelope)
_channel_decoders: dict[str, msgspec.json.Decoder[Any]] = {
    "executions": msgspec.json.Decoder(ExecutionsMessage),
    "heartbeat": msgspec.json.Decoder(Heartbeat),
    "status": msgspec.json.Decoder(StatusMessage),
    "ticker": msgspec.json.Decoder(TickerMessage),
}
_method_decoders: dict[str, msgspec.json.Decoder[Any]] = {
    "subscribe": msgspec.json.Decoder(SubscriptionAck),
    "unsubscribe": msgspec.json.Decoder(SubscriptionAck),
    "pong": msgspec.json.Decoder(Pong),
    "add_order": msgspec.json.Decoder(AddOrderResponse),
    "amend_order": msgspec.json.Decoder(AmendOrderResponse),
    "cancel_order": msgspec.json.Decoder(CancelOrderResponse),
    "batch_add": msgspec.json.Decoder(BatchAddResponse),
    "batch_cancel": msgspec.json.Decoder(BatchCancelResponse),
    "cancel_all": msgspec.json.Decoder(CancelAllResponse),
    "cancel_all_orders_after": msgspec.json.Decoder(CancelAllOrdersAfterResponse),
}
_generic_response_decoder = msgspec.json.Decoder(MethodResponse)


def _preview(raw: bytes | str) -> str:
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    return text if len(text) <= 160 else text[:160] + "..."


def decode_message(raw: bytes | str) -> WsMessage:
    """Decode one WS v2 frame into its Struct, dispatching on ``method`` then ``channel``.

    Raises MalformedMessage naming the channel or method and the offending field.
    """
    try:
        envelope = _envelope_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise MalformedMessage(f"not a JSON object ({exc}): {_preview(raw)}") from None
    if envelope.method is not None:
        what = f"method {envelope.method!r}"
        decoder = _method_decoders.get(envelope.method)
        if decoder is None:
            try:
                return _generic_response_decoder.decode(raw)
            except msgspec.DecodeError:
                decoder = None  # not a response shape either: hand it on as unknown
    elif envelope.channel is not None:
        what = f"channel {envelope.channel!r}"
        decoder = _channel_decoders.get(envelope.channel)
    elif envelope.success is not None:
        # An answer Kraken could not tie to a method: an error with no method and no req_id.
        what = "an answer without a method"
        decoder = _generic_response_decoder
    else:
        raise MalformedMessage(f"message has neither 'channel' nor 'method': {_preview(raw)}")
    if decoder is None:
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        return UnknownMessage(
            channel=envelope.channel, method=envelope.method, type=envelope.type, raw=text
        )
    try:
        return decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise MalformedMessage(f"bad message on {what}: {exc}: {_preview(raw)}") from None


_encoder = msgspec.json.Encoder(decimal_format="number")


def encode(message: msgspec.Struct | dict[str, Any]) -> bytes:
    """Encode a request or message as Kraken expects it: Decimals as JSON numbers."""
    return _encoder.encode(message)


_TOKEN_FIELD = re.compile(rb'("token"\s*:\s*")[^"]*(")')


def redact(payload: bytes) -> bytes:
    """Return an encoded frame with every ``token`` value masked, for logging."""
    return _TOKEN_FIELD.sub(rb"\1***\2", payload)


# ---------------------------------------------------------------- requests


class WsRequest(_Wire, frozen=True, kw_only=True):
    """One request frame: ``{"method": ..., "params": {...}, "req_id": ...}``."""

    method: str
    params: dict[str, Any] | None = None
    req_id: int | None = None


# Untyped params keep their numbers exact: JSON floats become Decimal, never float.
_request_decoder = msgspec.json.Decoder(WsRequest, float_hook=Decimal)


def decode_request(raw: bytes | str) -> WsRequest:
    """Decode a client request frame (the simulator's side of the wire); numbers in params
    come back as int or Decimal."""
    try:
        return _request_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise MalformedMessage(f"bad request: {exc}: {_preview(raw)}") from None


def _number(field: str, value: object) -> Decimal | int:
    # A float here would already have lost the exact price; refuse it rather than guess.
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{field} must be a Decimal or int, not {type(value).__name__}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"{field} must be finite, got {value}")
    return value


def _check_numbers(spec: msgspec.Struct, names: Sequence[str]) -> None:
    for name in names:
        value = getattr(spec, name)
        if value is not None:
            _number(name, value)


class TriggerSpec(_Wire, frozen=True, kw_only=True):
    """``triggers`` of a triggered order type (stop-loss, take-profit, trailing)."""

    reference: Literal["index", "last"] | None = None
    price: Decimal | int
    price_type: Literal["static", "pct", "quote"] | None = None

    def __post_init__(self) -> None:
        _check_numbers(self, ("price",))


class ConditionalSpec(_Wire, frozen=True, kw_only=True):
    """``conditional``: the OTO close order Kraken places on each fill of the primary."""

    order_type: str
    limit_price: Decimal | int | None = None
    limit_price_type: str | None = None
    trigger_price: Decimal | int | None = None
    trigger_price_type: str | None = None

    def __post_init__(self) -> None:
        _check_numbers(self, ("limit_price", "trigger_price"))


_ORDER_NUMBERS = ("order_qty", "limit_price", "display_qty", "cash_order_qty")


class OrderSpec(_Wire, frozen=True, kw_only=True):
    """The per-order fields of ``add_order`` and of each ``batch_add`` entry."""

    order_type: str
    side: Literal["buy", "sell"]
    order_qty: Decimal | int
    limit_price: Decimal | int | None = None
    limit_price_type: str | None = None
    triggers: TriggerSpec | None = None
    time_in_force: Literal["gtc", "gtd", "ioc", "fok"] | None = None
    margin: bool | None = None
    post_only: bool | None = None
    reduce_only: bool | None = None
    effective_time: str | None = None
    expire_time: str | None = None
    cl_ord_id: str | None = None
    order_userref: int | None = None
    conditional: ConditionalSpec | None = None
    display_qty: Decimal | int | None = None
    fee_preference: Literal["base", "quote"] | None = None
    stp_type: Literal["cancel_newest", "cancel_oldest", "cancel_both"] | None = None
    cash_order_qty: Decimal | int | None = None
    sender_sub_id: str | None = None

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise ValueError(f"side must be 'buy' or 'sell', got {self.side!r}")
        _check_numbers(self, _ORDER_NUMBERS)
        if self.cl_ord_id is not None and self.order_userref is not None:
            raise ValueError("cl_ord_id and order_userref are mutually exclusive")


def _fields(spec: msgspec.Struct) -> dict[str, Any]:
    return {
        name: getattr(spec, name)
        for name in spec.__struct_fields__
        if getattr(spec, name) is not None
    }


def _params(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def subscribe_executions(
    token: str,
    *,
    snap_orders: bool = True,
    snap_trades: bool = True,
    ratecounter: bool = True,
    order_status: bool = True,
    req_id: int | None = None,
) -> WsRequest:
    """Subscribe to the private ``executions`` channel (open orders and last 50 fills)."""
    params = {
        "channel": "executions",
        "token": token,
        "snap_orders": snap_orders,
        "snap_trades": snap_trades,
        "order_status": order_status,
        "ratecounter": ratecounter,
    }
    return WsRequest(method="subscribe", params=params, req_id=req_id)


def subscribe_ticker(
    symbols: Sequence[str],
    *,
    event_trigger: Literal["trades", "bbo"] = "trades",
    snapshot: bool = True,
    req_id: int | None = None,
) -> WsRequest:
    """Subscribe to the public ``ticker`` channel for ``symbols`` (``BTC/USD`` form)."""
    if isinstance(symbols, str):
        raise TypeError("symbols must be a sequence of symbols, not one string")
    params = {
        "channel": "ticker",
        "symbol": list(symbols),
        "event_trigger": event_trigger,
        "snapshot": snapshot,
    }
    return WsRequest(method="subscribe", params=params, req_id=req_id)


def ping(req_id: int | None = None) -> WsRequest:
    """Application-level ping; Kraken answers with ``pong`` and the same req_id."""
    return WsRequest(method="ping", req_id=req_id)


def add_order(
    token: str,
    order: OrderSpec,
    *,
    symbol: str,
    deadline: str | None = None,
    validate: bool | None = None,
    req_id: int | None = None,
) -> WsRequest:
    """Place one order."""
    params = _fields(order) | _params(
        symbol=symbol, deadline=deadline, validate=validate, token=token
    )
    return WsRequest(method="add_order", params=params, req_id=req_id)


def amend_order(
    token: str,
    *,
    order_id: str | None = None,
    cl_ord_id: str | None = None,
    order_qty: Decimal | int | None = None,
    display_qty: Decimal | int | None = None,
    limit_price: Decimal | int | None = None,
    limit_price_type: str | None = None,
    post_only: bool | None = None,
    trigger_price: Decimal | int | None = None,
    trigger_price_type: str | None = None,
    deadline: str | None = None,
    symbol: str | None = None,
    req_id: int | None = None,
) -> WsRequest:
    """Amend an order in place, named by exactly one of order_id or cl_ord_id."""
    if (order_id is None) == (cl_ord_id is None):
        raise ValueError("amend_order needs exactly one of order_id or cl_ord_id")
    for name, value in (
        ("order_qty", order_qty),
        ("display_qty", display_qty),
        ("limit_price", limit_price),
        ("trigger_price", trigger_price),
    ):
        if value is not None:
            _number(name, value)
    params = _params(
        order_id=order_id,
        cl_ord_id=cl_ord_id,
        order_qty=order_qty,
        display_qty=display_qty,
        limit_price=limit_price,
        limit_price_type=limit_price_type,
        post_only=post_only,
        trigger_price=trigger_price,
        trigger_price_type=trigger_price_type,
        deadline=deadline,
        symbol=symbol,
        token=token,
    )
    return WsRequest(method="amend_order", params=params, req_id=req_id)


def cancel_order(
    token: str,
    *,
    order_ids: Sequence[str] = (),
    cl_ord_ids: Sequence[str] = (),
    order_userrefs: Sequence[int] = (),
    req_id: int | None = None,
) -> WsRequest:
    """Cancel orders by Kraken id, client id or userref (each an array on the wire)."""
    if not (order_ids or cl_ord_ids or order_userrefs):
        raise ValueError("cancel_order needs at least one order id, cl_ord_id or userref")
    params = _params(
        order_id=list(order_ids) or None,
        cl_ord_id=list(cl_ord_ids) or None,
        order_userref=list(order_userrefs) or None,
        token=token,
    )
    return WsRequest(method="cancel_order", params=params, req_id=req_id)


def batch_add(
    token: str,
    orders: Sequence[OrderSpec],
    *,
    symbol: str,
    deadline: str | None = None,
    validate: bool | None = None,
    req_id: int | None = None,
) -> WsRequest:
    """Place 2 to 15 orders on one symbol in one request."""
    if not 2 <= len(orders) <= 15:
        raise ValueError(f"batch_add takes 2 to 15 orders, got {len(orders)}")
    params = _params(
        deadline=deadline,
        orders=[_fields(order) for order in orders],
        symbol=symbol,
        token=token,
        validate=validate,
    )
    return WsRequest(method="batch_add", params=params, req_id=req_id)


def batch_cancel(
    token: str,
    *,
    orders: Sequence[str] = (),
    cl_ord_ids: Sequence[str] = (),
    req_id: int | None = None,
) -> WsRequest:
    """Cancel 2 to 50 orders named by order id / userref strings or cl_ord_ids."""
    count = len(orders) + len(cl_ord_ids)
    if not 2 <= count <= 50:
        raise ValueError(f"batch_cancel takes 2 to 50 identifiers, got {count}")
    params = _params(orders=list(orders) or None, cl_ord_id=list(cl_ord_ids) or None, token=token)
    return WsRequest(method="batch_cancel", params=params, req_id=req_id)


def cancel_all(token: str, *, req_id: int | None = None) -> WsRequest:
    """Cancel every open order, untriggered ones included."""
    return WsRequest(method="cancel_all", params={"token": token}, req_id=req_id)


def cancel_all_orders_after(token: str, timeout_s: int, *, req_id: int | None = None) -> WsRequest:
    """Arm (or with 0, disarm) the dead man's switch: cancel all after ``timeout_s``."""
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int):
        raise TypeError(f"timeout_s must be an int number of seconds, not {timeout_s!r}")
    if not 0 <= timeout_s < 86400:
        raise ValueError(f"timeout_s must be in [0, 86400), got {timeout_s}")
    params = {"timeout": timeout_s, "token": token}
    return WsRequest(method="cancel_all_orders_after", params=params, req_id=req_id)
