"""ErrorClassifier: counts the gateway's errors and runs one circuit breaker per error category.

The gateway tells it every classified error (ErrorObserved) and every clean answer to a half-open
trial (SuccessObserved). A breaker that opens, half-opens or closes is told to every subscriber
as BreakerChanged; the gateway holds traffic on it and the supervisor may report it. An open
breaker becomes half-open by a TimerService wake-up, not by polling.

An ``auth_or_lockout`` error means the key is refused; retrying only prolongs a lockout. The
first one tells the subscribers HaltRequested, naming the error and what to check, once until
that breaker closes again. ``EAPI:Invalid nonce`` is the exception: one can be a race, and the
gateway retries it once with a fresh nonce. A second one with no clean REST answer in between
(the retry failed too, or the next call did) means the nonces are being overtaken: most likely
another client is using the key, or its nonce window is too small. That halts, as does the auth
breaker opening. The gateway tells a clean answer after a nonce error as a SuccessObserved.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterable
from typing import Any, cast

import msgspec
import pykka

from gal_exec.actors.protocol import (
    BreakerChanged,
    ErrorObserved,
    GetHealth,
    HaltRequested,
    SubscribeAlerts,
    SuccessObserved,
    Tellable,
    TimerScheduler,
    unexpected,
)
from gal_exec.actors.runtime import ThreadActor
from gal_exec.config import Config
from gal_exec.core.breaker import BreakerSet, BreakerState
from gal_exec.core.clock import Clock
from gal_exec.core.timers import TimerFired
from gal_exec.kraken.errors import ErrorCategory

__all__ = ["ClassifierStats", "ErrorClassifier", "halt_reason"]

logger = logging.getLogger("gal_exec.actors.error_classifier")

_AUTH = str(ErrorCategory.AUTH_OR_LOCKOUT)
_NONCE = "EAPI:Invalid nonce"

_HINTS = {
    "EAPI:Invalid key": "check the API key and secret",
    "EAPI:Invalid signature": "check the API secret and that requests are not altered on the way",
    _NONCE: (
        "Kraken refused our nonces again after a retry with a fresh one: another client is "
        "probably using this API key (give each client its own key), or the key's nonce window "
        "is too small for this engine (raise it at Kraken and set exchange.nonce_window)"
    ),
    "EGeneral:Temporary lockout": (
        "Kraken locked the key out after repeated auth errors (about 15 minutes); fix the cause "
        "and wait before resuming"
    ),
    "EGeneral:Permission denied": (
        "the API key lacks a permission: it needs query and create/modify/cancel orders"
    ),
    "EAccount:Invalid permissions": (
        "the API key lacks a permission: it needs query and create/modify/cancel orders"
    ),
    "EAuth:Account temporary disabled": "the Kraken account is disabled; contact Kraken",
    "EAuth:Account unconfirmed": "the Kraken account is not verified for trading",
    "credentials": "set the API key and secret environment variables",
}


def halt_reason(code: str) -> str:
    """One line a person can act on, e.g. ``EAPI:Invalid key: check the API key and secret``."""
    return f"{code}: {_HINTS.get(code, 'the exchange refused the API key')}"


Inbox = ErrorObserved | SuccessObserved | TimerFired | SubscribeAlerts | GetHealth


class ClassifierStats(msgspec.Struct, frozen=True, kw_only=True):
    """Counts since start, the breakers' states, and whether a halt was requested."""

    by_category: dict[str, int]
    by_code: dict[str, int]
    breakers: dict[str, str]
    halt_requested: bool
    last_halt_reason: str | None


class ErrorClassifier(ThreadActor):
    """Statistics and circuit breakers over the gateway's errors."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock,
        timers: TimerScheduler,
        subscribers: Iterable[Tellable] = (),
        name: str = "error-classifier",
    ) -> None:
        super().__init__()
        settings = config.circuit_breaker
        self._clock = clock
        self._timers = timers
        self._subscribers: list[Tellable] = list(subscribers)
        self._breakers = BreakerSet(
            clock,
            failure_threshold=settings.failure_threshold,
            window_s=settings.window_s,
            open_s=settings.open_s,
            half_open_max_calls=settings.half_open_max_calls,
        )
        self._timer_prefix = f"{name}:breaker:"
        self._timer_generations: dict[str, int] = {}
        self._by_category: collections.Counter[str] = collections.Counter()
        self._by_code: collections.Counter[str] = collections.Counter()
        self._halted = False
        self._last_halt_reason: str | None = None
        self._nonce_streak = 0
        """Nonce errors since the last clean REST answer."""

    def on_stop(self) -> None:
        for category in list(self._timer_generations):
            self._timers.cancel(self._timer_prefix + category)

    def on_receive(self, message: Any) -> ClassifierStats | None:
        return self._handle(cast(Inbox, message))

    def _handle(self, message: Inbox) -> ClassifierStats | None:
        match message:
            case ErrorObserved():
                self._on_error(message)
            case SuccessObserved(categories=categories):
                self._nonce_streak = 0
                for category in categories:
                    self._changed(category, self._breakers.record_success(category))
            case TimerFired():
                self._on_timer(message)
            case SubscribeAlerts(ref=ref):
                if ref not in self._subscribers:
                    self._subscribers.append(ref)
            case GetHealth():
                return self.stats()
            case _:
                unexpected(message, actor="ErrorClassifier", log=logger)
        return None

    def _on_error(self, observed: ErrorObserved) -> None:
        error = observed.error
        category = str(error.category)
        self._by_category[category] += 1
        self._by_code[error.code] += 1
        self._changed(category, self._breakers.record_failure(category))
        if error.code == _NONCE:
            self._nonce_streak += 1
            if self._nonce_streak >= 2:
                self._halt(_NONCE)
        elif category == _AUTH:
            self._halt(error.code)

    def _on_timer(self, fired: TimerFired) -> None:
        if not fired.key.startswith(self._timer_prefix):
            return
        category = fired.key[len(self._timer_prefix) :]
        if self._timer_generations.get(category) != fired.generation:
            return  # superseded or cancelled
        del self._timer_generations[category]
        self._changed(category, None)

    def _changed(self, category: str, change: BreakerState | None) -> None:
        """Announce ``change`` and any time-driven change, and keep a wake-up for an open breaker."""
        breaker = self._breakers[category]
        for state in (change, breaker.poll()):
            if state is not None:
                self._announce(category, state)
        key = self._timer_prefix + category
        if breaker.state is BreakerState.OPEN:
            # Also after a silent re-open (a failure just as the open time ran out).
            delay = breaker.seconds_until_half_open()
            self._timer_generations[category] = self._timers.schedule(key, delay, self.actor_ref)
        elif category in self._timer_generations:
            self._timers.cancel(key)
            del self._timer_generations[category]

    def _announce(self, category: str, state: BreakerState) -> None:
        logger.warning("circuit breaker %s is now %s", category, state)
        self._tell_all(BreakerChanged(category=category, state=str(state), time=self._clock.time()))
        if category == _AUTH:
            if state is BreakerState.OPEN:
                self._halt(_NONCE if self._by_code.get(_NONCE) else "auth_or_lockout")
            elif state is BreakerState.CLOSED:
                self._halted = False  # the key works again: a new refusal may halt again

    def _halt(self, code: str) -> None:
        if self._halted:
            return
        self._halted = True
        reason = halt_reason(code)
        self._last_halt_reason = reason
        logger.error("requesting a halt: %s", reason)
        self._tell_all(HaltRequested(reason=reason, error_code=code))

    def _tell_all(self, message: BreakerChanged | HaltRequested) -> None:
        for ref in list(self._subscribers):
            try:
                ref.tell(message)
            except pykka.ActorDeadError:
                self._subscribers.remove(ref)

    def stats(self) -> ClassifierStats:
        """Counts and breaker states (ask at the edge only)."""
        return ClassifierStats(
            by_category=dict(self._by_category),
            by_code=dict(self._by_code),
            breakers={category: str(state) for category, state in self._breakers.states().items()},
            halt_requested=self._halted,
            last_halt_reason=self._last_halt_reason,
        )
