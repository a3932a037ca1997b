"""DeadMansSwitch: keeps Kraken's CancelAllOrdersAfter armed, so a dead engine leaves no orders.

Armed at start and refreshed on a timer well inside its timeout; if the engine dies, the refreshes
stop and Kraken cancels every open order when the timeout lapses.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import pykka

from gal_exec.actors import protocol as p
from gal_exec.core.timers import TimerFired

__all__ = ["DeadMansSwitch"]

log = logging.getLogger("gal_exec.dead_man")
_KEY = "dead-man:refresh"
_ids = itertools.count(1)


class DeadMansSwitch(pykka.ThreadingActor):
    def __init__(
        self,
        *,
        gateway: Any,
        timers: Any,
        timeout_s: int,
        refresh_s: float,
        clock: Any = None,
    ) -> None:
        super().__init__()
        self.gateway = gateway
        self.timers = timers
        self.timeout_s = timeout_s
        self.refresh_s = refresh_s
        self.clock = clock
        self.generation: int | None = None
        self.trigger_time: str | None = None
        self.refreshes = 0
        self.failures = 0
        # When the switch was last pushed back (clock.monotonic()), from the request's sending:
        # the exchange's trigger is at most timeout_s after it.
        self.sent_at: float | None = None
        self.armed_at: float | None = None

    def on_start(self) -> None:
        self._arm()

    def on_stop(self) -> None:
        self.timers.cancel(_KEY)

    def on_receive(self, message: Any) -> Any:
        match message:
            case TimerFired(key=_KEY, generation=generation) if generation == self.generation:
                self._arm()
            case p.CancelAllAfterResult(error=None, trigger_time=trigger_time):
                self.refreshes += 1
                self.trigger_time = trigger_time
                self.armed_at = self.sent_at
            case p.CancelAllAfterResult(error=error):
                self.failures += 1
                log.warning("dead man's switch refresh failed: %s", getattr(error, "raw", error))
            case p.GetHealth():
                return {
                    "armed": self.refreshes > 0,
                    "timeout_s": self.timeout_s,
                    "trigger_time": self.trigger_time,
                    "time_left_s": self._time_left(),
                    "refreshes": self.refreshes,
                    "failures": self.failures,
                }
        return None

    def _time_left(self) -> float | None:
        """Seconds until the exchange would cancel everything, counted from the last arming
        request that succeeded (None before one, or without a clock)."""
        if self.clock is None or self.armed_at is None:
            return None
        return round(self.timeout_s - (self.clock.monotonic() - self.armed_at), 3)

    def _arm(self) -> None:
        if self.clock is not None:
            self.sent_at = self.clock.monotonic()
        self.gateway.tell(
            p.CancelAllAfter(
                request_id=next(_ids), timeout_s=self.timeout_s, reply_to=self.actor_ref
            )
        )
        self.generation = self.timers.schedule(_KEY, self.refresh_s, self.actor_ref)
