"""The desk's protection: stop-loss / take-profit children of filled entries, as OCO pairs in
generations (gal_exec.core.bracket), their specs, and the check that a child's trigger has not
been passed by the market already."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from gal_exec.core.bracket import BracketBook, Forward, Spawn
from gal_exec.core.clock import Clock
from gal_exec.core.grid import PairLimits
from gal_exec.core.ids import child_client_order_id, child_generation, generation_tag
from gal_exec.core.market import PriceCache, Quote
from gal_exec.core.order import OrderSpec
from gal_exec.core.vocabulary import OrderType, Role, Side

__all__ = ["Protection"]

_ZERO = Decimal(0)
_CHILD_TYPES = {Role.STOP_LOSS: OrderType.STOP_LOSS, Role.TAKE_PROFIT: OrderType.TAKE_PROFIT}


class Protection:
    def __init__(
        self, *, pairs: Callable[[str], PairLimits | None], prices: PriceCache, clock: Clock
    ) -> None:
        self.book = BracketBook()
        self._pairs = pairs
        self._prices = prices
        self._clock = clock
        self._fill_price: dict[str, Decimal] = {}  # each entry's average fill price

    def open(self, entry: OrderSpec) -> None:
        """An entry that wants protection once it fills."""
        roles = tuple(
            role
            for role, price in (
                (Role.STOP_LOSS, entry.sl_price),
                (Role.TAKE_PROFIT, entry.tp_price),
            )
            if price is not None
        )
        self.book.open(entry.cl_ord_id, roles)

    def entry_filled(
        self, entry: str, filled: Decimal, *, average: Decimal | None, final: bool
    ) -> Forward | None:
        if average is not None:
            self._fill_price[entry] = average
        return self.book.position(entry, filled, final)

    def child_filled(self, child: OrderSpec, filled: Decimal, *, final: bool) -> None:
        assert child.parent_cl_ord_id is not None
        self.book.filled(child.parent_cl_ord_id, child.cl_ord_id, filled, final=final)

    def child_found(self, child: OrderSpec) -> None:
        """A child read back from the journal: its generation is in its cl_ord_id."""
        assert child.parent_cl_ord_id is not None
        found = child_generation(child.parent_cl_ord_id, child.cl_ord_id)
        generation = found[1] if found else 1
        self.book.started(child.parent_cl_ord_id, generation, child.role, child.cl_ord_id)

    def forget(self, entry: str) -> None:
        self._fill_price.pop(entry, None)

    def children(self, entry: OrderSpec, spawn: Spawn) -> list[tuple[OrderSpec, str | None]]:
        """The children ``spawn`` asks for, each with the reason it must be refused (its trigger
        is already passed by the market), or None."""
        reference, what = self._reference_price(entry)
        children: list[tuple[OrderSpec, str | None]] = []
        for role in spawn.roles:
            trigger = entry.sl_price if role == Role.STOP_LOSS else entry.tp_price
            assert trigger is not None
            child = OrderSpec(
                cl_ord_id=child_client_order_id(
                    entry.cl_ord_id, generation_tag(role, spawn.generation)
                ),
                signal_id=entry.signal_id,
                role=role,
                parent_cl_ord_id=entry.cl_ord_id,
                pair=entry.pair,
                symbol=entry.symbol,
                price_decimals=entry.price_decimals,
                side=Side(entry.side).opposite,
                order_type=_CHILD_TYPES[role],
                quantity=spawn.position,
                trigger_price=trigger,
            )
            self.book.started(entry.cl_ord_id, spawn.generation, role, child.cl_ord_id)
            problem = None
            if reference is not None:
                problem = _fires_at_once(role, Side(entry.side), trigger, reference, what)
            if problem is not None:
                self.book.filled(entry.cl_ord_id, child.cl_ord_id, _ZERO, final=True)
            children.append((child, problem))
        return children

    def inputs(self, child: OrderSpec) -> tuple[Decimal, Decimal, bool]:
        """A child about to run (again): the position its generation covers, what its sibling
        closed, and whether the entry is final."""
        assert child.parent_cl_ord_id is not None
        position, final = self.book.position_for(child.parent_cl_ord_id, child.cl_ord_id)
        sibling = self.book.sibling_filled(child.parent_cl_ord_id, child.cl_ord_id)
        return position, sibling, final

    def siblings(self, child: OrderSpec) -> tuple[str, ...]:
        if child.parent_cl_ord_id is None:
            return ()
        return self.book.siblings(child.parent_cl_ord_id, child.cl_ord_id)

    def trigger_problems(
        self, child: OrderSpec, trigger: Decimal, other_level: Decimal | None
    ) -> list[str]:
        """Why a live child's trigger may not move to ``trigger``: it would cross the other
        child's level ``other_level`` (a long's stop must stay below its take-profit, a short's
        above), or it would fire the moment it is amended."""
        assert child.parent_cl_ord_id is not None
        entry_side = Side(child.side).opposite
        long = entry_side == Side.BUY
        problems: list[str] = []
        if other_level is not None:
            stop = trigger if child.role == Role.STOP_LOSS else other_level
            take = other_level if child.role == Role.STOP_LOSS else trigger
            if stop >= take if long else stop <= take:
                relation = "below" if long else "above"
                problems.append(
                    f"the stop-loss {stop} must stay {relation} the take-profit {take} of a "
                    f"{'long' if long else 'short'} position"
                )
        reference, what = self._reference(child.symbol or child.pair, child.parent_cl_ord_id)
        if reference is not None:
            problem = _fires_at_once(Role(child.role), entry_side, trigger, reference, what)
            if problem is not None:
                problems.append(problem)
        return problems

    def _reference_price(self, entry: OrderSpec) -> tuple[Decimal | None, str]:
        return self._reference(entry.symbol or entry.pair, entry.cl_ord_id)

    def _reference(self, pair: str, entry: str) -> tuple[Decimal | None, str]:
        """The last price known: the ticker if fresh, else the entry's average fill price."""
        rules = self._pairs(pair)
        if rules is not None:
            quote = self._prices.quote(rules.pair, self._clock.time())
            if isinstance(quote, Quote):
                return quote.last, "the last price"
        return self._fill_price.get(entry), "the entry's fill price"


def _fires_at_once(
    role: Role, entry_side: Side, trigger: Decimal, reference: Decimal, what: str
) -> str | None:
    """Why a protective child would trigger the moment it is placed, or None.

    A long position (buy entry) is protected by a sell stop below the market and a sell
    take-profit above it; a short one the other way round.
    """
    long = entry_side == Side.BUY
    if role == Role.STOP_LOSS:
        through = trigger >= reference if long else trigger <= reference
        relation = "below" if long else "above"
    else:
        through = trigger <= reference if long else trigger >= reference
        relation = "above" if long else "below"
    if not through:
        return None
    return f"{role} trigger {trigger} would fire at once: it must be {relation} {what} {reference}"
