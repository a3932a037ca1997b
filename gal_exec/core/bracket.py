"""Which protective children an entry needs: generations of stop-loss / take-profit pairs.

An entry's children cover its filled quantity and grow with it (amended in place). If a child
closes its part of the position while the entry is still filling (its stop was already beyond the
market, say), the pair is finished but the position keeps growing: a new generation of children
covers what the finished ones did not. Each generation is one OCO pair; generation n's children
cover ``entry filled - closed by generations before n``.

The book only records what happened (the entry's fills, children started, children finished) and
answers two questions from that record: which live children must hear of a new position
(``position`` returns a Forward) and what protection is due now (``due`` returns a Spawn). The same
record is built live, by replaying the journal after a restart, or both, so a decision never
depends on which of the two built it. Pure bookkeeping, no actors.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from gal_exec.core.vocabulary import MAX_GENERATIONS, Role

__all__ = ["BracketBook", "Forward", "Spawn"]

_ZERO = Decimal(0)


class Spawn(msgspec.Struct, frozen=True, kw_only=True):
    """Start ``roles`` of generation ``generation`` covering ``position`` (the entry's fills not
    closed by earlier generations). ``sibling_filled`` is what a live child of the same generation
    has filled already (completing a generation whose other child was never started)."""

    parent: str
    generation: int
    roles: tuple[Role, ...]
    position: Decimal
    final: bool
    sibling_filled: Decimal = _ZERO


class Forward(msgspec.Struct, frozen=True, kw_only=True):
    """Tell the live children of the current generation the position they cover."""

    parent: str
    children: tuple[str, ...]
    position: Decimal
    final: bool


class _Generation:
    __slots__ = ("children", "filled", "live", "number")

    def __init__(self, number: int) -> None:
        self.number = number
        self.children: dict[Role, str] = {}
        self.live: set[str] = set()
        self.filled: dict[str, Decimal] = {}  # each child's fills (final once it is not live)

    @property
    def closed(self) -> Decimal:
        return sum(self.filled.values(), _ZERO)


class _Bracket:
    __slots__ = ("cancelled", "entry_filled", "entry_final", "generations", "roles")

    def __init__(self, roles: tuple[Role, ...]) -> None:
        self.roles = roles
        self.cancelled = False
        self.entry_filled = _ZERO
        self.entry_final = False
        self.generations: list[_Generation] = []

    def generation(self, number: int) -> _Generation:
        for generation in self.generations:
            if generation.number == number:
                return generation
        created = _Generation(number)
        self.generations.append(created)
        self.generations.sort(key=lambda g: g.number)
        return created

    def closed_before(self, number: int) -> Decimal:
        return sum((g.closed for g in self.generations if g.number < number), _ZERO)


class BracketBook:
    def __init__(self) -> None:
        self._brackets: dict[str, _Bracket] = {}

    def open(self, parent: str, roles: tuple[Role, ...]) -> None:
        """``parent`` is an entry wanting these protective roles once it fills."""
        self._brackets.setdefault(parent, _Bracket(roles))

    def __contains__(self, parent: object) -> bool:
        return parent in self._brackets

    def children_of(self, parent: str) -> tuple[str, ...]:
        """The live children of the newest generation."""
        bracket = self._brackets.get(parent)
        if bracket is None or not bracket.generations:
            return ()
        return tuple(sorted(bracket.generations[-1].live))

    def position(self, parent: str, filled: Decimal, final: bool) -> Forward | None:
        """The entry's filled quantity changed (or it became final)."""
        bracket = self._brackets.get(parent)
        if bracket is None:
            return None
        bracket.entry_filled = max(bracket.entry_filled, filled)
        bracket.entry_final = bracket.entry_final or final
        newest = bracket.generations[-1] if bracket.generations else None
        if newest is None or not newest.live:
            return None
        return Forward(
            parent=parent,
            children=tuple(sorted(newest.live)),
            position=bracket.entry_filled - bracket.closed_before(newest.number),
            final=bracket.entry_final,
        )

    def started(self, parent: str, generation: int, role: Role, child: str) -> None:
        """A child of ``generation`` exists (placed now, or found in the journal)."""
        bracket = self._brackets.get(parent)
        if bracket is None:
            return
        record = bracket.generation(generation)
        record.children[role] = child
        record.live.add(child)
        record.filled.setdefault(child, _ZERO)

    def filled(self, parent: str, child: str, filled: Decimal, *, final: bool) -> None:
        """A child has filled ``filled`` so far; ``final`` once it has ended."""
        bracket = self._brackets.get(parent)
        if bracket is None:
            return
        for generation in bracket.generations:
            if child in generation.filled:
                generation.filled[child] = max(generation.filled[child], filled)
                if final:
                    generation.live.discard(child)
                return

    def sibling_filled(self, parent: str, child: str) -> Decimal:
        """What the other child of ``child``'s generation has filled."""
        bracket = self._brackets.get(parent)
        if bracket is None:
            return _ZERO
        for generation in bracket.generations:
            if child in generation.filled:
                return sum((v for k, v in generation.filled.items() if k != child), _ZERO)
        return _ZERO

    def position_for(self, parent: str, child: str) -> tuple[Decimal, bool]:
        """The position ``child``'s generation covers, and whether the entry is final."""
        bracket = self._brackets.get(parent)
        if bracket is None:
            return _ZERO, False
        for generation in bracket.generations:
            if child in generation.filled:
                covered = bracket.entry_filled - bracket.closed_before(generation.number)
                return covered, bracket.entry_final
        return _ZERO, bracket.entry_final

    def siblings(self, parent: str, child: str) -> tuple[str, ...]:
        """The live children of ``child``'s generation other than itself."""
        bracket = self._brackets.get(parent)
        if bracket is None:
            return ()
        for generation in bracket.generations:
            if child in generation.filled:
                return tuple(sorted(generation.live - {child}))
        return ()

    def cancel(self, parent: str) -> None:
        """The signal was cancelled (or the engine halted): start no further protection."""
        bracket = self._brackets.get(parent)
        if bracket is not None:
            bracket.cancelled = True

    def settled(self, parent: str) -> bool:
        """Nothing is live and nothing more will be due for this entry (given it is final)."""
        bracket = self._brackets.get(parent)
        if bracket is None:
            return True
        live = any(g.live for g in bracket.generations)
        return bracket.entry_final and not live and self.due(parent) is None

    def due(self, parent: str) -> Spawn | None:
        """The protection that should exist now and does not."""
        bracket = self._brackets.get(parent)
        if bracket is None or bracket.cancelled or not bracket.roles:
            return None
        newest = bracket.generations[-1] if bracket.generations else None
        if newest is not None and newest.live:
            # A generation whose other child was never started (a crash between the two).
            missing = tuple(role for role in bracket.roles if role not in newest.children)
            if not missing:
                return None
            return Spawn(
                parent=parent,
                generation=newest.number,
                roles=missing,
                position=bracket.entry_filled - bracket.closed_before(newest.number),
                final=bracket.entry_final,
                sibling_filled=newest.closed,
            )
        closed = sum((g.closed for g in bracket.generations), _ZERO)
        uncovered = bracket.entry_filled - closed
        if uncovered <= 0:
            return None
        if newest is not None:
            if newest.number >= MAX_GENERATIONS:
                return None
            if newest.closed <= 0:
                # The generation ended without closing anything (cancelled, rejected): not a
                # reason to place the same protection again.
                return None
        return Spawn(
            parent=parent,
            generation=newest.number + 1 if newest is not None else 1,
            roles=bracket.roles,
            position=uncovered,
            final=bracket.entry_final,
        )
