"""The one timer thread every actor shares.

Actors never sleep. They ask `TimerService.schedule(key, delay, self.actor_ref)` and get a
`TimerFired(key, generation)` told to them when the delay passes; a generation they no longer
hold (re-scheduled or cancelled) is stale and ignored.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from typing import Any, Protocol

from pykka import ActorDeadError

from gal_exec.core.clock import Clock, SystemClock
from gal_exec.core.timers import DeadlineHeap, TimerFired

__all__ = ["MAX_DELAY_S", "SystemClock", "TimerService", "TimerTarget"]

logger = logging.getLogger("gal_exec.timers")

MAX_DELAY_S = 10 * 365 * 86400.0
"""The longest delay schedule() accepts (ten years); longer is a bug in the caller."""
_MAX_WAIT_S = 3600.0
_FAILURE_PAUSE_S = 0.05


class TimerTarget(Protocol):
    """Anything a `TimerFired` can be told to, such as a Pykka `ActorRef`."""

    def tell(self, message: Any) -> None: ...


class TimerService:
    """One daemon thread and a heap of deadlines; tells `TimerFired` to targets when due.

    Deadlines are on `clock.monotonic()`. With a clock that offers `add_listener` (a
    `ManualClock`) the thread waits without a timeout and wakes when the clock moves; with a
    real clock it waits on a condition until the next deadline.
    """

    def __init__(self, clock: Clock, *, name: str = "gal-exec-timers") -> None:
        self._clock = clock
        self._name = name
        self._heap = DeadlineHeap()
        self._targets: dict[str, TimerTarget] = {}
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        add_listener: Callable[[Callable[[], None]], None] | None = getattr(
            clock, "add_listener", None
        )
        self._clock_driven = callable(add_listener)

    def start(self) -> None:
        """Start the timer thread; calling it while running does nothing."""
        with self._condition:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        if self._clock_driven:
            self._clock.add_listener(self._wake)  # type: ignore[attr-defined]
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait up to `timeout` s for it; idempotent. Pending timers stay."""
        with self._condition:
            self._stopping = True
            thread = self._thread
            self._condition.notify_all()
        if self._clock_driven:
            self._clock.remove_listener(self._wake)  # type: ignore[attr-defined]
        if thread is None or thread is threading.current_thread():
            return
        thread.join(timeout)
        if thread.is_alive():
            logger.warning("timer thread did not stop within %.1f s", timeout)

    def schedule(self, key: str, delay_s: float, target: TimerTarget) -> int:
        """Tell `target` `TimerFired(key, generation)` after `delay_s`; return the generation.

        Scheduling a key that is already pending supersedes it: only the new generation fires.
        A negative delay means "now"; a delay that is not finite or above MAX_DELAY_S raises
        ValueError here, in the caller, rather than upsetting the timer thread later.
        """
        if not math.isfinite(delay_s) or delay_s > MAX_DELAY_S:
            raise ValueError(
                f"timer {key!r}: delay must be a finite number of seconds up to {MAX_DELAY_S:.0f}, "
                f"got {delay_s!r}"
            )
        deadline = self._clock.monotonic() + max(0.0, delay_s)
        with self._condition:
            earliest = self._heap.next_deadline()
            generation = self._heap.push(key, deadline)
            self._targets[key] = target
            # Wake the thread only if it must wait less: a wake-up costs a GIL hand-off, and
            # most timers (resolve, poll, timeouts) fall after one already pending.
            if self._clock_driven or earliest is None or deadline < earliest:
                self._condition.notify_all()
        return generation

    def cancel(self, key: str) -> None:
        """Forget `key`; a `TimerFired` for it already queued at the target is now stale."""
        with self._condition:
            self._heap.cancel(key)
            self._targets.pop(key, None)

    def pending(self) -> int:
        """How many timers are waiting to fire."""
        with self._condition:
            return len(self._heap)

    def generation_of(self, key: str) -> int | None:
        """The pending generation for `key`, or None when it is not pending."""
        with self._condition:
            return self._heap.generation_of(key)

    def _wake(self) -> None:
        with self._condition:
            self._condition.notify_all()

    def _run(self) -> None:
        while True:
            try:
                with self._condition:
                    due = self._wait_for_due()
                    if due is None:
                        return
            except Exception:
                # The one timer thread must outlive any bad deadline: every timeout, retry and
                # poll of the engine depends on it.
                logger.exception("timer thread: waiting for the next deadline failed; continuing")
                self._pause_after_failure()
                continue
            # Tell outside the lock: a target may schedule again from within tell().
            for key, generation, target in due:
                self._deliver(key, generation, target)

    def _pause_after_failure(self) -> None:
        """A short wait so a failure that repeats cannot spin the thread."""
        with self._condition:
            if not self._stopping:
                self._condition.wait(_FAILURE_PAUSE_S)

    def _wait_for_due(self) -> list[tuple[str, int, TimerTarget]] | None:
        """Under the lock: block until something is due (list) or the service stops (None)."""
        while not self._stopping:
            now = self._clock.monotonic()
            fired = self._heap.pop_due(now)
            if fired:
                return [(key, gen, self._targets.pop(key)) for key, gen in fired]
            next_deadline = self._heap.next_deadline()
            if next_deadline is None or self._clock_driven:
                self._condition.wait()
            else:
                # Waits are capped (a far deadline is re-checked): an OS wait overflows beyond
                # threading.TIMEOUT_MAX, about 292 years on Linux and far less elsewhere.
                self._condition.wait(min(max(0.0, next_deadline - now), _MAX_WAIT_S))
        return None

    def _deliver(self, key: str, generation: int, target: TimerTarget) -> None:
        try:
            target.tell(TimerFired(key=key, generation=generation))
        except ActorDeadError:
            logger.info("timer %r fired for a stopped actor; dropped", key)
        except Exception:
            logger.exception("timer %r: delivering TimerFired failed", key)
