"""The pure half of the timer service: the `TimerFired` message and a deadline heap.

The runtime thread lives in `gal_exec.timers.TimerService`; it keeps a `DeadlineHeap`
and tells each target a `TimerFired` when its deadline passes.
"""

from __future__ import annotations

import heapq
import math

import msgspec

__all__ = ["DeadlineHeap", "TimerFired"]


class TimerFired(msgspec.Struct, frozen=True, kw_only=True):
    """A timer with `key` reached its deadline; stale unless `generation` is the one you hold."""

    key: str
    generation: int


class DeadlineHeap:
    """Deadlines keyed by name, one live deadline per key, with lazy deletion.

    Generations come from one counter shared by all keys, so a generation is never reused:
    after a re-schedule or a cancel, the old generation can never match again. Superseded
    and cancelled entries stay in the heap until they surface (or a compaction drops them).
    """

    _COMPACT_SLACK = 64

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str]] = []
        self._live: dict[str, tuple[int, float]] = {}
        self._last_generation = 0

    def push(self, key: str, deadline: float) -> int:
        """Set `key` to fire at `deadline` (superseding any earlier one); return its generation."""
        if not math.isfinite(deadline):
            raise ValueError(f"deadline for timer {key!r} must be finite, got {deadline!r}")
        self._last_generation += 1
        generation = self._last_generation
        self._live[key] = (generation, deadline)
        heapq.heappush(self._heap, (deadline, generation, key))
        self._maybe_compact()
        return generation

    def cancel(self, key: str) -> None:
        """Forget `key`'s deadline; its generation becomes stale. Unknown keys are ignored."""
        if self._live.pop(key, None) is not None:
            # The counter moves too, so any generation handed out later is provably newer.
            self._last_generation += 1
            self._maybe_compact()

    def pop_due(self, now: float) -> list[tuple[str, int]]:
        """Remove and return `(key, generation)` for each live deadline <= `now`, earliest first."""
        due: list[tuple[str, int]] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _deadline, generation, key = heapq.heappop(heap)
            live = self._live.get(key)
            if live is not None and live[0] == generation:
                del self._live[key]
                due.append((key, generation))
        return due

    def next_deadline(self) -> float | None:
        """The earliest live deadline, or None when nothing is pending."""
        heap = self._heap
        while heap:
            _deadline, generation, key = heap[0]
            live = self._live.get(key)
            if live is not None and live[0] == generation:
                return heap[0][0]
            heapq.heappop(heap)
        return None

    def generation_of(self, key: str) -> int | None:
        """The live generation for `key`, or None if it is not pending."""
        live = self._live.get(key)
        return None if live is None else live[0]

    def deadline_of(self, key: str) -> float | None:
        """The live deadline for `key`, or None if it is not pending."""
        live = self._live.get(key)
        return None if live is None else live[1]

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: object) -> bool:
        return key in self._live

    def _maybe_compact(self) -> None:
        # A key re-scheduled far ahead over and over would otherwise grow the heap forever.
        if len(self._heap) > 2 * len(self._live) + self._COMPACT_SLACK:
            self._heap = [(deadline, gen, key) for key, (gen, deadline) in self._live.items()]
            heapq.heapify(self._heap)
