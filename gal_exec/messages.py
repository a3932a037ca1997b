"""The public message protocol: what the signal pipeline sends in (signals and commands) and
what comes out (an ExecutionReport per step of every order, a BatchReport per batch).

Inbound messages are frozen msgspec Structs forming a tagged union on the field ``"type"`` (the class
name), so one JSON object per line decodes to the right message. Prices, quantities and fees are
``decimal.Decimal`` and travel as JSON strings. A message built in Python is checked the same way
(``validate_inbound``) before the engine acts on it: a float or a string where a Decimal belongs
is refused, never converted.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from gal_exec.core.vocabulary import (
    OrderStatus,
    OrderType,
    Role,
    Side,
    TimeInForce,
)

__all__ = [
    "ORDER_TYPES",
    "AmendSignal",
    "BatchItemOutcome",
    "BatchReport",
    "BatchSubmit",
    "CancelSignal",
    "ExecutionReport",
    "Halt",
    "InboundMessage",
    "MessageDecodeError",
    "OrderStatus",
    "OrderType",
    "Resume",
    "Role",
    "Side",
    "TimeInForce",
    "TradeSignalApproved",
    "decode_inbound",
    "decode_report",
    "encode",
    "validate_inbound",
]

ORDER_TYPES: tuple[str, ...] = tuple(OrderType)
"""The order types a signal may ask for, as their wire text."""


class _Inbound(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", forbid_unknown_fields=True
):
    pass


class TradeSignalApproved(_Inbound, frozen=True, tag=True):
    """An approved trade: place this order (and its stop-loss / take-profit children, if given)."""

    signal_id: str
    pair: str  # "XBT/USD", "BTC/USD" or "XBTUSD"
    side: Side
    order_type: OrderType
    quantity: Decimal
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None
    sl_price: Decimal | None = None
    tp_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    expire_at: float | None = None  # epoch seconds, for GTD
    timeout_s: float | None = (
        None  # cancel a resting limit order after this long; None: config default
    )
    post_only: bool = False
    reduce_only: bool = False


class CancelSignal(_Inbound, frozen=True, tag=True):
    """Cancel every live order of a signal (entry and children)."""

    signal_id: str


class AmendSignal(_Inbound, frozen=True, kw_only=True, tag=True):
    """Amend a live order in place (Kraken's AmendOrder: the same txid; queue priority kept where
    Kraken keeps it). Name the order by ``signal_id`` (that signal's entry order) or by
    ``client_order_id`` (any order of the engine, e.g. a stop-loss child), and give the figures to
    set: ``quantity`` (the new total, above what has filled), ``limit_price``, ``trigger_price``.
    """

    signal_id: str | None = None
    client_order_id: str | None = None
    quantity: Decimal | None = None
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None


class Halt(_Inbound, frozen=True, tag=True):
    """Stop accepting signals; optionally cancel every open order this engine placed."""

    reason: str = ""
    cancel_open: bool = False


class Resume(_Inbound, frozen=True, tag=True):
    """Lift a Halt."""


class BatchSubmit(_Inbound, frozen=True, tag=True):
    """Several signals checked as a whole (exposure, all-or-nothing or best-effort), then placed.

    ``mode`` None takes the configured default (risk.batch_mode).
    """

    batch_id: str
    signals: list[TradeSignalApproved]
    mode: BatchMode | None = None


InboundMessage = TradeSignalApproved | CancelSignal | AmendSignal | Halt | Resume | BatchSubmit
BatchMode = Literal["all_or_nothing", "best_effort"]


class ExecutionReport(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=False):
    """One step of one order's life, as reported to every sink."""

    signal_id: str
    client_order_id: str
    exchange_order_id: str | None = None
    parent_client_order_id: str | None = None
    role: Role = Role.ENTRY
    pair: str = ""
    side: str = ""
    order_type: str = ""
    status: OrderStatus = OrderStatus.PENDING_SUBMIT
    quantity: Decimal = Decimal(0)
    filled_quantity: Decimal = Decimal(0)
    last_fill_quantity: Decimal | None = None
    last_fill_price: Decimal | None = None
    average_price: Decimal | None = None
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None
    fee: Decimal = Decimal(0)
    fee_asset: str | None = None
    trade_id: str | None = None
    reason: str | None = None
    error_code: str | None = None
    exchange_time: float | None = None
    engine_time: float = 0.0
    sequence: int = 0


class MessageDecodeError(ValueError):
    """A line that is not a valid inbound message; the text names the field and the problem."""


_inbound_decoder = msgspec.json.Decoder(InboundMessage)
_report_decoder = msgspec.json.Decoder(ExecutionReport)
_encoder = msgspec.json.Encoder()


def decode_inbound(line: bytes | str) -> InboundMessage:
    """Decode one JSON line into an inbound message, or raise MessageDecodeError naming the problem."""
    try:
        return _inbound_decoder.decode(line)
    except msgspec.ValidationError as exc:
        text = str(exc)
        if "Expected `object`, got" in text and "$" not in text:
            text = "expected a JSON object" + text.removeprefix("Expected `object`")
        raise MessageDecodeError(_humanise(text)) from None
    except msgspec.DecodeError as exc:
        raise MessageDecodeError(f"not valid JSON: {exc}") from None


def _humanise(text: str) -> str:
    """msgspec says `$.quantity`; people say quantity."""
    text = text.replace("`$.", "`").replace(" - at `$`", "")
    if text.startswith("Object missing required field"):
        return "missing required field " + text.split("field ", 1)[1]
    if text.startswith("Missing required field"):
        return "missing required field " + text.split("field ", 1)[1]
    if text.startswith("Invalid value") and text.endswith("at `type`"):
        kind = text.split("'")[1] if "'" in text else text
        return (
            f"unknown message type {kind!r}; expected one of TradeSignalApproved, CancelSignal, "
            "AmendSignal, Halt, Resume, BatchSubmit"
        )
    return text[0].lower() + text[1:]


def decode_report(line: bytes | str) -> ExecutionReport:
    """Decode one JSON line written by the report sink."""
    return _report_decoder.decode(line)


def encode(message: msgspec.Struct) -> bytes:
    """Encode any protocol Struct as one JSON object (no trailing newline)."""
    return _encoder.encode(message)


_DECIMAL_FIELDS = ("quantity", "limit_price", "trigger_price", "sl_price", "tp_price")
_AMEND_DECIMAL_FIELDS = ("quantity", "limit_price", "trigger_price")
_EXCERPT = 64


def validate_inbound(message: object) -> InboundMessage | str:
    """A message built in Python, checked as the JSON path checks a line: the message with its
    enums normalised, or one sentence naming what is wrong. Money must already be a Decimal."""
    if not isinstance(
        message, TradeSignalApproved | CancelSignal | AmendSignal | Halt | Resume | BatchSubmit
    ):
        return f"not a message the engine takes: {_excerpt(repr(message))}"
    signals: list[object] = []
    if isinstance(message, AmendSignal):
        problem = _decimal_problem(message, _AMEND_DECIMAL_FIELDS)
        if problem is not None:
            return problem
    if isinstance(message, BatchSubmit):
        if not isinstance(message.signals, list):
            return f"signals must be a list; got {type(message.signals).__name__}"
        signals = list(message.signals)
    elif isinstance(message, TradeSignalApproved):
        signals = [message]
    for signal in signals:
        if not isinstance(signal, TradeSignalApproved):
            return f"a batch holds TradeSignalApproved messages; got {type(signal).__name__}"
        problem = _decimal_problem(signal, _DECIMAL_FIELDS)
        if problem is not None:
            return problem
    try:
        return msgspec.convert(
            msgspec.to_builtins(message, builtin_types=(Decimal,)), InboundMessage, strict=True
        )
    except msgspec.ValidationError as exc:
        return _humanise(str(exc))


def _decimal_problem(message: object, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = getattr(message, name)
        if value is not None and not isinstance(value, Decimal):
            return (
                f"{name} must be a Decimal (or a decimal string in JSON); got "
                f"{type(value).__name__} {_excerpt(repr(value))}"
            )
    return None


def _excerpt(text: str) -> str:
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


class BatchItemOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """One signal of a batch: ``status`` is "rejected" or its entry order's settled status."""

    signal_id: str
    status: str
    client_order_id: str | None = None
    exchange_order_id: str | None = None
    reason: str | None = None


class BatchReport(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of a batch: "placed" (every signal placed), "partial" or "rejected" (none).

    ``reason`` says why a batch was refused as a whole (an empty batch, say).
    """

    batch_id: str
    mode: BatchMode
    status: Literal["placed", "partial", "rejected"]
    placed: int
    rejected: int
    items: list[BatchItemOutcome]
    engine_time: float
    reason: str | None = None
