"""Circuit breakers: stop calling a failing category of requests for a while, then probe.

Rules:

- closed: every call is allowed. A failure is counted in a sliding window of `window_s`
  seconds; `failure_threshold` failures within the window open the breaker. Successes do not
  erase counted failures (an error storm with a few successes in between still trips it).
- open: no call is allowed until `open_s` seconds have passed, then the breaker is half open.
  Failures and successes reported while open (from calls issued before it opened) are ignored.
- half_open: up to `half_open_max_calls` trial calls are allowed; a failure reopens the breaker
  for another `open_s`; `half_open_max_calls` successes close it.

State changes are reported as return values: `record_success`, `record_failure` and `poll` return
the new state when it differs from the state last reported, else None, so the owning actor can
tell others. The open -> half_open change happens by time: `poll` (e.g. on a timer) reports it.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum

from gal_exec.core.clock import Clock

__all__ = ["BreakerSet", "BreakerState", "CircuitBreaker"]


class BreakerState(StrEnum):
    """Whether calls of a category may go out."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """One breaker; time comes from `clock.monotonic()`."""

    def __init__(
        self,
        failure_threshold: int,
        window_s: float,
        open_s: float,
        half_open_max_calls: int,
        clock: Clock,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold}")
        if window_s <= 0 or open_s <= 0:
            raise ValueError("window_s and open_s must be positive")
        if half_open_max_calls < 1:
            raise ValueError(f"half_open_max_calls must be >= 1, got {half_open_max_calls}")
        self.failure_threshold = failure_threshold
        self.window_s = window_s
        self.open_s = open_s
        self.half_open_max_calls = half_open_max_calls
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._reported = BreakerState.CLOSED
        self._failures: deque[float] = deque()
        self._opened_at = 0.0
        self._trial_calls = 0
        self._trial_successes = 0

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker whose time is up reads as half_open)."""
        self._advance_by_time()
        return self._state

    def allow(self) -> bool:
        """May a call go out now? In half_open each True uses up one trial call."""
        self._advance_by_time()
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.HALF_OPEN and self._trial_calls < self.half_open_max_calls:
            self._trial_calls += 1
            return True
        return False

    def record_success(self) -> BreakerState | None:
        """Report a successful call; returns the new state if it changed since last reported."""
        self._advance_by_time()
        if self._state is BreakerState.HALF_OPEN:
            self._trial_successes += 1
            if self._trial_successes >= self.half_open_max_calls:
                self._close()
        return self._report()

    def record_failure(self) -> BreakerState | None:
        """Report a failed call; returns the new state if it changed since last reported."""
        self._advance_by_time()
        now = self._clock.monotonic()
        if self._state is BreakerState.HALF_OPEN:
            self._open(now)
        elif self._state is BreakerState.CLOSED:
            self._failures.append(now)
            self._forget_before(now - self.window_s)
            if len(self._failures) >= self.failure_threshold:
                self._open(now)
        return self._report()

    def poll(self) -> BreakerState | None:
        """Apply time-driven changes; returns the new state if it changed since last reported."""
        self._advance_by_time()
        return self._report()

    def seconds_until_half_open(self) -> float:
        """How long an open breaker stays open (0 when it is not open)."""
        self._advance_by_time()
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.open_s - self._clock.monotonic())

    def _advance_by_time(self) -> None:
        if self._state is BreakerState.OPEN and (
            self._clock.monotonic() >= self._opened_at + self.open_s
        ):
            self._state = BreakerState.HALF_OPEN
            self._trial_calls = 0
            self._trial_successes = 0

    def _open(self, now: float) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._failures.clear()

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._failures.clear()

    def _forget_before(self, cutoff: float) -> None:
        while self._failures and self._failures[0] <= cutoff:
            self._failures.popleft()

    def _report(self) -> BreakerState | None:
        if self._state is self._reported:
            return None
        self._reported = self._state
        return self._state


class BreakerSet:
    """Breakers keyed by category (e.g. "private", "trading:XBTUSD"), created on first use."""

    def __init__(
        self,
        clock: Clock,
        *,
        failure_threshold: int = 5,
        window_s: float = 30.0,
        open_s: float = 30.0,
        half_open_max_calls: int = 1,
    ) -> None:
        self._clock = clock
        self._settings = (failure_threshold, window_s, open_s, half_open_max_calls)
        CircuitBreaker(*self._settings, clock)  # validate the settings now, not on first use
        self._breakers: dict[str, CircuitBreaker] = {}

    def __getitem__(self, category: str) -> CircuitBreaker:
        breaker = self._breakers.get(category)
        if breaker is None:
            breaker = CircuitBreaker(*self._settings, self._clock)
            self._breakers[category] = breaker
        return breaker

    def allow(self, category: str) -> bool:
        """May a call of `category` go out now?"""
        return self[category].allow()

    def record_success(self, category: str) -> BreakerState | None:
        """Report a success for `category`; the new state if it changed."""
        return self[category].record_success()

    def record_failure(self, category: str) -> BreakerState | None:
        """Report a failure for `category`; the new state if it changed."""
        return self[category].record_failure()

    def state(self, category: str) -> BreakerState:
        """The state of `category` (closed if never used)."""
        return self[category].state

    def states(self) -> dict[str, BreakerState]:
        """The state of every category used so far."""
        return {category: breaker.state for category, breaker in self._breakers.items()}

    def poll(self) -> dict[str, BreakerState]:
        """Apply time-driven changes everywhere; the categories whose state changed."""
        changes = {}
        for category, breaker in self._breakers.items():
            new_state = breaker.poll()
            if new_state is not None:
                changes[category] = new_state
        return changes
