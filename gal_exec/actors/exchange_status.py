"""ExchangeStatus: polls Kraken's public SystemStatus (and Time) so readiness and the metrics know
whether the exchange is online and how far this machine's clock is from it.

The calls run in an HttpWorker this actor starts (no network in a handler); a timer paces them,
every ``interval_s``. Public endpoints are limited per IP, not by the key's REST counter.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any, cast

import msgspec
import pykka

from gal_exec.actors import protocol as p
from gal_exec.actors.http_worker import HttpWorker
from gal_exec.actors.runtime import ThreadActor
from gal_exec.core.clock import Clock
from gal_exec.core.timers import TimerFired

__all__ = ["ExchangeStatus", "StatusHealth"]

log = logging.getLogger("gal_exec.exchange_status")
_KEY = "exchange-status:poll"

Inbox = TimerFired | p.HttpDone | p.GetHealth


class StatusHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The last status, its age in seconds, the clock offset and poll counts."""

    status: str | None
    status_time: str | None
    age_s: float | None
    max_age_s: float
    clock_offset_s: float | None
    polls: int
    failures: int
    last_error: str


class ExchangeStatus(ThreadActor):
    """Keeps the last SystemStatus answer, when it came, and the clock offset to the exchange."""

    def __init__(
        self, *, rest_client: Any, clock: Clock, timers: p.TimerScheduler, interval_s: float
    ) -> None:
        super().__init__()
        self.rest_client = rest_client
        self.clock = clock
        self.timers = timers
        self.interval_s = interval_s
        self.worker: pykka.ActorRef[HttpWorker] | None = None
        self.generation: int | None = None
        self._ids = itertools.count(1)
        self.status: str | None = None
        self.status_time: str | None = None
        self.checked_at: float | None = None  # clock.monotonic() of the last answer
        self.clock_offset_s: float | None = None
        self.polls = 0
        self.failures = 0
        self.last_error = ""

    def on_start(self) -> None:
        self.worker = HttpWorker.start(self.rest_client, clock=self.clock)
        self._poll()

    def on_stop(self) -> None:
        self.timers.cancel(_KEY)
        if self.worker is not None:
            self.worker.stop()

    def on_receive(self, message: Any) -> StatusHealth | None:
        return self._handle(cast(Inbox, message))

    def _handle(self, message: Inbox) -> StatusHealth | None:
        match message:
            case TimerFired(key=key, generation=generation):
                if key == _KEY and generation == self.generation:
                    self._poll()
            case p.HttpDone(endpoint="SystemStatus"):
                self._status(message)
            case p.HttpDone(endpoint="Time"):
                self._time(message)
            case p.HttpDone():
                pass  # only those two are asked
            case p.GetHealth():
                return self.health()
            case _:
                p.unexpected(message, actor="ExchangeStatus", log=log)
        return None

    def _poll(self) -> None:
        self.generation = self.timers.schedule(_KEY, self.interval_s, self.actor_ref)
        self.polls += 1
        worker = self.worker
        if worker is None:
            return
        for endpoint, method in (("SystemStatus", "system_status"), ("Time", "time")):
            worker.tell(
                p.HttpCall(
                    call_id=next(self._ids),
                    endpoint=endpoint,
                    method_name=method,
                    reply_to=self.actor_ref,
                )
            )

    def _status(self, done: p.HttpDone) -> None:
        if done.error is not None:
            self.failures += 1
            self.last_error = f"{type(done.error).__name__}: {done.error}"
            if self.failures == 1 or self.failures % 10 == 0:
                log.warning("SystemStatus poll failed: %s", self.last_error)
            return
        status = str(done.result.status)
        if status != self.status and self.status is not None:
            log.warning("exchange status changed: %s -> %s", self.status, status)
        self.status = status
        self.status_time = done.result.timestamp
        self.checked_at = done.finished

    def _time(self, done: p.HttpDone) -> None:
        if done.error is not None:
            return
        # Kraken's Time is whole seconds (truncated): its middle against the call's middle.
        elapsed_since_middle = self.clock.monotonic() - (done.started + done.finished) / 2
        local_middle = self.clock.time() - elapsed_since_middle
        self.clock_offset_s = round(done.result.unixtime + 0.5 - local_middle, 3)

    def health(self) -> StatusHealth:
        """The last status, its age in seconds, the clock offset and poll counts."""
        age = None
        if self.checked_at is not None:
            age = round(max(0.0, self.clock.monotonic() - self.checked_at), 3)
        return StatusHealth(
            status=self.status,
            status_time=self.status_time,
            age_s=age,
            max_age_s=3 * self.interval_s,
            clock_offset_s=self.clock_offset_s,
            polls=self.polls,
            failures=self.failures,
            last_error=self.last_error,
        )
