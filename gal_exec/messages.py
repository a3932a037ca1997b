"""The public message protocol: what the signal pipeline sends in, and the ExecutionReport that comes out.

Inbound messages are frozen msgspec Structs forming a tagged union on the field ``"type"`` (the class
name), so one JSON object per line decodes to the right message. Prices, quantities and fees are
``decimal.Decimal`` and travel as JSON strings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from gal_exec.core import numbers

__all__ = [
    "ORDER_TYPES",
    "BatchSubmit",
    "CancelSignal",
    "ExecutionReport",
    "Halt",
    "InboundMessage",
    "MessageDecodeError",
    "OrderRole",
    "OrderStatus",
    "Resume",
    "TradeSignalApproved",
    "decode_inbound",
    "encode",
    "encode_report",
    "signal_problems",
]

OrderType = Literal[
    "market",
    "limit",
    "stop-loss",
    "take-profit",
    "stop-loss-limit",
    "take-profit-limit",
    "trailing-stop",
    "trailing-stop-limit",
]
ORDER_TYPES: tuple[str, ...] = OrderType.__args__  # type: ignore[attr-defined]
Side = Literal["buy", "sell"]
TimeInForce = Literal["GTC", "IOC", "GTD"]
OrderRole = Literal["entry", "stop_loss", "take_profit"]
OrderStatus = Literal[
    "pending_submit",
    "submitted",
    "submit_unknown",
    "open",
    "partially_filled",
    "pending_cancel",
    "filled",
    "canceled",
    "expired",
    "rejected",
]


class _Inbound(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", forbid_unknown_fields=True
):
    pass


class TradeSignalApproved(_Inbound, tag=True):
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
    time_in_force: TimeInForce = "GTC"
    expire_at: float | None = None  # epoch seconds, for GTD
    timeout_s: float | None = (
        None  # cancel a resting limit order after this long; None: config default
    )
    post_only: bool = False
    reduce_only: bool = False


class CancelSignal(_Inbound, tag=True):
    """Cancel every live order of a signal (entry and children)."""

    signal_id: str


class Halt(_Inbound, tag=True):
    """Stop accepting signals; optionally cancel every open order this engine placed."""

    reason: str = ""
    cancel_open: bool = False


class Resume(_Inbound, tag=True):
    """Lift a Halt."""


class BatchSubmit(_Inbound, tag=True):
    """Several signals checked as a whole (exposure, all-or-nothing or best-effort), then placed.

    ``mode`` None takes the configured default (risk.batch_mode).
    """

    batch_id: str
    signals: list[TradeSignalApproved]
    mode: Literal["all_or_nothing", "best_effort"] | None = None


InboundMessage = TradeSignalApproved | CancelSignal | Halt | Resume | BatchSubmit


class ExecutionReport(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=False):
    """One step of one order's life, as reported to every sink."""

    signal_id: str
    client_order_id: str
    exchange_order_id: str | None = None
    parent_client_order_id: str | None = None
    role: OrderRole = "entry"
    pair: str = ""
    side: str = ""
    order_type: str = ""
    status: OrderStatus = "pending_submit"
    quantity: Decimal = Decimal(0)
    filled_quantity: Decimal = Decimal(0)
    last_fill_quantity: Decimal | None = None
    last_fill_price: Decimal | None = None
    average_price: Decimal | None = None
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
            "Halt, Resume, BatchSubmit"
        )
    return text[0].lower() + text[1:]


def decode_report(line: bytes | str) -> ExecutionReport:
    """Decode one JSON line written by the report sink."""
    return _report_decoder.decode(line)


def encode(message: msgspec.Struct) -> bytes:
    """Encode any protocol Struct as one JSON object (no trailing newline)."""
    return _encoder.encode(message)


encode_report = encode


def _finite_positive(name: str, value: Decimal | None, problems: list[str]) -> None:
    if value is None:
        return
    if not value.is_finite():
        problems.append(f"{name} must be a finite number; got {value}")
    elif value <= 0:
        problems.append(f"{name} must be positive; got {value}")


_NEEDS_LIMIT = {"limit", "stop-loss-limit", "take-profit-limit", "trailing-stop-limit"}
_NEEDS_TRIGGER = {
    "stop-loss",
    "take-profit",
    "stop-loss-limit",
    "take-profit-limit",
    "trailing-stop",
    "trailing-stop-limit",
}


def signal_problems(signal: TradeSignalApproved, *, now: float | None = None) -> list[str]:
    """Exchange-independent checks of a signal; each problem is a sentence a person can act on.

    Pair rules (tick, lot, minimums) are checked later against the exchange's AssetPairs.
    """
    problems = numbers.signal_bound_problems(signal, now=now)
    if problems:  # out-of-range values are never compared or printed in full
        return problems
    if not signal.signal_id.strip():
        problems.append("signal_id must not be empty")
    if not signal.pair.strip():
        problems.append("pair must not be empty")
    _finite_positive("quantity", signal.quantity, problems)
    for name in ("limit_price", "trigger_price", "sl_price", "tp_price"):
        _finite_positive(name, getattr(signal, name), problems)
    kind = signal.order_type
    if kind in _NEEDS_LIMIT and signal.limit_price is None:
        problems.append(f"order_type {kind} needs limit_price")
    if kind in _NEEDS_TRIGGER and signal.trigger_price is None:
        problems.append(f"order_type {kind} needs trigger_price")
    if kind == "market" and signal.limit_price is not None:
        problems.append("order_type market takes no limit_price")
    if signal.post_only and kind != "limit":
        problems.append("post_only is only valid for limit orders")
    if signal.time_in_force == "GTD":
        if signal.expire_at is None:
            problems.append("time_in_force GTD needs expire_at")
        elif now is not None and signal.expire_at < now + 5:
            problems.append(
                f"expire_at must be at least 5 s in the future; it is {signal.expire_at - now:.1f} s away"
            )
    elif signal.expire_at is not None:
        problems.append("expire_at is only valid with time_in_force GTD")
    if signal.time_in_force == "IOC" and signal.post_only:
        problems.append("post_only cannot be combined with IOC")
    if signal.timeout_s is not None and not signal.timeout_s > 0:
        problems.append(f"timeout_s must be positive; got {signal.timeout_s}")
    entry = signal.limit_price if signal.limit_price is not None else signal.trigger_price
    if entry is not None and entry.is_finite():
        if signal.sl_price is not None and signal.sl_price.is_finite():
            wrong = signal.sl_price >= entry if signal.side == "buy" else signal.sl_price <= entry
            if wrong:
                relation = "below" if signal.side == "buy" else "above"
                problems.append(
                    f"sl_price {signal.sl_price} must be {relation} the entry price {entry} "
                    f"for a {signal.side}"
                )
        if signal.tp_price is not None and signal.tp_price.is_finite():
            wrong = signal.tp_price <= entry if signal.side == "buy" else signal.tp_price >= entry
            if wrong:
                relation = "above" if signal.side == "buy" else "below"
                problems.append(
                    f"tp_price {signal.tp_price} must be {relation} the entry price {entry} "
                    f"for a {signal.side}"
                )
    if (
        signal.sl_price is not None
        and signal.tp_price is not None
        and signal.sl_price.is_finite()
        and signal.tp_price.is_finite()
    ):
        crossed = (
            signal.sl_price >= signal.tp_price
            if signal.side == "buy"
            else signal.sl_price <= signal.tp_price
        )
        if crossed:
            problems.append(
                f"sl_price {signal.sl_price} and tp_price {signal.tp_price} are crossed for a {signal.side}"
            )
    return problems
