"""Open-exposure bookkeeping for the pre-trade checks: notional per pair and in total, kept by
order key, valued at order prices or at the market once a pair is marked.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

__all__ = ["Exposure", "ExposureView", "TrialExposure"]

_ZERO = Decimal(0)


class ExposureView(Protocol):
    """What the checks read: open notional of a pair, or of all pairs when None."""

    def notional(self, pair: str | None = None) -> Decimal: ...


class _PairBook:
    __slots__ = ("cost", "orders", "quantity")

    def __init__(self) -> None:
        self.quantity = _ZERO
        self.cost = _ZERO
        self.orders = 0


class Exposure:
    """Open notional per pair and in total, kept by order key (a client order id).

    An order enters at its own price (quantity x price). Once a pair is marked with a fresh
    price (:meth:`mark`), its open quantity is valued at that price instead: exposure follows
    the market. Per-pair sums make every read O(pairs).
    """

    def __init__(self) -> None:
        self._orders: dict[str, tuple[str, Decimal, Decimal]] = {}
        self._pairs: dict[str, _PairBook] = {}
        self._marks: dict[str, Decimal] = {}

    def add(self, key: str, pair: str, quantity: Decimal, price: Decimal) -> None:
        """Count an order's open quantity (replacing what ``key`` held before)."""
        if quantity < 0 or price < 0:
            raise ValueError(f"exposure of {key}: quantity and price must be >= 0")
        self.release(key)
        self._orders[key] = (pair, quantity, price)
        book = self._pairs.setdefault(pair, _PairBook())
        book.quantity += quantity
        book.cost += quantity * price
        book.orders += 1

    def reduce(self, key: str, quantity: Decimal) -> None:
        """Take ``quantity`` off an order's open quantity (e.g. the part that closed)."""
        held = self._orders.get(key)
        if held is None:
            return
        pair, open_quantity, price = held
        remaining = max(_ZERO, open_quantity - quantity)
        self.add(key, pair, remaining, price)

    def release(self, key: str) -> None:
        """Forget an order (it ended); unknown keys are ignored."""
        held = self._orders.pop(key, None)
        if held is None:
            return
        pair, quantity, price = held
        book = self._pairs[pair]
        book.quantity -= quantity
        book.cost -= quantity * price
        book.orders -= 1
        if not book.orders:
            del self._pairs[pair]

    def mark(self, pair: str, price: Decimal | None) -> None:
        """Value ``pair``'s open quantity at ``price`` from now on (None: at order prices)."""
        if price is None:
            self._marks.pop(pair, None)
        else:
            self._marks[pair] = price

    def notional(self, pair: str | None = None) -> Decimal:
        """Open notional of ``pair``, or of every pair when None."""
        if pair is not None:
            book = self._pairs.get(pair)
            if book is None:
                return _ZERO
            mark = self._marks.get(pair)
            return book.quantity * mark if mark is not None else book.cost
        return sum((self.notional(name) for name in self._pairs), _ZERO)

    def copy(self) -> Exposure:
        """An independent copy, for trying orders on without committing them."""
        clone = Exposure()
        for key, (pair, quantity, price) in self._orders.items():
            clone.add(key, pair, quantity, price)
        clone._marks = dict(self._marks)
        return clone

    def __contains__(self, key: object) -> bool:
        return key in self._orders

    def __len__(self) -> int:
        return len(self._orders)


class TrialExposure:
    """An Exposure plus orders being tried on (a batch under check), leaving the base as it is.

    Reads cost O(pairs tried), whatever the number of open orders behind the base.
    """

    def __init__(self, base: ExposureView) -> None:
        self._base = base
        self._extra: dict[str, Decimal] = {}

    def add(self, pair: str, notional: Decimal) -> None:
        self._extra[pair] = self._extra.get(pair, _ZERO) + notional

    def notional(self, pair: str | None = None) -> Decimal:
        if pair is not None:
            return self._base.notional(pair) + self._extra.get(pair, _ZERO)
        return self._base.notional() + sum(self._extra.values(), _ZERO)
