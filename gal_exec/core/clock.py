"""Injected time: the `Clock` protocol, the machine's `SystemClock` and a `ManualClock` that tests
move by hand.

Pure code never reads the machine's clock; it asks a `Clock` it was given. `SystemClock` is
defined here only so that every layer (the runtime, the Kraken clients, the journal, the
simulator) defaults to the same one; nothing in core calls it.
"""

from __future__ import annotations

import math

# The one thread primitive in core: a ManualClock is advanced by a test thread while
# actor and timer threads read it, so its state needs a lock. Nothing here starts a thread.
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """A source of time: wall-clock epoch seconds and a monotonic reading for intervals."""

    def time(self) -> float:
        """Seconds since the Unix epoch (may jump; use for timestamps only)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (use for deadlines and intervals)."""
        ...


class SystemClock:
    """The machine's clock: `time.time()` and `time.monotonic()`."""

    def time(self) -> float:
        """Seconds since the Unix epoch."""
        return time.time()

    def monotonic(self) -> float:
        """Seconds on the OS monotonic clock."""
        return time.monotonic()


class ManualClock:
    """A clock that only moves when told to; thread-safe, with change listeners.

    `monotonic()` starts at 0.0 and advances with `time()`. `set()` may move the wall clock
    backwards (to test clock jumps) but the monotonic reading never decreases.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        _check_finite("start", start)
        self._lock = threading.Lock()
        self._epoch = float(start)
        self._monotonic = 0.0
        self._listeners: list[Callable[[], None]] = []

    def time(self) -> float:
        """Current manual epoch seconds."""
        with self._lock:
            return self._epoch

    def monotonic(self) -> float:
        """Current manual monotonic seconds (0.0 at construction)."""
        with self._lock:
            return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move both readings forward by `seconds` (>= 0), then call the listeners."""
        _check_finite("seconds", seconds)
        if seconds < 0:
            raise ValueError(f"cannot advance a clock by a negative amount ({seconds})")
        with self._lock:
            self._epoch += seconds
            self._monotonic += seconds
            listeners = tuple(self._listeners)
        _notify(listeners)

    def set(self, epoch: float) -> None:
        """Jump the wall clock to `epoch`; monotonic moves forward by any positive step only."""
        _check_finite("epoch", epoch)
        with self._lock:
            step = epoch - self._epoch
            self._epoch = float(epoch)
            if step > 0:
                self._monotonic += step
            listeners = tuple(self._listeners)
        _notify(listeners)

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call `callback()` (from the advancing thread) after every advance or set."""
        with self._lock:
            self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        """Stop calling `callback`; removing an unknown callback is a no-op."""
        with self._lock:
            if callback in self._listeners:
                self._listeners.remove(callback)


def _notify(listeners: tuple[Callable[[], None], ...]) -> None:
    # Listeners run outside the lock so one may read the clock without deadlocking.
    for listener in listeners:
        listener()


def _check_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
