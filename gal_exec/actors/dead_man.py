"""DeadMansSwitch: keeps Kraken's CancelAllOrdersAfter armed, so a dead engine leaves no orders.

Armed at start and refreshed on a timer well inside its timeout; if the engine dies, the refreshes
stop and Kraken cancels every open order when the timeout lapses. If the switch cannot be kept
armed (never armed, or refreshes failing until it would lapse before the next try), that is an
alert: the supervisor is told to halt new placements, since an order placed now would not be
protected by the switch. Orders resume only on an explicit Resume.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any, cast

import msgspec

from gal_exec.actors import protocol as p
from gal_exec.actors.runtime import ThreadActor
from gal_exec.core.clock import Clock
from gal_exec.core.timers import TimerFired

__all__ = ["DeadMansSwitch", "SwitchHealth"]

log = logging.getLogger("gal_exec.dead_man")
_KEY = "dead-man:refresh"
_ids = itertools.count(1)

Inbox = TimerFired | p.CancelAllAfterResult | p.GetHealth


class SwitchHealth(msgspec.Struct, frozen=True, kw_only=True):
    armed: bool
    timeout_s: int
    trigger_time: str | None
    time_left_s: float | None
    refreshes: int
    failures: int
    halted_placements: bool


class DeadMansSwitch(ThreadActor):
    def __init__(
        self,
        *,
        gateway: p.Tellable,
        timers: p.TimerScheduler,
        timeout_s: int,
        refresh_s: float,
        supervisor: p.Tellable | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self.gateway = gateway
        self.timers = timers
        self.timeout_s = timeout_s
        self.refresh_s = refresh_s
        self.supervisor = supervisor
        self.clock = clock
        self.generation: int | None = None
        self.trigger_time: str | None = None
        self.refreshes = 0
        self.failures = 0
        self.armed_until: float | None = None  # monotonic, when the last arm lapses
        self.sent_at: float | None = None
        self.halted = False

    def on_start(self) -> None:
        self._arm()

    def on_stop(self) -> None:
        self.timers.cancel(_KEY)

    def on_receive(self, message: Any) -> SwitchHealth | None:
        return self._handle(cast(Inbox, message))

    def _handle(self, message: Inbox) -> SwitchHealth | None:
        match message:
            case TimerFired(key=key, generation=generation):
                if key == _KEY and generation == self.generation:
                    self._arm()
            case p.CancelAllAfterResult(error=None, trigger_time=trigger_time):
                self.refreshes += 1
                self.trigger_time = trigger_time
                if self.sent_at is not None:
                    self.armed_until = self.sent_at + self.timeout_s
                if self.halted:
                    log.warning("dead man's switch is armed again; send Resume to place orders")
                    self.halted = False
            case p.CancelAllAfterResult(error=error):
                self.failures += 1
                detail = error.raw if error is not None else "unknown error"
                self._failed(detail)
            case p.GetHealth():
                return self._health()
            case _:
                p.unexpected(message, actor="DeadMansSwitch", log=log)
        return None

    def _arm(self) -> None:
        self.sent_at = self._now()
        self.gateway.tell(
            p.CancelAllAfter(
                request_id=next(_ids), timeout_s=self.timeout_s, reply_to=self.actor_ref
            )
        )
        self.generation = self.timers.schedule(_KEY, self.refresh_s, self.actor_ref)

    def _failed(self, detail: str) -> None:
        now = self._now()
        lapses = self.armed_until is None or (
            now is not None and now + self.refresh_s >= self.armed_until
        )
        if not lapses:
            log.warning("dead man's switch refresh failed (still armed): %s", detail)
            return
        log.error(
            "ALERT: the dead man's switch cannot be kept armed (%s); halting new placements",
            detail,
        )
        if not self.halted and self.supervisor is not None:
            self.halted = True
            reason = f"dead man's switch cannot be kept armed: {detail}"
            p.tell_quietly(self.supervisor, p.HaltRequested(reason=reason))

    def _now(self) -> float | None:
        return self.clock.monotonic() if self.clock is not None else None

    def _health(self) -> SwitchHealth:
        now = self._now()
        left = None
        if now is not None and self.armed_until is not None:
            left = max(0.0, self.armed_until - now)
        return SwitchHealth(
            armed=self.refreshes > 0 and (left is None or left > 0),
            timeout_s=self.timeout_s,
            trigger_time=self.trigger_time,
            time_left_s=left,
            refreshes=self.refreshes,
            failures=self.failures,
            halted_placements=self.halted,
        )
