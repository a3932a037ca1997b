"""Which protective children an entry needs: generations of stop-loss / take-profit pairs.

An entry's children cover its filled quantity and grow with it (amended in place). If a child
closes its part of the position while the entry is still filling (its stop was already beyond the
market, say), the pair is finished but the position keeps growing: a new generation of children
covers what the finished ones did not. Each generation is one OCO pair; generation n's children
cover ``entry filled - closed by generations before n``. Pure bookkeeping, no actors.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from gal_exec.core.vocabulary import MAX_GENERATIONS

__all__ = ["BracketBook", "Forward", "Spawn"]

_ZERO = Decimal(0)


class Spawn(msgspec.Struct, frozen=True, kw_only=True):
    """Start generation ``generation`` covering ``position`` (the entry's fills not yet closed)."""

    parent: str
    generation: int
    position: Decimal
    final: bool


class Forward(msgspec.Struct, frozen=True, kw_only=True):
    """Tell the live children of the current generation the position they cover."""

    parent: str
    children: tuple[str, ...]
    position: Decimal
    final: bool


class _Bracket:
    __slots__ = (
        "cancelled",
        "closed_before",
        "entry_filled",
        "entry_final",
        "filled",
        "generation",
        "live",
    )

    def __init__(self) -> None:
        self.cancelled = False
        self.entry_filled = _ZERO
        self.entry_final = False
        self.generation = 0
        self.closed_before = _ZERO  # closed by generations before the current one
        self.live: set[str] = set()  # children of the current generation not yet finished
        self.filled: dict[str, Decimal] = {}  # current generation: child -> filled when finished


class BracketBook:
    def __init__(self) -> None:
        self._brackets: dict[str, _Bracket] = {}

    def children_of(self, parent: str) -> tuple[str, ...]:
        bracket = self._brackets.get(parent)
        return tuple(bracket.live) if bracket is not None else ()

    def position(self, parent: str, filled: Decimal, final: bool) -> Spawn | Forward | None:
        """The entry's filled quantity changed (or it became final)."""
        bracket = self._brackets.setdefault(parent, _Bracket())
        bracket.entry_filled = max(bracket.entry_filled, filled)
        bracket.entry_final = bracket.entry_final or final
        return self._decide(parent, bracket)

    def spawned(self, parent: str, generation: int, children: list[str]) -> None:
        """The supervisor started ``children`` as ``generation`` of ``parent``."""
        bracket = self._brackets.setdefault(parent, _Bracket())
        bracket.generation = generation
        bracket.live = set(children)
        bracket.filled = {}

    def restored(
        self,
        parent: str,
        generation: int,
        child: str,
        closed_before: Decimal,
        sibling_closed: Decimal = _ZERO,
    ) -> None:
        """A live child of ``generation`` was respawned after a restart; its sibling, if it
        finished before, closed ``sibling_closed``."""
        bracket = self._brackets.setdefault(parent, _Bracket())
        if generation > bracket.generation:
            bracket.generation = generation
            bracket.live = set()
            bracket.filled = {}
        bracket.closed_before = closed_before
        bracket.live.add(child)
        if sibling_closed > 0:
            bracket.filled["(finished sibling)"] = sibling_closed

    def load(self, parent: str, generation: int, closed: Decimal) -> None:
        """After a restart: ``generation`` is the newest, finished, and all generations together
        closed ``closed`` of the position."""
        bracket = self._brackets.setdefault(parent, _Bracket())
        if generation >= bracket.generation and not bracket.live:
            bracket.generation = generation
            bracket.closed_before = closed
            bracket.filled = {}

    def cancel(self, parent: str) -> None:
        """The signal was cancelled (or the engine halted): start no further generation."""
        self._brackets.setdefault(parent, _Bracket()).cancelled = True

    def finished(self, parent: str, child: str, filled: Decimal) -> Spawn | None:
        """A child ended having filled ``filled``; a finished generation may need a successor."""
        bracket = self._brackets.get(parent)
        if bracket is None or child not in bracket.live:
            return None
        bracket.live.discard(child)
        bracket.filled[child] = filled
        decision = self._decide(parent, bracket)
        return decision if isinstance(decision, Spawn) else None

    def _decide(self, parent: str, bracket: _Bracket) -> Spawn | Forward | None:
        if bracket.live:
            return Forward(
                parent=parent,
                children=tuple(sorted(bracket.live)),
                position=bracket.entry_filled - bracket.closed_before,
                final=bracket.entry_final,
            )
        closed_now = sum(bracket.filled.values(), _ZERO)
        closed = bracket.closed_before + closed_now
        uncovered = bracket.entry_filled - closed
        if uncovered <= 0 or bracket.cancelled or bracket.generation >= MAX_GENERATIONS:
            return None
        if bracket.generation > 0 and closed_now <= 0 and bracket.filled:
            # The generation ended without closing anything (cancelled, rejected): not a reason
            # to place the same protection again.
            return None
        if bracket.generation > 0:
            bracket.closed_before = closed
        return Spawn(
            parent=parent,
            generation=bracket.generation + 1,
            position=uncovered,
            final=bracket.entry_final,
        )
