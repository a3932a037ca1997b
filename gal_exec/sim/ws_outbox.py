"""A connection's outgoing queue: replies leave at once, channel updates in order after any delay.

Producers (the reader thread, exchange callbacks on any thread) never block on it; one sender
thread per connection drains it. A delayed update holds back the updates behind it, so
``sequence`` numbers stay in order on the wire, while replies may overtake them: that is how a
late executions stream looks to a client.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

__all__ = ["CLOSED", "Outbox"]

#: Returned by :meth:`Outbox.take` once the outbox is closed.
CLOSED: Any = object()

# A delayed update waits on the exchange's clock, which a test may move by hand without telling
# us; so while one is pending the sender looks again at least this often (seconds, real time).
_DELAY_POLL_S = 0.02


class Outbox:
    """Thread-safe queue of encoded messages: replies and (possibly delayed) updates."""

    def __init__(self, clock: Any) -> None:
        self._clock = clock
        self._condition = threading.Condition()
        self._ready: deque[bytes] = deque()
        self._delayed: deque[tuple[float, bytes]] = deque()
        self._closed = False

    def put_reply(self, payload: bytes) -> None:
        """Queue a reply, ack, snapshot or status message to go out next."""
        with self._condition:
            if not self._closed:
                self._ready.append(payload)
                self._condition.notify()

    def put_update(self, payload: bytes, delay_s: float = 0.0) -> None:
        """Queue a channel update due ``delay_s`` seconds from now on the exchange's clock."""
        with self._condition:
            if self._closed:
                return
            if delay_s <= 0 and not self._delayed:
                self._ready.append(payload)
            else:
                due = self._clock.monotonic() + max(delay_s, 0.0)
                if self._delayed:
                    due = max(due, self._delayed[-1][0])
                self._delayed.append((due, payload))
            self._condition.notify()

    def take(self, idle_deadline: float | None) -> Any:
        """The next payload; None when ``idle_deadline`` (time.monotonic) passes with nothing
        to send; CLOSED once closed."""
        with self._condition:
            while True:
                if self._closed:
                    return CLOSED
                if self._ready:
                    return self._ready.popleft()
                timeout: float | None = None
                if self._delayed:
                    remaining = self._delayed[0][0] - self._clock.monotonic()
                    if remaining <= 0:
                        return self._delayed.popleft()[1]
                    timeout = min(remaining, _DELAY_POLL_S)
                if idle_deadline is not None:
                    idle = idle_deadline - time.monotonic()
                    if idle <= 0:
                        return None
                    timeout = idle if timeout is None else min(timeout, idle)
                self._condition.wait(timeout)

    def close(self) -> None:
        """Drop everything queued and wake the sender."""
        with self._condition:
            self._closed = True
            self._ready.clear()
            self._delayed.clear()
            self._condition.notify_all()

    @property
    def pending(self) -> int:
        """Messages queued and not yet taken."""
        with self._condition:
            return len(self._ready) + len(self._delayed)
