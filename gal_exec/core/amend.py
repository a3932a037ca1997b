"""Amending a live order in place (Kraken's AmendOrder): what a change is, how it reads in a
report, and whether the exchange's own record of the order shows it applied.

An order's *figures* are its quantity, limit price and trigger price. A change names the figures
to set; fields it leaves None stay as they are. Kraken applies an amend as one transaction, so
the exchange's record shows either every figure of a change or none of them.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

__all__ = ["AmendChange", "Figures", "PendingAmend", "describe"]


def _text(value: Decimal | None) -> str:
    return "-" if value is None else format(value, "f")


class AmendChange(msgspec.Struct, frozen=True, kw_only=True):
    """The figures an amend sets (None: unchanged)."""

    quantity: Decimal | None = None
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None

    @property
    def empty(self) -> bool:
        return self.quantity is None and self.limit_price is None and self.trigger_price is None

    def named(self) -> str:
        """``quantity 0.5, limit_price 64100.0``: the figures this change sets."""
        parts = [
            f"{name} {_text(value)}"
            for name, value in (
                ("quantity", self.quantity),
                ("limit_price", self.limit_price),
                ("trigger_price", self.trigger_price),
            )
            if value is not None
        ]
        return ", ".join(parts)


class Figures(msgspec.Struct, frozen=True, kw_only=True):
    """An order's amendable figures at one moment."""

    quantity: Decimal
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None

    def after(self, change: AmendChange) -> Figures:
        """These figures with ``change`` applied."""
        return Figures(
            quantity=change.quantity if change.quantity is not None else self.quantity,
            limit_price=change.limit_price if change.limit_price is not None else self.limit_price,
            trigger_price=(
                change.trigger_price if change.trigger_price is not None else self.trigger_price
            ),
        )

    def needed(self, change: AmendChange) -> AmendChange:
        """``change`` without the figures that already have the value it asks for."""
        return AmendChange(
            quantity=change.quantity if change.quantity != self.quantity else None,
            limit_price=change.limit_price if change.limit_price != self.limit_price else None,
            trigger_price=(
                change.trigger_price if change.trigger_price != self.trigger_price else None
            ),
        )

    def shows(self, change: AmendChange) -> bool:
        """Every figure ``change`` sets has the value it asks for here."""
        return self.needed(change).empty

    def observed(
        self,
        quantity: Decimal | None,
        limit_price: Decimal | None,
        trigger_price: Decimal | None,
    ) -> Figures:
        """These figures overlaid with what an observation carries (None: not observed)."""
        return self.after(
            AmendChange(quantity=quantity, limit_price=limit_price, trigger_price=trigger_price)
        )


def describe(before: Figures, after: Figures) -> str:
    """``limit_price 64000.0 -> 64100.0; quantity 1.0 -> 0.5``: what changed, in a line."""
    parts = [
        f"{name} {_text(old)} -> {_text(new)}"
        for name, old, new in (
            ("limit_price", before.limit_price, after.limit_price),
            ("trigger_price", before.trigger_price, after.trigger_price),
            ("quantity", before.quantity, after.quantity),
        )
        if old != new
    ]
    return "; ".join(parts) if parts else "no change"


class PendingAmend(msgspec.Struct, kw_only=True):
    """An amend sent and not yet answered. ``operator``: asked by an AmendSignal (its outcome is
    reported whatever it is), not a protective order's own resize. ``unknown``: the answer never
    came; the order's record on the exchange will tell."""

    change: AmendChange
    before: Figures
    operator: bool
    unknown: bool = False
