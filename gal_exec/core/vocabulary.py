"""The engine's words, defined once: order status, role, side, order type, time in force, which
types need which prices, the terminal sets, the cl_ord_id rule and the protection generation limit.

Every other module (messages, the journal, the Kraken layer, the simulator) imports these; none
keeps a copy. The enums are ``StrEnum``: each member equals its wire text (``OrderStatus.FILLED ==
"filled"``), so JSON and SQLite see plain strings.
"""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = [
    "CHILD_ROLES",
    "KRAKEN_ORDER_TYPES",
    "LIVE_STATUSES",
    "MAX_FREE_TEXT_ID",
    "MAX_GENERATIONS",
    "NEEDS_LIMIT_PRICE",
    "NEEDS_TRIGGER",
    "PLACEMENT_SETTLED",
    "RESTING_LIMIT",
    "TERMINAL_STATUSES",
    "TRAILING",
    "OrderStatus",
    "OrderType",
    "Role",
    "Side",
    "TimeInForce",
    "is_valid_cl_ord_id",
]


class OrderStatus(StrEnum):
    """Where an order is in its life, as the engine knows it (the ``status`` of every report)."""

    PENDING_SUBMIT = "pending_submit"
    SUBMITTED = "submitted"
    SUBMIT_UNKNOWN = "submit_unknown"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    VALIDATED = "validated"
    """Checked by the exchange and not placed (``exchange.validate_only``)."""


TERMINAL_STATUSES: frozenset[OrderStatus] = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.REJECTED,
        OrderStatus.VALIDATED,
    }
)
"""Statuses an order never leaves."""

LIVE_STATUSES: frozenset[OrderStatus] = frozenset(
    {
        OrderStatus.SUBMITTED,
        OrderStatus.SUBMIT_UNKNOWN,
        OrderStatus.OPEN,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PENDING_CANCEL,
    }
)
"""Statuses in which the order may be working on the exchange (recovery looks these up)."""

PLACEMENT_SETTLED: frozenset[OrderStatus] = TERMINAL_STATUSES | {
    OrderStatus.OPEN,
    OrderStatus.PARTIALLY_FILLED,
}
"""The first statuses that say how placing an order went (a batch's per-signal outcome)."""


class Role(StrEnum):
    """What an order is for: the signal's entry, or one of its protective children."""

    ENTRY = "entry"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self == Side.BUY else Side.BUY


class OrderType(StrEnum):
    """The order types a signal may ask for (Kraken's names)."""

    MARKET = "market"
    LIMIT = "limit"
    STOP_LOSS = "stop-loss"
    TAKE_PROFIT = "take-profit"
    STOP_LOSS_LIMIT = "stop-loss-limit"
    TAKE_PROFIT_LIMIT = "take-profit-limit"
    TRAILING_STOP = "trailing-stop"
    TRAILING_STOP_LIMIT = "trailing-stop-limit"


KRAKEN_ORDER_TYPES: frozenset[str] = frozenset({*OrderType, "iceberg", "settle-position"})
"""Every ``ordertype`` Kraken's AddOrder accepts (the engine places only ``OrderType``)."""

NEEDS_LIMIT_PRICE: frozenset[str] = frozenset(
    {"limit", "iceberg", "stop-loss-limit", "take-profit-limit", "trailing-stop-limit"}
)
"""Types that carry a limit price (for trailing-stop-limit it is an offset from the trigger)."""

NEEDS_TRIGGER: frozenset[str] = frozenset(
    {
        "stop-loss",
        "take-profit",
        "stop-loss-limit",
        "take-profit-limit",
        "trailing-stop",
        "trailing-stop-limit",
    }
)
"""Types that carry a trigger price (for the trailing types it is an offset from the market)."""

TRAILING: frozenset[str] = frozenset({"trailing-stop", "trailing-stop-limit"})
"""Types whose prices are offsets, not levels: no tick, band, notional or minimum-cost check."""

RESTING_LIMIT: frozenset[str] = frozenset({"limit", "iceberg"})
"""Types whose limit price rests in the book (and so may be rounded to the passive side)."""


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    GTD = "GTD"


MAX_GENERATIONS = 9
"""Generations of stop-loss / take-profit pairs one entry may have (child ids "sl", "sl2".."sl9")."""

CHILD_ROLES: dict[Role, str] = {Role.STOP_LOSS: "sl", Role.TAKE_PROFIT: "tp"}
"""The tag of each protective role in its child's cl_ord_id."""

MAX_FREE_TEXT_ID = 18
_LONG_UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_SHORT_UUID = re.compile(r"[0-9a-fA-F]{32}")


def is_valid_cl_ord_id(value: object) -> bool:
    """True when Kraken accepts ``value`` as a cl_ord_id (the engine and the simulator both ask).

    A long UUID (36 characters with dashes), a short UUID (32 hex digits) or free ASCII text of 1
    to 18 printable characters. The engine's own ids (gal_exec.core.ids) are letters and digits
    only, with "-" in children's ids.
    """
    if not isinstance(value, str):
        return False
    if _LONG_UUID.fullmatch(value) or _SHORT_UUID.fullmatch(value):
        return True
    return 0 < len(value) <= MAX_FREE_TEXT_ID and all(" " <= ch <= "~" for ch in value)


def is_long_uuid(value: str) -> bool:
    return _LONG_UUID.fullmatch(value) is not None


def is_short_uuid(value: str) -> bool:
    return _SHORT_UUID.fullmatch(value) is not None
