"""A pair's price and quantity grid as plain values, and moving an order onto it.

Kraken refuses a price off the tick grid or a quantity with more than the lot decimals; rounding
here is chosen so a quantized order is never larger or more aggressive than the one asked for.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from typing import Any

import msgspec

from gal_exec.core.vocabulary import RESTING_LIMIT, TRAILING

__all__ = ["RESTING_LIMIT", "TRAILING", "PairLimits", "quantize_fields"]


_ZERO = Decimal(0)


def _text(value: Decimal) -> str:
    return format(value, "f")


class PairLimits(msgspec.Struct, frozen=True, kw_only=True):
    """A pair's grid and minimums as plain values. ``pair`` keys exposure and names the pair in
    messages (use one naming form throughout, e.g. the WS v2 symbol ``BTC/USD``)."""

    pair: str
    tick_size: Decimal
    lot_step: Decimal
    ordermin: Decimal = _ZERO
    costmin: Decimal = _ZERO


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
