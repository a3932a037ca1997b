"""Typed rows of the journal: orders, fills, signals and audit events, with their SQL mapping.

Decimals live in SQLite as TEXT (``str(Decimal)``, exact) and come back as ``Decimal``; booleans
live as 0/1. The column lists here are the single place that ties a Struct to its table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any, cast

import msgspec

from gal_exec.core.ledger import Fill
from gal_exec.core.vocabulary import TERMINAL_STATUSES, OrderStatus, Role

__all__ = [
    "TERMINAL_STATUSES",
    "EventRecord",
    "FillRecord",
    "OrderRecord",
    "SignalRecord",
    "ledger_fills",
]


class OrderRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One row of ``orders``: an order's intent and what the engine knows of it now.

    ``sent`` is true once the request may have left (recovery resolves such an order by
    ``cl_ord_id``); ``deadline_at`` is the absolute time a resting limit order is cancelled.
    ``created_at`` / ``updated_at`` of 0 mean "now" to ``Journal.record_intent``.
    """

    cl_ord_id: str
    signal_id: str
    role: Role = Role.ENTRY
    parent_cl_ord_id: str | None = None
    pair: str
    side: str
    order_type: str
    quantity: Decimal
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None
    sl_price: Decimal | None = None
    tp_price: Decimal | None = None
    time_in_force: str = "GTC"
    expire_at: float | None = None
    post_only: bool = False
    reduce_only: bool = False
    timeout_s: float | None = None
    deadline_at: float | None = None
    status: OrderStatus = OrderStatus.PENDING_SUBMIT
    txid: str | None = None
    filled_quantity: Decimal = Decimal(0)
    average_price: Decimal | None = None
    fee: Decimal = Decimal(0)
    fee_asset: str | None = None
    sent: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0
    last_sequence: int | None = None
    reason: str | None = None

    def remaining_timeout(self, now: float) -> float | None:
        """What is left of a limit order's timeout at ``now`` (epoch); None: no timeout."""
        if not self.timeout_s:
            return None
        if self.deadline_at is None:
            return self.timeout_s
        return max(0.001, self.deadline_at - now)

    @property
    def is_terminal(self) -> bool:
        """True once the order can change no more (filled, canceled, expired, rejected)."""
        return self.status in TERMINAL_STATUSES


class FillRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One row of ``fills``: a trade of an order, unique per (cl_ord_id, trade_id).

    ``fee`` is this trade's fee; None when it could not be told (a report that arrived out of
    order carries only the order's cumulative fee). ``synthetic`` marks a fill inferred from
    cumulative figures rather than seen as a trade.
    """

    cl_ord_id: str
    trade_id: str
    quantity: Decimal
    price: Decimal | None = None
    fee: Decimal | None = None
    fee_asset: str | None = None
    time: float | None = None
    liquidity: str | None = None
    synthetic: bool = False


class SignalRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One row of ``signals``: an accepted signal's raw JSON and what became of it."""

    signal_id: str
    raw: bytes
    received_at: float
    outcome: str | None = None


class EventRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the append-only ``events`` audit."""

    id: int
    time: float
    kind: str
    cl_ord_id: str | None = None
    signal_id: str | None = None
    detail: str = ""


def _fields(struct: type[msgspec.Struct]) -> tuple[str, ...]:
    return tuple(field.name for field in msgspec.structs.fields(struct))


def _kinds(struct: type[msgspec.Struct]) -> tuple[frozenset[str], frozenset[str]]:
    """The names of the Decimal-typed and bool-typed fields of `struct`."""
    decimals, bools = set(), set()
    for field in msgspec.structs.fields(struct):
        text = str(field.type)
        if "Decimal" in text:
            decimals.add(field.name)
        elif field.type is bool:
            bools.add(field.name)
    return frozenset(decimals), frozenset(bools)


ORDER_COLUMNS = _fields(OrderRecord)
FILL_COLUMNS = _fields(FillRecord)
SIGNAL_COLUMNS = _fields(SignalRecord)
EVENT_COLUMNS = _fields(EventRecord)
_ORDER_DECIMALS, _ORDER_BOOLS = _kinds(OrderRecord)
_FILL_DECIMALS, _FILL_BOOLS = _kinds(FillRecord)


def decimal_text(name: str, value: object) -> str | None:
    """A Decimal as exact TEXT; a float (or anything else) in a money column is refused."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{name} must be a Decimal or None, not {type(value).__name__}")


def column_value(
    name: str, value: object, decimals: frozenset[str], bools: frozenset[str]
) -> object:
    """One Python value as stored in its SQLite column."""
    if name in decimals:
        return decimal_text(name, value)
    if name in bools:
        return int(bool(value))
    return value


def _row_values(
    struct: msgspec.Struct, columns: Sequence[str], decimals: frozenset[str], bools: frozenset[str]
) -> list[object]:
    values = list(msgspec.structs.astuple(struct))
    for index, name in enumerate(columns):
        if name in decimals:
            values[index] = decimal_text(name, values[index])
        elif name in bools:
            values[index] = int(bool(values[index]))
    return values


def order_values(order: OrderRecord) -> list[object]:
    """The orders row of `order`, in ORDER_COLUMNS order."""
    return _row_values(order, ORDER_COLUMNS, _ORDER_DECIMALS, _ORDER_BOOLS)


def order_update_values(fields: Mapping[str, Any]) -> dict[str, object]:
    """Validate and convert the keyword fields of ``Journal.update_order``."""
    unknown = sorted(set(fields) - set(ORDER_COLUMNS))
    if unknown or "cl_ord_id" in fields:
        bad = unknown or ["cl_ord_id"]
        raise ValueError(f"update_order cannot set {', '.join(bad)}")
    return {
        name: column_value(name, value, _ORDER_DECIMALS, _ORDER_BOOLS)
        for name, value in fields.items()
    }


def fill_values(fill: FillRecord) -> list[object]:
    """The fills row of `fill`, in FILL_COLUMNS order."""
    return _row_values(fill, FILL_COLUMNS, _FILL_DECIMALS, _FILL_BOOLS)


def _from_row(
    struct: type[msgspec.Struct],
    columns: Sequence[str],
    row: Sequence[object],
    decimals: frozenset[str],
    bools: frozenset[str],
) -> Any:
    values: dict[str, object] = {}
    for name, value in zip(columns, row, strict=True):
        if value is not None and name in decimals:
            value = Decimal(value)  # type: ignore[arg-type]
        elif name in bools:
            value = bool(value)
        elif value is not None and name in _ENUMS:
            value = _ENUMS[name](str(value))
        values[name] = value
    # convert, not the constructor: a damaged row (a status no order has) fails here, as a
    # journal problem, not later in recovery
    return msgspec.convert(values, struct)


_ENUMS: dict[str, type[StrEnum]] = {"status": OrderStatus, "role": Role}


def order_from_row(row: Sequence[object]) -> OrderRecord:
    """An OrderRecord from a row selected with ORDER_COLUMNS."""
    return _from_row(OrderRecord, ORDER_COLUMNS, row, _ORDER_DECIMALS, _ORDER_BOOLS)


def fill_from_row(row: Sequence[object]) -> FillRecord:
    """A FillRecord from a row selected with FILL_COLUMNS."""
    return _from_row(FillRecord, FILL_COLUMNS, row, _FILL_DECIMALS, _FILL_BOOLS)


def signal_from_row(row: Sequence[object]) -> SignalRecord:
    """A SignalRecord from a row selected with SIGNAL_COLUMNS."""
    signal_id, raw, received_at, outcome = row
    return SignalRecord(
        signal_id=str(signal_id),
        raw=bytes(cast(bytes, raw)),
        received_at=float(cast(float, received_at)),
        outcome=cast(str | None, outcome),
    )


def event_from_row(row: Sequence[object]) -> EventRecord:
    """An EventRecord from a row selected with EVENT_COLUMNS."""
    return EventRecord(**dict(zip(EVENT_COLUMNS, row, strict=True)))  # type: ignore[arg-type]


def ledger_fills(record: OrderRecord, fills: list[Any]) -> list[Fill]:
    """The fills that rebuild an order's ledger (start-up recovery, a crashed actor's restart):
    the journaled trades, plus one synthetic fill for quantity that was reported from the
    exchange's cumulative figures only (no trade id), so it is not reported again."""
    ledger_fills = [
        Fill(
            trade_id=fill.trade_id,
            quantity=fill.quantity,
            price=fill.price if fill.price is not None else Decimal(0),
            fee=fill.fee or Decimal(0),
            fee_asset=fill.fee_asset or "",
            time=fill.time or 0.0,
        )
        for fill in fills
        if fill.quantity and fill.quantity > 0 and fill.price
    ]
    traded = sum((fill.quantity for fill in ledger_fills), Decimal(0))
    missing = record.filled_quantity - traded
    if missing > 0 and record.average_price:
        cost = record.filled_quantity * record.average_price - sum(
            (fill.quantity * fill.price for fill in ledger_fills), Decimal(0)
        )
        price = cost / missing if cost > 0 else record.average_price
        ledger_fills.append(
            Fill(
                trade_id=f"cum:{record.filled_quantity.normalize():f}",
                quantity=missing,
                price=price,
                fee=max(Decimal(0), record.fee - sum((f.fee for f in ledger_fills), Decimal(0))),
                fee_asset=record.fee_asset or "",
                synthetic=True,
            )
        )
    return ledger_fills
