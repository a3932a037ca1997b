"""The desk's checks of an operator's amend (AmendSignal) before the order sends it.

What may change: a live order's total quantity (above what has filled; never a protective
child's, which follows its entry's position), the limit price of the types that have one and the
trigger price of the triggered types (not the offsets of trailing types). New prices must lie on
the pair's tick grid and a new quantity on its lot grid, at or above its minimum: an amend is
refused, never quantized. The bracket must stay consistent (see the Desk) and an entry stays
within the risk limits (the Intake).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

import msgspec

from gal_exec.core.amend import AmendChange, Figures
from gal_exec.core.grid import PairLimits, order_problems
from gal_exec.core.numbers import decimal_problems
from gal_exec.core.order import OrderSpec
from gal_exec.core.vocabulary import NEEDS_LIMIT_PRICE, NEEDS_TRIGGER, TRAILING

__all__ = ["AmendLike", "amend_problems", "amended_spec"]


class AmendLike(Protocol):
    """What the desk reads from an amend; gal_exec.messages.AmendSignal has all of it."""

    @property
    def signal_id(self) -> str | None: ...
    @property
    def client_order_id(self) -> str | None: ...
    @property
    def quantity(self) -> Decimal | None: ...
    @property
    def limit_price(self) -> Decimal | None: ...
    @property
    def trigger_price(self) -> Decimal | None: ...


def amended_spec(spec: OrderSpec, figures: Figures) -> OrderSpec:
    """``spec`` with ``figures`` as its quantity and prices (what the order would be)."""
    return msgspec.structs.replace(
        spec,
        quantity=figures.quantity,
        limit_price=figures.limit_price,
        trigger_price=figures.trigger_price,
    )


def amend_problems(
    spec: OrderSpec,
    figures: Figures,
    filled: Decimal,
    change: AmendChange,
    rules: PairLimits | None,
) -> list[str]:
    """Why ``change`` cannot be made to the order ``spec`` (now at ``figures``, ``filled``
    filled); [] if it can, as far as the order itself goes."""
    if change.empty:
        return ["give quantity, limit_price and/or trigger_price to change"]
    values = {
        "quantity": change.quantity,
        "limit_price": change.limit_price,
        "trigger_price": change.trigger_price,
    }
    # bounds first: no arithmetic or comparison touches a number outside them
    problems = decimal_problems(values)
    if problems:
        return problems
    for name, value in values.items():
        if value is not None and value <= 0:
            problems.append(f"{name} must be a positive number; got {value}")
    if problems:
        return problems
    kind = spec.order_type
    prices = change.limit_price is not None or change.trigger_price is not None
    if prices and kind in TRAILING:
        problems.append(f"the prices of a {kind} order are offsets; they cannot be amended")
    else:
        if change.limit_price is not None and kind not in NEEDS_LIMIT_PRICE:
            problems.append(f"a {kind} order has no limit_price")
        if change.trigger_price is not None and kind not in NEEDS_TRIGGER:
            problems.append(f"a {kind} order has no trigger_price")
    if change.quantity is not None:
        if spec.is_child:
            problems.append(
                f"the quantity of a {spec.role} order follows its entry's position; amend the "
                "entry instead"
            )
        elif change.quantity <= filled:
            problems.append(
                f"quantity {change.quantity} must be above the filled quantity {filled} (to "
                "stop the order filling, cancel it)"
            )
    if problems:
        return problems
    if figures.needed(change).empty:
        return [f"nothing to change: the order has {change.named()} already"]
    if rules is None:
        return [f"unknown pair {spec.pair!r}"]
    amended = amended_spec(spec, figures.after(change))
    return order_problems(amended, rules)
