"""Pre-trade risk, pure: quantize an order to its pair's grid, then check it against the pair's
minimums, a price band around the last price, a notional cap for market orders, open-exposure
limits and the position limit (gal_exec.core.positions); and check a batch of orders as a whole.

Quantization and the pair's plain rules live in ``gal_exec.core.grid`` (re-exported here).
Every violation is one sentence naming the rule and the numbers, e.g.
``price band: limit 70000.0 is 7.7% from last 65000.0; the band is 5%``. A stale price is never
used: a rule that needs one says the price is stale instead. No Kraken types here; the caller
passes the pair's rules as plain values (:class:`PairLimits`).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

import msgspec

from gal_exec.core.exposure import Exposure, ExposureView, TrialExposure
from gal_exec.core.grid import OrderLike, PairLimits, order_problems, quantize_fields
from gal_exec.core.market import Quote, Stale
from gal_exec.core.positions import PositionLimitView, TrialPositions, position_problem
from gal_exec.core.vocabulary import RESTING_LIMIT, TRAILING

__all__ = [
    "BatchEntry",
    "BatchMode",
    "BatchVerdict",
    "Exposure",
    "ExposureView",
    "PairLimits",
    "RiskLimits",
    "check_batch",
    "check_signal",
    "order_notional",
    "order_price",
    "quantize_fields",
]

BatchMode = Literal["all_or_nothing", "best_effort"]

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


class RiskLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Pre-trade limits; 0 turns a limit off. Notional amounts are in the pair's quote currency."""

    price_band_pct: float = 0.0
    price_band_vol_units: float = 0.0
    band_vol_window: str = "5m"
    market_notional_cap: Decimal = _ZERO
    max_exposure_per_pair: Decimal = _ZERO
    max_exposure_total: Decimal = _ZERO
    max_batch_notional: Decimal = _ZERO
    batch_mode: BatchMode = "all_or_nothing"
    quantize: bool = True
    max_position_per_pair: Decimal = _ZERO
    """In the pair's base asset: the position plus working entries, on the order's side."""


def _text(value: Decimal) -> str:
    return format(value, "f")


def _pct(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN), "f")


# ---- the checks -------------------------------------------------------------------------------


def _fresh(quote: Quote | Stale | None) -> Quote | None:
    return quote if isinstance(quote, Quote) else None


def _stale_reason(pair: str, quote: Quote | Stale | None) -> str:
    if isinstance(quote, Stale):
        return quote.reason
    return f"no price for {pair}"


def order_price(order: OrderLike, quote: Quote | Stale | None) -> Decimal | None:
    """The price an order is valued at: its limit, else its trigger, else (market and trailing
    orders) the touch it would take now; None when that needs a price and none is fresh."""
    price: Decimal | None = None
    if order.order_type not in TRAILING:
        price = order.limit_price if order.limit_price is not None else order.trigger_price
    if price is None:
        fresh = _fresh(quote)
        if fresh is None:
            return None
        price = fresh.price_for(order.side)
    return price


def order_notional(order: OrderLike, quote: Quote | Stale | None) -> Decimal | None:
    """quantity x :func:`order_price`; None when the price is unknown."""
    price = order_price(order, quote)
    return None if price is None else order.quantity * price


def check_signal(
    order: OrderLike,
    *,
    rules: PairLimits,
    quote: Quote | Stale | None,
    exposure: ExposureView,
    limits: RiskLimits,
    volatility: float | None = None,
    positions: PositionLimitView | None = None,
) -> list[str]:
    """Every pre-trade rule ``order`` breaks, each naming the rule and the numbers; [] if none.

    ``quote`` is the pair's price from a PriceCache (a Stale one is never used: rules that need
    a price report it instead). ``volatility`` is realised volatility (a fraction) over
    ``limits.band_vol_window``; when None it is read from the quote. ``exposure`` holds the
    open orders; this order is not added. ``positions`` (None: the position limit is not
    checked) holds the positions and the working entries; this order is not among them.
    """
    pair = rules.pair
    fresh = _fresh(quote)
    # Without a fresh price a market order's cost is unknown; Kraken checks it on arrival, so the
    # order is not refused for that alone.
    violations = order_problems(
        order,
        rules,
        reference_price=fresh.price_for(order.side) if fresh is not None else None,
        extra_prices=(
            ("sl_price", getattr(order, "sl_price", None)),
            ("tp_price", getattr(order, "tp_price", None)),
        ),
    )
    needs_price: list[str] = []
    notional = order_notional(order, quote)
    is_market = order.order_type == "market"
    trailing = order.order_type in TRAILING

    band_on = limits.price_band_pct > 0 or limits.price_band_vol_units > 0
    if band_on and order.order_type in RESTING_LIMIT and order.limit_price is not None:
        if fresh is None:
            needs_price.append("price band")
        else:
            if volatility is None:
                volatility = fresh.volatility.get(limits.band_vol_window)
            violations += _band_violations(order.limit_price, fresh.last, volatility, limits)

    if (is_market or trailing) and limits.market_notional_cap > 0:
        if notional is None:
            needs_price.append("market notional cap")
        elif notional > limits.market_notional_cap:
            price = notional / order.quantity
            violations.append(
                f"market notional cap: {_text(order.quantity)} x {_text(price)} = "
                f"{_text(notional)} exceeds the cap {_text(limits.market_notional_cap)} for {pair}"
            )

    if limits.max_exposure_per_pair > 0 or limits.max_exposure_total > 0:
        if notional is None:
            needs_price.append("exposure")
        else:
            violations += _exposure_violations(pair, notional, exposure, limits)

    if limits.max_position_per_pair > 0 and positions is not None:
        problem = position_problem(
            rules.shown, order.side, order.quantity, positions, limits.max_position_per_pair
        )
        if problem is not None:
            violations.append(problem)

    if needs_price:
        violations.append(
            f"stale price: {_stale_reason(pair, quote)}; cannot check {', '.join(needs_price)}"
        )
    return violations


def _band_violations(
    limit: Decimal, last: Decimal, volatility: float | None, limits: RiskLimits
) -> list[str]:
    distance = abs(limit - last) / last
    shown = f"limit {_text(limit)} is {_pct(distance * _HUNDRED)}% from last {_text(last)}"
    violations: list[str] = []
    if limits.price_band_pct > 0:
        band = Decimal(repr(limits.price_band_pct))
        if distance * _HUNDRED > band:
            violations.append(f"price band: {shown}; the band is {limits.price_band_pct:g}%")
    # Without a volatility estimate yet, only the percentage band applies.
    if limits.price_band_vol_units > 0 and volatility is not None and volatility > 0:
        units = distance / Decimal(repr(volatility))
        if units > Decimal(repr(limits.price_band_vol_units)):
            violations.append(
                f"price band: {shown}, {units:.1f} volatility units "
                f"({limits.band_vol_window} volatility {volatility * 100:.2f}%); "
                f"the band is {limits.price_band_vol_units:g} units"
            )
    return violations


def _exposure_violations(
    pair: str, notional: Decimal, exposure: ExposureView, limits: RiskLimits
) -> list[str]:
    violations: list[str] = []
    if limits.max_exposure_per_pair > 0:
        held = exposure.notional(pair)
        after = held + notional
        if after > limits.max_exposure_per_pair:
            violations.append(
                f"exposure per pair: {pair} open {_text(held)} + this order {_text(notional)} = "
                f"{_text(after)} exceeds {_text(limits.max_exposure_per_pair)}"
            )
    if limits.max_exposure_total > 0:
        held = exposure.notional()
        after = held + notional
        if after > limits.max_exposure_total:
            violations.append(
                f"total exposure: open {_text(held)} + this order {_text(notional)} = "
                f"{_text(after)} exceeds {_text(limits.max_exposure_total)}"
            )
    return violations


# ---- batches ----------------------------------------------------------------------------------


class BatchEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One order of a batch with what check_signal needs for it; ``context`` is the caller's
    (e.g. the pair's full rules), carried through untouched."""

    order: Any
    rules: PairLimits
    quote: Quote | Stale | None = None
    volatility: float | None = None
    context: Any = None


class BatchVerdict(msgspec.Struct, frozen=True, kw_only=True):
    """Per-entry violations, in batch order: an empty list means that entry may be placed."""

    mode: BatchMode
    reasons: list[list[str]]
    notional: Decimal

    @property
    def accepted(self) -> list[int]:
        return [index for index, found in enumerate(self.reasons) if not found]

    @property
    def rejected(self) -> list[int]:
        return [index for index, found in enumerate(self.reasons) if found]


def _name(entry: BatchEntry, index: int) -> str:
    signal_id = getattr(entry.order, "signal_id", None)
    return f"signal {signal_id}" if signal_id else f"order #{index + 1}"


def check_batch(
    entries: Sequence[BatchEntry],
    *,
    exposure: ExposureView,
    limits: RiskLimits,
    mode: BatchMode | None = None,
    failed_before: Sequence[str] = (),
    positions: PositionLimitView | None = None,
) -> BatchVerdict:
    """Check a batch as a whole: each entry by check_signal against the exposure of the open
    orders plus the entries before it, and the batch's notional against
    ``limits.max_batch_notional``.

    ``all_or_nothing``: one failure rejects every entry (the others say which one failed);
    ``failed_before`` names batch members that failed earlier checks and so fail it too.
    ``best_effort``: entries are taken in order; one that fails is dropped and does not count
    towards the exposure of those after it. ``exposure`` itself is not changed.
    """
    mode = mode or limits.batch_mode
    trial = TrialExposure(exposure)
    trial_positions = TrialPositions(positions) if positions is not None else None
    reasons: list[list[str]] = []
    batch_notional = _ZERO
    for entry in entries:
        found = check_signal(
            entry.order,
            rules=entry.rules,
            quote=entry.quote,
            exposure=trial,
            limits=limits,
            volatility=entry.volatility,
            positions=trial_positions,
        )
        notional = order_notional(entry.order, entry.quote)
        if limits.max_batch_notional > 0:
            if notional is None:
                stale = [i for i, reason in enumerate(found) if reason.startswith("stale price:")]
                if stale:
                    found[stale[0]] += ", batch notional"
                else:
                    found.append(
                        f"stale price: {_stale_reason(entry.rules.pair, entry.quote)}; "
                        "cannot check batch notional"
                    )
            elif batch_notional + notional > limits.max_batch_notional:
                found.append(
                    f"batch notional: batch {_text(batch_notional)} + this order "
                    f"{_text(notional)} = {_text(batch_notional + notional)} exceeds "
                    f"{_text(limits.max_batch_notional)}"
                )
        counts = mode == "all_or_nothing" or not found
        if counts and notional is not None:
            batch_notional += notional
            trial.add(entry.rules.pair, notional)
        if counts and trial_positions is not None:
            trial_positions.add(entry.rules.shown, entry.order.side, entry.order.quantity)
        reasons.append(found)
    if mode == "all_or_nothing":
        failed = list(failed_before)
        failed += [_name(entries[i], i) for i, found in enumerate(reasons) if found]
        if failed:
            because = (
                f"batch rejected as a whole (all_or_nothing): {', '.join(failed)} failed the "
                "pre-trade checks"
            )
            reasons = [found or [because] for found in reasons]
    return BatchVerdict(mode=mode, reasons=reasons, notional=batch_notional)
