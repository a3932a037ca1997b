"""A pair's rules as plain values: its names, its price and quantity grid, its minimums and its
trading status; the one check of an order against them; and moving an order onto the grid.

Kraken refuses a price off the tick grid, a quantity off the lot grid or below the pair's minimum,
and an order whose cost is below the pair's minimum cost; rounding here is chosen so a quantized
order is never larger or more aggressive than the one asked for. Every problem is one sentence
naming the rule and the numbers, e.g. ``tick: limit_price 65000.05 is not a multiple of the tick
size 0.1 for XBT/USD``.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from typing import Any, Protocol

import msgspec

from gal_exec.core import numbers
from gal_exec.core.vocabulary import RESTING_LIMIT, TRAILING

__all__ = ["OrderLike", "PairLimits", "order_problems", "quantize_fields"]


_ZERO = Decimal(0)


def _text(value: Decimal) -> str:
    return format(value, "f")


class PairLimits(msgspec.Struct, frozen=True, kw_only=True):
    """A pair's rules as plain values.

    ``pair`` keys prices and exposure (one naming form throughout: the WS v2 symbol ``BTC/USD``);
    ``name`` is what reports and messages show (``XBT/USD``), ``request_name`` what requests send
    (``XBTUSD``). ``status`` is the exchange's trading status of the pair.
    """

    pair: str
    tick_size: Decimal
    lot_step: Decimal
    ordermin: Decimal = _ZERO
    costmin: Decimal = _ZERO
    name: str = ""
    request_name: str = ""
    price_decimals: int | None = None
    status: str = "online"

    @property
    def shown(self) -> str:
        return self.name or self.pair


class OrderLike(Protocol):
    """What the checks read from an order; a TradeSignalApproved has all of it."""

    @property
    def side(self) -> str: ...
    @property
    def order_type(self) -> str: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def limit_price(self) -> Decimal | None: ...
    @property
    def trigger_price(self) -> Decimal | None: ...
    @property
    def post_only(self) -> bool: ...
    @property
    def reduce_only(self) -> bool: ...


def order_problems(
    order: OrderLike,
    rules: PairLimits,
    *,
    reference_price: Decimal | None = None,
    extra_prices: tuple[tuple[str, Decimal | None], ...] = (),
) -> list[str]:
    """Every rule of the pair ``order`` breaks; [] if none. Quantities and prices are assumed
    finite and positive (checked before this).

    The minimum cost is checked at the order's limit or trigger price, else at
    ``reference_price`` (what a market order would pay now) when given. ``extra_prices`` are
    further named levels that must lie on the tick grid (a signal's stop-loss and take-profit).
    Trailing types carry offsets, not levels: only their quantity is checked. The arithmetic runs
    in a trapping context: numbers beyond what it can hold are a problem, never an exception.
    """
    try:
        with numbers.decimal_context():
            return _order_problems(order, rules, reference_price, extra_prices)
    except ArithmeticError as exc:  # decimal.DecimalException: beyond the pair's scale
        return [f"numbers out of range for {rules.shown}: {exc.__class__.__name__}"]


def _order_problems(
    order: OrderLike,
    rules: PairLimits,
    reference_price: Decimal | None,
    extra_prices: tuple[tuple[str, Decimal | None], ...],
) -> list[str]:
    name = rules.shown
    problems: list[str] = []
    quantity = order.quantity
    if quantity % rules.lot_step != 0:
        problems.append(
            f"lot: quantity {_text(quantity)} is not a multiple of the lot step "
            f"{_text(rules.lot_step)} for {name}"
        )
    if rules.ordermin > 0 and quantity < rules.ordermin:
        problems.append(
            f"ordermin: quantity {_text(quantity)} below ordermin {_text(rules.ordermin)} for {name}"
        )
    trailing = order.order_type in TRAILING
    if not trailing:
        levels = (
            ("limit_price", order.limit_price),
            ("trigger_price", order.trigger_price),
            *extra_prices,
        )
        for field, price in levels:
            if price is not None and price % rules.tick_size != 0:
                problems.append(
                    f"tick: {field} {_text(price)} is not a multiple of the tick size "
                    f"{_text(rules.tick_size)} for {name}"
                )
        price = order.limit_price if order.limit_price is not None else order.trigger_price
        if price is None:
            price = reference_price
        if rules.costmin > 0 and price is not None:
            cost = price * quantity
            if cost < rules.costmin:
                problems.append(
                    f"costmin: cost {_text(cost)} below costmin {_text(rules.costmin)} for {name}"
                )
    problems += _status_problems(rules, order)
    return problems


def _status_problems(rules: PairLimits, order: OrderLike) -> list[str]:
    name = rules.shown
    status = rules.status
    if status == "online":
        return []
    if status == "cancel_only":
        return [f"status: {name} is in cancel_only mode: no new orders"]
    if status == "post_only":
        if order.order_type == "limit" and order.post_only:
            return []
        return [f"status: {name} is in post_only mode: only post-only limit orders"]
    if status == "limit_only":
        return (
            []
            if order.order_type == "limit"
            else [f"status: {name} is in limit_only mode: only limit orders"]
        )
    if status == "reduce_only":
        return (
            []
            if order.reduce_only
            else [f"status: {name} is in reduce_only mode: only reduce-only orders"]
        )
    return [f"status: {name} has status {status!r}: not open for new orders"]


def _on_grid(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    steps = (value / step).to_integral_value(rounding=rounding)
    result = steps * step
    return result.quantize(step) if step.as_tuple().exponent < 0 else result  # type: ignore[operator]


def quantize_fields(order: Any, rules: PairLimits) -> tuple[dict[str, Decimal], list[str]]:
    """Move an order onto its pair's grid; returns (changed fields, one note per change).

    The quantity rounds down (never more than asked); a resting limit price rounds to the
    passive side (a buy down, a sell up: never more aggressive than asked); trigger, stop-loss
    and take-profit prices round to the nearest tick. Trailing offsets are left alone. Apply
    the changes with ``msgspec.structs.replace(order, **changes)``.
    """
    changes: dict[str, Decimal] = {}
    notes: list[str] = []
    quantity = order.quantity
    if quantity is not None and quantity.is_finite() and quantity > 0:
        rounded = _on_grid(quantity, rules.lot_step, ROUND_DOWN)
        if rounded != quantity:
            changes["quantity"] = rounded
            notes.append(
                f"quantity {_text(quantity)} rounded down to {_text(rounded)} "
                f"(lot step {_text(rules.lot_step)} for {rules.pair})"
            )
    if order.order_type in TRAILING:
        return changes, notes
    passive = ROUND_DOWN if order.side == "buy" else ROUND_UP
    for name in ("limit_price", "trigger_price", "sl_price", "tp_price"):
        price = getattr(order, name, None)
        if price is None or not price.is_finite() or price <= 0:
            continue
        limit_rests = name == "limit_price" and order.order_type in RESTING_LIMIT
        rounding = passive if limit_rests else ROUND_HALF_EVEN
        rounded = _on_grid(price, rules.tick_size, rounding)
        if rounded <= 0:
            rounded = rules.tick_size
        if rounded != price:
            changes[name] = rounded
            how = "down" if rounded < price else "up"
            notes.append(
                f"{name} {_text(price)} rounded {how} to {_text(rounded)} "
                f"(tick size {_text(rules.tick_size)} for {rules.pair})"
            )
    return changes, notes
