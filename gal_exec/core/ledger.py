"""The fill ledger of one order: fills de-duplicated by trade id, overfills flagged, exact sums.

Accounting choices:

- Exact, never capped. `filled_quantity` is the true sum even past `order_quantity`; a fill that
  crosses the order quantity is recorded with outcome `overfill`, and `overfilled` /
  `overfill_quantity` expose the excess so the caller can raise the alarm.
- All arithmetic runs in a private Decimal context with 50 significant digits, so results do
  not depend on the calling thread's context; `average_price` is not rounded (use `quantized`).
- Cumulative figures (REST QueryOrders has no per-trade ids) are accounted by
  `reconcile_cumulative`, which records a *synthetic* fill for the missing quantity. Synthetic
  quantity forms a pool: a real trade seen later is first matched against that pool (FIFO), and
  only the part of it the pool does not cover adds to `filled_quantity`. Since the exchange's
  cumulative figures never exceed the true total, `filled_quantity` never exceeds it either, and
  once every real trade has been seen the pool is empty and every total is exact again.
- Replaying the recorded `fills` (synthetic ones included) into a new ledger in the same order
  rebuilds the same state; that is how an order is restored from the journal.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal
from enum import StrEnum

import msgspec

__all__ = ["Fill", "FillLedger", "FillOutcome", "FillResult", "quantized"]

_CTX = Context(prec=50)
_ZERO = Decimal(0)


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    """One execution of an order. `synthetic` fills come from cumulative figures, not a trade."""

    trade_id: str
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str = ""
    time: float = 0.0
    liquidity: str = ""
    synthetic: bool = False


class FillOutcome(StrEnum):
    """What `FillLedger.add` did with a fill."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    OVERFILL = "overfill"
    INVALID = "invalid"


class FillResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of adding one fill, with the ledger's figures right after it.

    `new_quantity` is how much `filled_quantity` grew; an `applied` real trade with
    `new_quantity == 0` confirmed quantity already accounted from cumulative figures
    (`absorbed_quantity`), so it is not a new fill to report.
    """

    outcome: FillOutcome
    fill: Fill
    new_quantity: Decimal = _ZERO
    absorbed_quantity: Decimal = _ZERO
    filled_quantity: Decimal = _ZERO
    overfill_quantity: Decimal = _ZERO
    reason: str = ""

    @property
    def recorded(self) -> bool:
        """True when the fill was recorded (applied or overfill)."""
        return self.outcome in (FillOutcome.APPLIED, FillOutcome.OVERFILL)


@dataclass(slots=True)
class _PoolChunk:
    """Synthetic quantity not yet matched by real trades."""

    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str


class FillLedger:
    """Fills of one order and their exact totals."""

    def __init__(self, order_quantity: Decimal) -> None:
        _require_positive("order_quantity", order_quantity)
        self._order_quantity = order_quantity
        self._fills: list[Fill] = []
        self._by_trade_id: dict[str, Fill] = {}
        self._real_quantity = _ZERO
        self._real_cost = _ZERO
        self._real_fees: dict[str, Decimal] = {}
        self._pool: deque[_PoolChunk] = deque()
        self._synthetic_count = 0

    # -- figures ---------------------------------------------------------------------------

    @property
    def order_quantity(self) -> Decimal:
        """The quantity ordered."""
        return self._order_quantity

    @property
    def filled_quantity(self) -> Decimal:
        """Quantity executed so far: real trades plus unmatched synthetic quantity."""
        return _CTX.add(self._real_quantity, self._pool_quantity())

    @property
    def remaining_quantity(self) -> Decimal:
        """Quantity still to fill; zero (never negative) once complete or overfilled."""
        return max(_ZERO, _CTX.subtract(self._order_quantity, self.filled_quantity))

    @property
    def overfill_quantity(self) -> Decimal:
        """How far `filled_quantity` exceeds `order_quantity`; zero normally."""
        return max(_ZERO, _CTX.subtract(self.filled_quantity, self._order_quantity))

    @property
    def overfilled(self) -> bool:
        """True when more was filled than ordered."""
        return self.overfill_quantity > 0

    @property
    def is_complete(self) -> bool:
        """True when the whole order quantity has been filled."""
        return self.filled_quantity >= self._order_quantity

    @property
    def total_cost(self) -> Decimal:
        """Sum of quantity * price over the fills (synthetic pool included)."""
        pool_cost = _ZERO
        for chunk in self._pool:
            pool_cost = _CTX.add(pool_cost, _CTX.multiply(chunk.quantity, chunk.price))
        return _CTX.add(self._real_cost, pool_cost)

    @property
    def average_price(self) -> Decimal | None:
        """sum(q * p) / sum(q), unrounded; None before any fill."""
        filled = self.filled_quantity
        if filled == 0:
            return None
        return _CTX.divide(self.total_cost, filled)

    @property
    def fees_by_asset(self) -> dict[str, Decimal]:
        """Fees summed per fee asset ("" when the fill did not say)."""
        fees = dict(self._real_fees)
        for chunk in self._pool:
            fees[chunk.fee_asset] = _CTX.add(fees.get(chunk.fee_asset, _ZERO), chunk.fee)
        return fees

    @property
    def total_fee(self) -> Decimal:
        """All fees summed (meaningful when they share one asset; see `fees_by_asset`)."""
        total = _ZERO
        for fee in self.fees_by_asset.values():
            total = _CTX.add(total, fee)
        return total

    @property
    def fee_asset(self) -> str:
        """The asset of the first fill that named one, or "" if none did."""
        for fill in self._fills:
            if fill.fee_asset:
                return fill.fee_asset
        return ""

    @property
    def fills(self) -> tuple[Fill, ...]:
        """Every recorded fill, real and synthetic, in arrival order."""
        return tuple(self._fills)

    def has_trade(self, trade_id: str) -> bool:
        """True when a fill with this trade id is recorded."""
        return trade_id in self._by_trade_id

    # -- changes ---------------------------------------------------------------------------

    def add(self, fill: Fill) -> FillResult:
        """Record `fill` unless it is a duplicate (same trade id) or invalid."""
        problem = _invalid_reason(fill)
        if problem:
            return self._result(FillOutcome.INVALID, fill, reason=problem)
        known = self._by_trade_id.get(fill.trade_id)
        if known is not None:
            reason = "" if known == fill else "differs from the fill recorded under this trade id"
            return self._result(FillOutcome.DUPLICATE, fill, reason=reason)
        before = self.filled_quantity
        absorbed = _ZERO
        if fill.synthetic:
            self._pool.append(_PoolChunk(fill.quantity, fill.price, fill.fee, fill.fee_asset))
            self._synthetic_count += 1
        else:
            absorbed = self._absorb(fill.quantity)
            self._real_quantity = _CTX.add(self._real_quantity, fill.quantity)
            self._real_cost = _CTX.add(self._real_cost, _CTX.multiply(fill.quantity, fill.price))
            self._real_fees[fill.fee_asset] = _CTX.add(
                self._real_fees.get(fill.fee_asset, _ZERO), fill.fee
            )
        self._fills.append(fill)
        self._by_trade_id[fill.trade_id] = fill
        new_quantity = _CTX.subtract(self.filled_quantity, before)
        outcome = FillOutcome.OVERFILL if self.overfilled and new_quantity > 0 else None
        return self._result(
            outcome or FillOutcome.APPLIED,
            fill,
            new_quantity=new_quantity,
            absorbed_quantity=absorbed,
            reason="filled quantity exceeds the order quantity" if outcome else "",
        )

    def set_order_quantity(self, quantity: Decimal) -> None:
        """Change the ordered quantity (an amended child); refuses less than already filled."""
        _require_positive("order_quantity", quantity)
        if quantity < self.filled_quantity:
            raise ValueError(
                f"order quantity {quantity} is below the filled quantity {self.filled_quantity}"
            )
        self._order_quantity = quantity

    def reconcile_cumulative(
        self,
        cum_qty: Decimal,
        avg_price: Decimal,
        *,
        cum_cost: Decimal | None = None,
        cum_fee: Decimal | None = None,
        fee_asset: str = "",
        time: float = 0.0,
    ) -> FillResult | None:
        """Account the exchange's cumulative figures when they are ahead of our fills.

        Returns the result of recording a synthetic fill for the missing quantity, priced so
        the ledger's cost matches the exchange's (`cum_cost`, else `cum_qty * avg_price`), with
        the missing fee when `cum_fee` is given; None when the figures are not ahead.
        """
        _require_finite("cum_qty", cum_qty)
        _require_finite("avg_price", avg_price)
        missing = _CTX.subtract(cum_qty, self.filled_quantity)
        if missing <= 0:
            return None
        exchange_cost = cum_cost if cum_cost is not None else _CTX.multiply(cum_qty, avg_price)
        price = _CTX.divide(_CTX.subtract(exchange_cost, self.total_cost), missing)
        if not price > 0:
            # Rounded exchange averages can imply a nonsensical price; fall back to theirs.
            if not avg_price > 0:
                raise ValueError(
                    f"cannot price the missing {missing}: cumulative cost {exchange_cost} "
                    f"and average price {avg_price} imply no positive price"
                )
            price = avg_price
        fee = _ZERO
        if cum_fee is not None and cum_fee > self.total_fee:
            fee = _CTX.subtract(cum_fee, self.total_fee)
        synthetic = Fill(
            trade_id=f"cum:{cum_qty.normalize():f}",
            quantity=missing,
            price=price,
            fee=fee,
            fee_asset=fee_asset,
            time=time,
            synthetic=True,
        )
        return self.add(synthetic)

    # -- internals -------------------------------------------------------------------------

    def _absorb(self, quantity: Decimal) -> Decimal:
        """Match a real trade against the synthetic pool, oldest first; return what it covered."""
        absorbed = _ZERO
        while self._pool and absorbed < quantity:
            chunk = self._pool[0]
            take = min(chunk.quantity, _CTX.subtract(quantity, absorbed))
            absorbed = _CTX.add(absorbed, take)
            if take == chunk.quantity:
                self._pool.popleft()
            else:
                left = _CTX.subtract(chunk.quantity, take)
                chunk.fee = _CTX.divide(_CTX.multiply(chunk.fee, left), chunk.quantity)
                chunk.quantity = left
        return absorbed

    def _pool_quantity(self) -> Decimal:
        total = _ZERO
        for chunk in self._pool:
            total = _CTX.add(total, chunk.quantity)
        return total

    def _result(self, outcome: FillOutcome, fill: Fill, **figures: object) -> FillResult:
        return FillResult(
            outcome=outcome,
            fill=fill,
            filled_quantity=self.filled_quantity,
            overfill_quantity=self.overfill_quantity,
            **figures,  # type: ignore[arg-type]
        )


def quantized(value: Decimal, places: int, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """`value` rounded to `places` decimal places (banker's rounding unless told otherwise)."""
    if places < 0:
        raise ValueError(f"places must be >= 0, got {places}")
    return value.quantize(Decimal(1).scaleb(-places), rounding=rounding, context=_CTX)


def _invalid_reason(fill: Fill) -> str:
    if not fill.trade_id:
        return "fill has no trade id"
    for name in ("quantity", "price", "fee"):
        value = getattr(fill, name)
        if not isinstance(value, Decimal) or not value.is_finite():
            return f"fill {fill.trade_id}: {name} must be a finite Decimal, got {value!r}"
    if fill.quantity <= 0:
        return f"fill {fill.trade_id}: quantity must be positive, got {fill.quantity}"
    if fill.price <= 0:
        return f"fill {fill.trade_id}: price must be positive, got {fill.price}"
    if fill.fee < 0:
        return f"fill {fill.trade_id}: fee must not be negative, got {fill.fee}"
    return ""


def _require_finite(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{name} must be a finite Decimal, got {value!r}")


def _require_positive(name: str, value: Decimal) -> None:
    _require_finite(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
