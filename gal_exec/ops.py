"""Running the engine as an operator would: what Engine.start adds around the trading actors.

``Operations`` is created by the engine and owns the parts that let a person (or a probe) see
and trust it: the ExchangeStatus watcher (SystemStatus and the exchange's clock), the tracker of
orders whose outcome is unknown (fed by the report stream), the HTTP endpoint with ``/healthz``,
``/readyz`` and ``/metrics``, and the systemd notifier. Actors are asked only here, at the edge
(an HTTP request, a watchdog tick), never from inside an actor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pykka

from gal_exec.actors import protocol as p
from gal_exec.actors.market_data import MarketHealth
from gal_exec.config import Config
from gal_exec.core.readiness import Readiness, ReadinessFacts, StreamState, readiness
from gal_exec.core.unknown_outcomes import UnknownOutcomes
from gal_exec.kraken.ratelimits import TIER_LIMITS, Tier
from gal_exec.messages import ExecutionReport

__all__ = ["Operations", "readiness_facts", "wait_for_first_prices"]

log = logging.getLogger("gal_exec.ops")
_ASK_TIMEOUT_S = 5.0
LIVENESS_TIMEOUT_S = 2.0
"""How long every actor together may take to answer a liveness probe."""


def wait_for_first_prices(market_data: pykka.ActorRef, timeout_s: float) -> list[str]:
    """Wait (at start, at the edge) until market data has priced every pair it follows, so the
    first signals are not refused for want of a price; returns the pairs still without one."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while True:
        answer: MarketHealth = market_data.ask(p.GetHealth(), block=True, timeout=_ASK_TIMEOUT_S)
        missing = sorted(name for name, info in answer.pairs.items() if info.last is None)
        if not missing or time.monotonic() >= deadline:
            break
        pause.wait(0.05)
    if missing:
        log.warning(
            "no price yet for %s after %.0f s: their signals are refused until one arrives",
            ", ".join(missing),
            timeout_s,
        )
    return missing


def readiness_facts(health: dict[str, Any]) -> ReadinessFacts:
    """The readiness facts in an Engine.health() answer (with the Operations fields)."""
    stream = health.get("stream")
    state: StreamState
    if stream is None:
        state, reason = "off", ""
    else:
        state = "up" if stream.get("connected") else "down"
        reason = stream.get("last_disconnect") or ""
    status = health.get("exchange_status") or {}
    dead_man = health.get("dead_man_switch")
    supervisor = health.get("supervisor") or {}
    return ReadinessFacts(
        stream=state,
        stream_reason=reason,
        exchange_status=status.get("status"),
        status_age_s=status.get("age_s"),
        status_max_age_s=status.get("max_age_s", 90.0),
        status_error=status.get("last_error", ""),
        recovery_done=bool(health.get("recovery_done")),
        dead_man_required=dead_man is not None,
        dead_man_time_left_s=dead_man.get("time_left_s") if dead_man is not None else None,
        halted=supervisor.get("halted"),
    )


class Operations:
    """The operator's view of one engine; see the module docstring."""

    def __init__(self, engine: Any, config: Config) -> None:
        self.engine = engine
        self.config = config
        self.status: pykka.ActorRef | None = None
        self.server: Any = None
        self.notifier: Any = None
        self.recovery_done = False
        self._unknown = UnknownOutcomes()
        self._unknown_lock = threading.Lock()
        self._trading_threshold = TIER_LIMITS[Tier(config.exchange.tier)].trading_threshold

    # ---- the report stream (a ReportSink callback) -----------------------------------------

    def observe_report(self, report: ExecutionReport) -> None:
        time_of = report.engine_time or self.engine.clock.time()
        with self._unknown_lock:
            self._unknown.observe(report.client_order_id, report.status, time_of)

    # ---- start and stop --------------------------------------------------------------------

    def start_status(self, rest_client: Any) -> None:
        """Start polling SystemStatus and Time (an ExchangeStatus actor)."""
        from gal_exec.actors.exchange_status import ExchangeStatus

        self.status = ExchangeStatus.start(
            rest_client=rest_client,
            clock=self.engine.clock,
            timers=self.engine.timers,
            interval_s=self.config.engine.status_poll_s,
        )

    def serve(self, metrics: Any) -> int | None:
        """Start the HTTP endpoint when ``[metrics] enabled``; returns its port. ``metrics``
        (a Metrics, or None when prometheus-client is missing) serves /metrics."""
        settings = self.config.metrics
        if not settings.enabled:
            return None
        from gal_exec.health import HealthServer

        renderer: Callable[[], tuple[bytes, str]] | None = None
        if metrics is not None:
            metrics.watch(self.snapshot)
            renderer = metrics.render
        self.server = HealthServer(
            settings.host, settings.port, live=self.live, ready=self.ready, metrics=renderer
        )
        self.server.start()
        return int(self.server.port)

    def started(self) -> None:
        """Engine.start has respawned every recovered order and handed it over: recovery is done
        once the supervisor has taken all of it (this ask queues behind those messages)."""
        self.engine.supervisor.ask(p.GetHealth(), timeout=_ASK_TIMEOUT_S)
        self.recovery_done = True
        from gal_exec.systemd import Notifier

        self.notifier = Notifier.from_environment(live=self.live, ready=self.ready)
        if self.notifier is not None:
            self.notifier.start()

    def stop(self) -> None:
        """Stop the notifier, the HTTP endpoint and the status watcher; safe to call twice."""
        if self.notifier is not None:
            self.notifier.stop()
            self.notifier = None
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.status is not None:
            try:
                self.status.stop(timeout=_ASK_TIMEOUT_S)
            except (pykka.ActorDeadError, pykka.Timeout):
                pass
            self.status = None

    # ---- answers ---------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """The facts Operations adds to Engine.health()."""
        now = self.engine.clock.time()
        with self._unknown_lock:
            unknown = self._unknown.summary(now)
        status = None
        if self.status is not None:
            status = msgspec.to_builtins(self.status.ask(p.GetHealth(), timeout=_ASK_TIMEOUT_S))
        return {
            "exchange_status": status,
            "outcome_unknown": unknown,
            "recovery_done": self.recovery_done,
        }

    def readiness(self) -> Readiness:
        try:
            health = self.engine.health()
        except Exception as exc:
            return Readiness(ready=False, reasons=(f"engine did not answer: {exc}",))
        return readiness(readiness_facts(health))

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """The /readyz probe."""
        verdict = self.readiness()
        return verdict.ready, {"ready": verdict.ready, "reasons": list(verdict.reasons)}

    def live(self) -> tuple[bool, dict[str, Any]]:
        """The /healthz probe: every actor answers within LIVENESS_TIMEOUT_S."""
        deadline = time.monotonic() + LIVENESS_TIMEOUT_S
        pending: dict[str, Any] = {}
        for name in ("supervisor", "gateway", "classifier", "stream", "dead_man", "market_data"):
            ref = getattr(self.engine, name, None)
            if ref is not None:
                pending[name] = ref
        if self.status is not None:
            pending["exchange_status"] = self.status
        futures = {}
        answers: dict[str, str] = {}
        for name, ref in pending.items():
            try:
                futures[name] = ref.ask(p.GetHealth(), block=False)
            except pykka.ActorDeadError:
                answers[name] = "stopped"
        for name, future in futures.items():
            try:
                future.get(timeout=max(0.0, deadline - time.monotonic()))
                answers[name] = "ok"
            except pykka.Timeout:
                answers[name] = "no answer"
            except pykka.ActorDeadError:
                answers[name] = "stopped"
        alive = all(answer == "ok" for answer in answers.values())
        return alive, {"alive": alive, "actors": answers}

    def snapshot(self) -> dict[str, Any]:
        """Engine.health() with the readiness verdict and the tier's trading threshold: what the
        metrics read at each scrape."""
        health = self.engine.health()
        verdict = readiness(readiness_facts(health))
        health["readiness"] = msgspec.to_builtins(verdict)
        health["trading_threshold"] = self._trading_threshold
        return health
