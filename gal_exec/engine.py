"""The Python API: ``Engine.start(config)`` wires the actors, the journal and the exchange together.

    engine = Engine.start(load_config("config.toml"))
    engine.subscribe(print)                      # every ExecutionReport
    engine.submit(TradeSignalApproved(...))      # or tell engine.supervisor directly
    engine.wait_until_idle(timeout=60)
    engine.stop(cancel_open=True)

In ``exchange.mode = "sim"`` the embedded Kraken simulator is started in-process; in "kraken" mode
the configured URLs are used with the keys from the environment.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pykka

from gal_exec.actors import protocol as p
from gal_exec.actors.dead_man import DeadMansSwitch
from gal_exec.actors.error_classifier import ErrorClassifier
from gal_exec.actors.gateway import KrakenGateway
from gal_exec.actors.http_worker import HttpWorker
from gal_exec.actors.market_data import MarketData
from gal_exec.actors.market_protocol import MarketDataSettings
from gal_exec.actors.report_sink import GetStats, Redeliver, ReportSink, SinkStats, Subscribe
from gal_exec.actors.supervisor import ExecutionSupervisor, SupervisorSettings
from gal_exec.actors.user_stream import UserStream
from gal_exec.batch import BatchTracker
from gal_exec.config import Config
from gal_exec.core import order as om
from gal_exec.core.risk import RiskLimits
from gal_exec.journal import Journal, JournalError, JournalWriter, default_journal_path
from gal_exec.kraken.auth import Credentials, load_credentials
from gal_exec.kraken.errors import CredentialsError, KrakenError
from gal_exec.kraken.nonce import NonceSequencer, NonceStateError
from gal_exec.kraken.pairs import PairRegistry
from gal_exec.kraken.rest import KrakenRestClient
from gal_exec.messages import ExecutionReport, InboundMessage
from gal_exec.recovery import RecoveryPlan, load_recovery, recovery_messages
from gal_exec.stopping import StopOutcome, stop_trading
from gal_exec.timers import SystemClock, TimerService

__all__ = ["Endpoints", "Engine", "EngineError"]

log = logging.getLogger("gal_exec.engine")
_ASK_TIMEOUT_S = 5.0


class EngineError(Exception):
    """The engine cannot start; the message is one line a person can act on."""


class Endpoints(msgspec.Struct, frozen=True, kw_only=True):
    """Where the exchange is and the credentials to use (never logged)."""

    rest_url: str
    ws_url: str
    ws_auth_url: str
    api_key: str
    api_secret: str = msgspec.field(default="")

    def __repr__(self) -> str:
        return f"Endpoints(rest_url={self.rest_url!r}, ws_auth_url={self.ws_auth_url!r})"


class Engine:
    """A running gal_exec engine. Create it with ``Engine.start``."""

    def __init__(self) -> None:
        self.config: Config
        self.clock: Any
        self.timers: TimerService
        self.simulator: Any = None
        self.endpoints: Endpoints
        self.pairs: PairRegistry
        self.journal: Journal | None = None
        self.writer: JournalWriter | None = None
        self.sink: pykka.ActorRef
        self.classifier: pykka.ActorRef
        self.workers: list[pykka.ActorRef] = []
        self.gateway: pykka.ActorRef
        self.supervisor: pykka.ActorRef
        self.stream: pykka.ActorRef | None = None
        self.dead_man: pykka.ActorRef | None = None
        self.market_data: pykka.ActorRef | None = None
        self.metrics: Any = None
        self.metrics_port: int | None = None
        self.batches: BatchTracker | None = None
        self.recovered = 0
        self._stopped = False
        self._trading_stopped = False

    # ---- start -----------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        config: Config | None = None,
        *,
        endpoints: Endpoints | None = None,
        callbacks: list[Callable[[ExecutionReport], None]] | None = None,
        reports_path: str | Path | None = None,
        journal_path: str | Path | None = None,
        clock: Any = None,
        stream: bool = True,
    ) -> Engine:
        """Start everything; raises EngineError (one line) if the engine cannot run."""
        engine = cls()
        try:
            engine._start(
                config or Config(),
                endpoints=endpoints,
                callbacks=callbacks,
                reports_path=reports_path,
                journal_path=journal_path,
                clock=clock,
                stream=stream,
            )
        except BaseException:
            engine._teardown()
            raise
        return engine

    def _start(
        self,
        config: Config,
        *,
        endpoints: Endpoints | None,
        callbacks: list[Callable[[ExecutionReport], None]] | None,
        reports_path: str | Path | None,
        journal_path: str | Path | None,
        clock: Any,
        stream: bool,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.timers = TimerService(self.clock)
        self.timers.start()
        self.endpoints = endpoints or self._exchange_endpoints(config)
        credentials = Credentials(self.endpoints.api_key, self.endpoints.api_secret)
        journal_file = Path(
            journal_path or config.journal.path or default_journal_path(config.exchange.mode)
        )
        try:
            nonce = NonceSequencer(self.clock, state_path=self._nonce_state_path(journal_file))
        except NonceStateError as exc:
            raise EngineError(str(exc)) from None
        exchange = config.exchange

        def rest_client() -> KrakenRestClient:
            return KrakenRestClient(
                self.endpoints.rest_url,
                credentials,
                nonce=nonce,
                clock=self.clock,
                connect_timeout=exchange.connect_timeout_s,
                read_timeout=exchange.read_timeout_s,
                nonce_window=exchange.nonce_window,
            )

        self.pairs = self._load_pairs(rest_client())
        seen: set[str] = set()
        plan = RecoveryPlan()
        if config.journal.enabled:
            try:
                self.journal = Journal.open(journal_file, synchronous=config.journal.synchronous)
            except JournalError as exc:
                raise EngineError(str(exc)) from None
            self.writer = JournalWriter(self.journal)
            self.writer.start()
            try:
                seen, plan = self.writer.call(load_recovery, timeout=60.0)
            except JournalError as exc:  # damage the checks at open could not see
                raise EngineError(str(exc)) from None

        threading.stack_size(config.engine.actor_stack_kib * 1024)
        callbacks = list(callbacks or ())
        if config.metrics.enabled:
            self.metrics = self._start_metrics(config)
            callbacks.insert(0, self.metrics.observe_report)
        self.sink = ReportSink.start(
            writer=self.writer,
            path=reports_path or config.reports.path or None,
            stdout=config.reports.stdout,
            callbacks=callbacks,
        )
        if self.writer is not None:
            try:
                undelivered = self.writer.call(lambda journal: journal.undelivered_reports())
            except JournalError as exc:
                raise EngineError(str(exc)) from None
            if undelivered:
                log.info("delivering %d reports journaled before a crash", len(undelivered))
                self.sink.tell(Redeliver(reports=undelivered))
        self.classifier = ErrorClassifier.start(config, clock=self.clock, timers=self.timers)
        self.workers = [
            HttpWorker.start(rest_client(), clock=self.clock) for _ in range(exchange.http_workers)
        ]
        self.gateway = KrakenGateway.start(
            config,
            clock=self.clock,
            timers=self.timers,
            workers=self.workers,
            classifier=self.classifier,
            tier=exchange.tier,
            metrics=self.metrics,
        )
        self.batches = BatchTracker(clock=self.clock, on_report=self.sink.tell)
        self.sink.tell(Subscribe(callback=self.batches.observe))
        orders = config.orders
        risk = config.risk
        settings = SupervisorSettings(
            max_live_orders=config.engine.max_live_orders,
            limit_timeout_s=orders.limit_timeout_s,
            audit_interval_s=orders.stream_up_poll_interval_s,
            order=om.OrderSettings(
                poll_interval_s=orders.poll_interval_s,
                resolve_delay_s=orders.resolve_delay_s,
                resolve_attempts=orders.resolve_attempts,
                cancel_retry_s=orders.cancel_retry_s,
            ),
            risk=RiskLimits(
                price_band_pct=risk.price_band_pct,
                price_band_vol_units=risk.price_band_vol_units,
                band_vol_window=risk.band_vol_window,
                market_notional_cap=Decimal(risk.market_notional_cap),
                max_exposure_per_pair=Decimal(risk.max_exposure_per_pair),
                max_exposure_total=Decimal(risk.max_exposure_total),
                max_batch_notional=Decimal(risk.max_batch_notional),
                batch_mode=risk.batch_mode,
                quantize=risk.quantize,
            ),
            max_batch_signals=risk.max_batch_signals,
            stale_after_s=config.market_data.stale_after_s,
            max_unchanged_s=config.market_data.max_unchanged_s,
        )
        self.supervisor = ExecutionSupervisor.start(
            settings=settings,
            pairs=self.pairs,
            gateway=self.gateway,
            sink=self.sink,
            timers=self.timers,
            clock=self.clock,
            writer=self.writer,
            seen_signals=seen,
            validate_only=exchange.validate_only,
            batches=self.batches,
        )
        self.classifier.tell(p.Subscribe(ref=self.gateway))
        self.classifier.tell(p.Subscribe(ref=self.supervisor))
        for message in recovery_messages(plan, self.pairs, self.clock.time()):
            self.supervisor.tell(message)
        self.recovered = len(plan.live)
        if stream:
            token_client = rest_client()
            self.stream = UserStream.start(
                url=self.endpoints.ws_auth_url,
                token_provider=lambda: token_client.get_websockets_token().token,
                supervisor=self.supervisor,
                gateway=self.gateway,
                clock=self.clock,
                liveness_timeout_s=config.engine.stream_silence_s,
                symbol_to_pair={rules.symbol: rules.altname for rules in self.pairs},
            )
        if config.market_data.enabled:
            self.market_data = self._start_market_data(config)
        if self._dead_man_wanted(config):
            self.dead_man = DeadMansSwitch.start(
                gateway=self.gateway,
                timers=self.timers,
                timeout_s=config.engine.dead_man_timeout_s,
                refresh_s=config.engine.dead_man_refresh_s,
            )

    def _start_metrics(self, config: Config) -> Any:
        from gal_exec.metrics import Metrics, MetricsUnavailable

        def errors() -> dict[str, int]:
            stats = self.classifier.ask(p.GetHealth(), timeout=_ASK_TIMEOUT_S)
            return dict(stats.get("by_category", {})) if isinstance(stats, dict) else {}

        try:
            metrics = Metrics(clock=self.clock, errors=errors)
            self.metrics_port = metrics.serve(config.metrics.host, config.metrics.port)
        except MetricsUnavailable as exc:
            raise EngineError(str(exc)) from None
        except OSError as exc:
            raise EngineError(
                f"metrics: cannot listen on {config.metrics.host}:{config.metrics.port}: "
                f"{exc.strerror or exc}"
            ) from None
        return metrics

    def _start_market_data(self, config: Config) -> pykka.ActorRef:
        market = config.market_data
        rules = []
        for name in market.pairs:
            found = self.pairs.get(name)
            if found is None:
                raise EngineError(f"market_data.pairs: unknown pair {name!r}")
            rules.append(found)
        settings = MarketDataSettings(
            stale_after_s=market.stale_after_s,
            max_unchanged_s=market.max_unchanged_s,
            rest_poll_interval_s=market.rest_poll_interval_s,
            volatility_windows_s=tuple(market.volatility_windows_s),
            volatility_sample_s=market.volatility_sample_s,
            event_trigger=market.event_trigger,
            liveness_timeout_s=market.liveness_timeout_s,
        )
        return MarketData.start(
            ws_url=self.endpoints.ws_url,
            pairs=rules,
            clock=self.clock,
            timers=self.timers,
            settings=settings,
            rest_client=KrakenRestClient(self.endpoints.rest_url, None, clock=self.clock),
            subscribers=[self.supervisor],
        )

    def _exchange_endpoints(self, config: Config) -> Endpoints:
        if config.exchange.mode == "sim":
            from gal_exec.sim.server import Simulator

            self.simulator = Simulator(config.sim)
            self.simulator.start()
            sim = self.simulator
            return Endpoints(
                rest_url=sim.rest_url,
                ws_url=sim.ws_url,
                ws_auth_url=sim.ws_auth_url,
                api_key=sim.api_key,
                api_secret=sim.api_secret,
            )
        exchange = config.exchange
        try:
            credentials = load_credentials(exchange.api_key_env, exchange.api_secret_env)
        except CredentialsError as exc:
            raise EngineError(str(exc)) from None
        return Endpoints(
            rest_url=exchange.rest_url,
            ws_url=exchange.ws_url,
            ws_auth_url=exchange.ws_auth_url,
            api_key=credentials.api_key,
            api_secret=credentials.api_secret,
        )

    @staticmethod
    def _nonce_state_path(journal_file: Path) -> Path:
        digest = hashlib.sha256(journal_file.name.encode()).hexdigest()[:8]
        return journal_file.parent / f"nonce-{digest}.state"

    @staticmethod
    def _load_pairs(client: KrakenRestClient) -> PairRegistry:
        try:
            return PairRegistry.from_asset_pairs(client.asset_pairs())
        except (KrakenError, OSError) as exc:
            raise EngineError(f"cannot load the exchange's asset pairs: {exc}") from None

    def _dead_man_wanted(self, config: Config) -> bool:
        setting = config.engine.dead_man_switch
        return setting == "on" or (setting == "auto" and config.exchange.mode == "kraken")

    # ---- recovery --------------------------------------------------------------------------

    # ---- use -------------------------------------------------------------------------------

    def submit(self, message: InboundMessage) -> None:
        """Hand a signal, CancelSignal, Halt or Resume to the supervisor."""
        self.supervisor.tell(message)

    def subscribe(
        self, callback: Callable[[ExecutionReport], None], *, batches: bool = False
    ) -> None:
        """Call ``callback`` with every ExecutionReport, in order, after it is journaled; with
        ``batches``, with every BatchReport (one per BatchSubmit, once all its orders settled)."""
        self.sink.tell(Subscribe(callback=callback, batches=batches))

    def health(self) -> dict[str, Any]:
        """Stream, breakers, rate-limit headroom, live orders, last error (asked at the edge)."""
        health: dict[str, Any] = {
            "supervisor": self.supervisor.ask(p.GetHealth(), timeout=_ASK_TIMEOUT_S),
        }
        if self.stream is not None:
            health["stream"] = self.stream.ask(p.GetHealth(), timeout=_ASK_TIMEOUT_S)
        health["gateway"] = self.gateway.ask(p.GetHealth(), timeout=_ASK_TIMEOUT_S)
        classifier = self.classifier.ask(p.GetHealth(), timeout=_ASK_TIMEOUT_S)
        health["errors"] = msgspec.to_builtins(classifier) if classifier is not None else None
        if self.dead_man is not None:
            health["dead_man_switch"] = self.dead_man.ask(p.GetHealth(), timeout=_ASK_TIMEOUT_S)
        if self.market_data is not None:
            health["market_data"] = self.market_data.ask(p.GetHealth(), timeout=_ASK_TIMEOUT_S)
        return health

    def stats(self) -> SinkStats:
        return self.sink.ask(GetStats(), timeout=_ASK_TIMEOUT_S)

    def idle(self) -> bool:
        """True when no order is live or queued."""
        state = self.supervisor.ask(p.GetHealth(), timeout=_ASK_TIMEOUT_S)
        return state["live_orders"] == 0 and state["queued_orders"] == 0

    def wait_until_idle(self, timeout: float, *, poll_s: float = 0.05) -> bool:
        """Wait (at the edge) until every order is terminal; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle():
                return True
            threading.Event().wait(poll_s)
        return self.idle()

    def stop_trading(
        self, *, cancel_open: bool | None = None, timeout: float = 10.0
    ) -> StopOutcome:
        """Apply the stop policy (engine.on_stop unless ``cancel_open`` says) without tearing
        down, and say what became of each order open now; ``stop()`` then tears down."""
        if cancel_open is None:
            cancel_open = self.config.engine.on_stop == "cancel"
        outcome = stop_trading(self, cancel_open=cancel_open, timeout=timeout)
        self._trading_stopped = True
        return outcome

    def stop(self, *, cancel_open: bool | None = None, timeout: float = 10.0) -> None:
        """Stop cleanly: optionally cancel open orders first; flush reports and the journal."""
        if self._stopped:
            return
        if cancel_open is None:
            cancel_open = self.config.engine.on_stop == "cancel"
        if cancel_open and not self._trading_stopped:
            from gal_exec.messages import Halt

            self.supervisor.tell(Halt(reason="engine stopping", cancel_open=True))
            if not self.wait_until_idle(timeout):
                log.warning("stopping with orders still open after %.0f s", timeout)
        self._teardown()

    def _teardown(self) -> None:
        self._stopped = True
        for name in ("stream", "dead_man", "market_data"):
            ref = getattr(self, name, None)
            if ref is not None:
                _stop(ref)
        timers = getattr(self, "timers", None)
        if timers is not None:
            timers.stop()  # no more wake-ups: order actors go quiet
        supervisor = getattr(self, "supervisor", None)
        if supervisor is not None:
            _stop(supervisor)
        from gal_exec.actors.order_actor import OrderActor

        # Ask every order actor to stop at once, then wait: one by one takes minutes with
        # thousands of them.
        stopping = []
        for ref in pykka.ActorRegistry.get_by_class(OrderActor):
            try:
                stopping.append(ref.stop(block=False))
            except pykka.ActorDeadError:
                pass
        for future in stopping:
            try:
                future.get(timeout=_ASK_TIMEOUT_S)
            except (pykka.ActorDeadError, pykka.Timeout):
                pass
        for name in ("gateway", "classifier"):
            ref = getattr(self, name, None)
            if ref is not None:
                _stop(ref)
        for ref in self.workers:
            _stop(ref)
        if self.writer is not None:
            self.writer.flush(timeout=10.0)
        sink = getattr(self, "sink", None)
        if sink is not None:
            try:
                sink.ask(GetStats(), timeout=_ASK_TIMEOUT_S)  # deliver what the journal released
            except Exception:
                pass
            _stop(sink)
        if self.writer is not None:
            self.writer.stop()
            self.writer = None
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        if self.simulator is not None:
            self.simulator.stop()
            self.simulator = None


def _stop(ref: pykka.ActorRef) -> None:
    try:
        ref.stop(timeout=_ASK_TIMEOUT_S)
    except (pykka.ActorDeadError, pykka.Timeout):
        pass
