"""The Python API: ``Engine.start(config)`` wires the actors, the journal and the exchange together.

    engine = Engine.start(load_config("config.toml"))
    engine.subscribe(print)                      # every ExecutionReport
    engine.submit(TradeSignalApproved(...))      # or tell engine.supervisor directly
    engine.wait_until_idle(timeout=60)
    engine.stop(cancel_open=True)

In ``exchange.mode = "sim"`` the embedded Kraken simulator is started in-process; in "paper" mode
too, with its prices following a public feed (gal_exec.paper); in "kraken" mode the configured URLs
are used with the keys from the environment. At start the journal is replayed
into the Desk and every order's model (gal_exec.core.desk), then every order not finished is
reconciled with the exchange before new signals are taken.
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

from gal_exec import gc_tuning
from gal_exec.actors import protocol as p
from gal_exec.actors.dead_man import DeadMansSwitch
from gal_exec.actors.error_classifier import ClassifierStats, ErrorClassifier
from gal_exec.actors.gateway import KrakenGateway
from gal_exec.actors.http_worker import HttpWorker
from gal_exec.actors.market_data import MarketData
from gal_exec.actors.market_protocol import MarketDataSettings
from gal_exec.actors.order_io import spec_from_record
from gal_exec.actors.report_sink import GetStats, Redeliver, ReportSink, SinkStats, SubscribeReports
from gal_exec.actors.supervisor import ExecutionSupervisor, Restore
from gal_exec.actors.user_stream import UserStream
from gal_exec.config import Config
from gal_exec.core import order as om
from gal_exec.core.clock import Clock, SystemClock
from gal_exec.core.desk import AccountHealth, Desk, DeskHealth, DeskSettings
from gal_exec.core.risk import RiskLimits
from gal_exec.journal import Journal, JournalError, JournalWriter, OrderRecord, default_journal_path
from gal_exec.kraken.auth import Credentials, load_credentials
from gal_exec.kraken.errors import CredentialsError, KrakenError
from gal_exec.kraken.nonce import NonceSequencer, NonceStateError
from gal_exec.kraken.pairs import PairRegistry
from gal_exec.kraken.rest import KrakenRestClient
from gal_exec.messages import ExecutionReport, InboundMessage
from gal_exec.ops import Operations, wait_for_first_prices
from gal_exec.stopping import StopOutcome, stop_trading
from gal_exec.timers import TimerService

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
        self.clock: Clock
        self.timers: TimerService | None = None
        self.simulator: Any = None
        self.endpoints: Endpoints
        self.pairs: PairRegistry
        self.journal: Journal | None = None
        self.writer: JournalWriter | None = None
        self.sink: pykka.ActorRef[ReportSink] | None = None
        self.classifier: pykka.ActorRef[ErrorClassifier] | None = None
        self.workers: list[pykka.ActorRef[HttpWorker]] = []
        self.gateway: pykka.ActorRef[KrakenGateway] | None = None
        self.supervisor: pykka.ActorRef[ExecutionSupervisor] | None = None
        self.stream: pykka.ActorRef[UserStream] | None = None
        self.dead_man: pykka.ActorRef[DeadMansSwitch] | None = None
        self.market_data: pykka.ActorRef[MarketData] | None = None
        self.metrics: Any = None
        self.metrics_port: int | None = None
        self.ops: Operations | None = None
        self.recovered = 0
        self._stopped = False
        self._trading_stopped = False
        self._gc_tuned = False  # holds gc_tuning's setting (released at teardown)

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
        clock: Clock | None = None,
        stream: bool = True,
        cl_ord_id_prefix: str = "g",
        place_guard: Callable[[], str | None] | None = None,
    ) -> Engine:
        """Start everything; raises EngineError (one line) if the engine cannot run.

        ``cl_ord_id_prefix`` starts every entry's cl_ord_id (0..4 letters or digits);
        ``place_guard``, asked right before each AddOrder/AddOrderBatch/AmendOrder leaves,
        returns a reason to refuse it (this engine no longer owns the account) or None.
        """
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
                cl_ord_id_prefix=cl_ord_id_prefix,
                place_guard=place_guard,
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
        clock: Clock | None,
        stream: bool,
        cl_ord_id_prefix: str = "g",
        place_guard: Callable[[], str | None] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.timers = TimerService(self.clock)
        self.timers.start()
        self.endpoints = endpoints or self._exchange_endpoints(config)
        self.ops = Operations(self, config)
        credentials = Credentials(self.endpoints.api_key, self.endpoints.api_secret)
        journal_file = Path(
            journal_path or config.journal.path or default_journal_path(config.exchange.mode)
        )
        try:
            nonce = NonceSequencer(self.clock, state_path=self.nonce_state_path(journal_file))
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
                http=exchange.http_client,
            )

        self.pairs = self._load_pairs(rest_client())
        settings = self._desk_settings(config, cl_ord_id_prefix)
        desk = Desk(settings, pairs=self.pairs.limits, clock=self.clock)
        models: dict[str, om.OrderModel] = {}
        if config.journal.enabled:
            try:
                self.journal = Journal.open(journal_file, synchronous=config.journal.synchronous)
            except JournalError as exc:
                raise EngineError(str(exc)) from None
            self.writer = JournalWriter(self.journal)
            self.writer.start()
            models = self._replay(desk)

        threading.stack_size(config.engine.actor_stack_kib * 1024)
        self._gc_tuned = gc_tuning.tune(config.engine.gc_young_threshold)
        callbacks = list(callbacks or ())
        if config.metrics.enabled:
            self.metrics = self._start_metrics(config)
            if self.metrics is not None:
                callbacks.insert(0, self.metrics.observe_report)
        callbacks.insert(0, self.ops.observe_report)
        self.sink = ReportSink.start(
            writer=self.writer,
            path=reports_path or config.reports.path or None,
            stdout=config.reports.stdout,
            callbacks=callbacks,
            clock=self.clock,
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
            HttpWorker.start(rest_client(), clock=self.clock, place_guard=place_guard)
            for _ in range(exchange.http_workers)
        ]
        self.gateway = KrakenGateway.start(
            config,
            clock=self.clock,
            timers=self.timers,
            workers=self.workers,
            classifier=self.classifier,
            tier=exchange.tier,
            metrics=self.metrics,
            place_guard=place_guard,
        )
        self.supervisor = ExecutionSupervisor.start(
            desk=desk,
            gateway=self.gateway,
            sink=self.sink,
            timers=self.timers,
            clock=self.clock,
            writer=self.writer,
            validate_only=exchange.validate_only,
            audit_interval_s=config.orders.stream_up_poll_interval_s,
        )
        self.classifier.tell(p.SubscribeAlerts(ref=self.gateway))
        self.classifier.tell(p.SubscribeAlerts(ref=self.supervisor))
        self._serve_operations(config)
        self.supervisor.tell(Restore(models=models))
        self.recovered = sum(1 for model in models.values() if not model.terminal)
        if stream:
            token_client = rest_client()
            gateway = self.gateway

            def token() -> str:
                # Made outside the gateway, counted on its model of the key's REST counter.
                gateway.tell(p.RestCallMade(endpoint="GetWebSocketsToken"))
                return token_client.get_websockets_token().token

            self.stream = UserStream.start(
                url=self.endpoints.ws_auth_url,
                token_provider=token,
                supervisor=self.supervisor,
                gateway=self.gateway,
                clock=self.clock,
                liveness_timeout_s=config.engine.stream_silence_s,
                symbol_to_pair={rules.symbol: rules.altname for rules in self.pairs},
            )
        if config.market_data.enabled:
            self.market_data = self._start_market_data(config)
            wait_for_first_prices(self.market_data, config.market_data.stale_after_s)
        if self._dead_man_wanted(config):
            self.dead_man = DeadMansSwitch.start(
                gateway=self.gateway,
                timers=self.timers,
                timeout_s=config.engine.dead_man_timeout_s,
                refresh_s=config.engine.dead_man_refresh_s,
                supervisor=self.supervisor,
                clock=self.clock,
            )
        self.ops.started()

    def _desk_settings(self, config: Config, cl_ord_id_prefix: str) -> DeskSettings:
        orders, risk = config.orders, config.risk
        return DeskSettings(
            max_live_orders=config.engine.max_live_orders,
            limit_timeout_s=orders.limit_timeout_s,
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
                max_position_per_pair=Decimal(risk.max_position_per_pair),
                batch_mode=risk.batch_mode,
                quantize=risk.quantize,
            ),
            max_batch_signals=risk.max_batch_signals,
            stale_after_s=config.market_data.stale_after_s,
            max_unchanged_s=config.market_data.max_unchanged_s,
            cl_ord_id_prefix=cl_ord_id_prefix,
        )

    def _replay(self, desk: Desk) -> dict[str, om.OrderModel]:
        """Rebuild the desk and every unsettled order's model from the journal."""
        assert self.writer is not None
        try:
            records, reports, seen = self.writer.call(
                lambda journal: journal.replay_set(), timeout=120.0
            )
            fills = self.writer.call(lambda journal: journal.fill_reports(), timeout=120.0)
        except JournalError as exc:
            raise EngineError(str(exc)) from None
        desk.load_fills(fills)
        desk.seen_signals.update(seen)
        specs = {}
        now = self.clock.time()
        for record in records:
            spec = self._spec(record, now)
            if spec is not None:
                specs[record.cl_ord_id] = spec
        models, notes = desk.replay(specs, reports)
        for note in notes:
            log.warning("journal replay: %s", note)
        placed = [m for m in models.values() if m.txid is not None and not m.terminal]
        if placed and self.simulator is not None:
            count = f"{len(placed)} open order{'' if len(placed) == 1 else 's'}"
            raise EngineError(
                f"{self.journal.path if self.journal else 'the journal'}: {count} of an earlier "
                "run, but the embedded simulator starts empty each run and knows none of them; use a fresh journal (the default in sim mode: omit "
                "--journal and journal.path) or a standalone simulator (gal-exec sim with "
                'exchange.mode = "kraken")'
            )
        return models

    def _spec(self, record: OrderRecord, now: float) -> om.OrderSpec | None:
        rules = self.pairs.get(record.pair)
        if rules is None:
            log.error("journal order %s has unknown pair %r", record.cl_ord_id, record.pair)
            return None
        return spec_from_record(
            record,
            pair=rules.wsname,
            symbol=rules.altname,
            price_decimals=rules.pair_decimals,
            now=now,
        )

    def _start_metrics(self, config: Config) -> Any:
        """The Prometheus registry, or None (health is served without /metrics) when
        prometheus-client is not installed."""
        from gal_exec.metrics import Metrics, MetricsUnavailable

        def errors() -> dict[str, int]:
            classifier = self.classifier
            if classifier is None:
                return {}
            stats: ClassifierStats = _ask(classifier, p.GetHealth())
            return dict(stats.by_category)

        try:
            return Metrics(clock=self.clock, errors=errors)
        except MetricsUnavailable as exc:
            log.warning("%s; serving /healthz and /readyz without /metrics", exc)
            return None

    def _serve_operations(self, config: Config) -> None:
        """The operator's HTTP endpoint (/healthz, /readyz, /metrics) and the exchange status
        watcher; see gal_exec.ops."""
        assert self.ops is not None
        try:
            self.metrics_port = self.ops.serve(self.metrics)
        except OSError as exc:
            raise EngineError(
                f"metrics: cannot listen on {config.metrics.host}:{config.metrics.port}: "
                f"{exc.strerror or exc}"
            ) from None
        self.ops.start_status(KrakenRestClient(self.endpoints.rest_url, None, clock=self.clock))

    def _start_market_data(self, config: Config) -> pykka.ActorRef[MarketData]:
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
        assert self.supervisor is not None
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
        if config.exchange.mode in ("sim", "paper"):
            from gal_exec.paper import PaperSetupError, paper_simulator
            from gal_exec.sim.server import Simulator

            try:
                self.simulator = (
                    paper_simulator(config)
                    if config.exchange.mode == "paper"
                    else Simulator(config.sim)
                )
            except PaperSetupError as exc:
                raise EngineError(str(exc)) from None
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
    def nonce_state_path(journal_file: Path) -> Path:
        """Where the nonce sequencer of the engine using ``journal_file`` keeps its state (the
        preflight check shares it, so the two never send nonces below each other)."""
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

    # ---- use -------------------------------------------------------------------------------

    def _running(self) -> pykka.ActorRef[ExecutionSupervisor]:
        if self.supervisor is None or self._stopped:
            raise EngineError("the engine is stopped")
        return self.supervisor

    def submit(self, message: InboundMessage) -> None:
        """Hand a signal, BatchSubmit, CancelSignal, AmendSignal, Halt or Resume to the
        supervisor.

        It is checked as a JSON line is: a malformed one becomes a rejected report."""
        self._running().tell(message)

    def subscribe(
        self, callback: Callable[[ExecutionReport], None], *, batches: bool = False
    ) -> None:
        """Call ``callback`` with every ExecutionReport, in order, after it is journaled; with
        ``batches``, with every BatchReport (one per BatchSubmit, once all its orders settled)."""
        assert self.sink is not None
        self.sink.tell(SubscribeReports(callback=callback, batches=batches))

    def report(self, report: ExecutionReport) -> None:
        """Journal and deliver a report made outside the engine (a line of input refused)."""
        assert self.sink is not None
        self.sink.tell(report)

    def desk(self) -> DeskHealth:
        """The supervisor's view: live and queued orders, halt, stream, breakers, counts."""
        health: DeskHealth = _ask(self._running(), p.GetHealth())
        return health

    def account(self) -> AccountHealth:
        """Positions from the engine's own fills (net quantity, average price, realised P&L and
        fees per pair) and the account's balances as last fetched (at start, and after the
        executions stream reconnects)."""
        return self.desk().account

    def health(self) -> dict[str, Any]:
        """Stream, breakers, rate-limit headroom, live orders, last error, and the account
        (positions and balances, under "account") (asked at the edge)."""
        desk = msgspec.to_builtins(self.desk())
        health: dict[str, Any] = {"supervisor": desk, "account": desk.pop("account")}
        actors: dict[str, pykka.ActorRef[Any] | None] = {
            "stream": self.stream,
            "gateway": self.gateway,
            "errors": self.classifier,
            "dead_man_switch": self.dead_man,
            "market_data": self.market_data,
        }
        for name, ref in actors.items():
            if ref is not None:
                answer = _ask(ref, p.GetHealth())
                health[name] = msgspec.to_builtins(answer)
        if self.ops is not None:
            health.update(self.ops.health())
        return health

    def stats(self) -> SinkStats:
        assert self.sink is not None
        stats: SinkStats = _ask(self.sink, GetStats())
        return stats

    def idle(self) -> bool:
        """True when no order is live or queued and every report has reached every sink."""
        if not self.desk_idle():
            return False
        if self.writer is not None:
            # Births and reports journaled meanwhile tell the sink from the writer's callbacks.
            self.writer.flush(timeout=_ASK_TIMEOUT_S)
        return self.stats().pending == 0

    def desk_idle(self) -> bool:
        state = self.desk()
        return state.live_orders == 0 and state.queued_orders == 0

    def wait_until_idle(self, timeout: float, *, poll_s: float = 0.05) -> bool:
        """Wait (at the edge) until every order is terminal and reported; False on timeout."""
        deadline = time.monotonic() + timeout
        wake = threading.Event()
        while time.monotonic() < deadline:
            if self.idle():
                return True
            wake.wait(poll_s)
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
        if cancel_open and self.supervisor is not None and not self._trading_stopped:
            from gal_exec.messages import Halt

            self.supervisor.tell(Halt(reason="engine stopping", cancel_open=True))
            if not self.wait_until_idle(timeout):
                log.warning("stopping with orders still open after %.0f s", timeout)
        self._teardown()

    def _teardown(self) -> None:
        self._stopped = True
        if self.ops is not None:
            self.ops.stop()
        for ref in (self.stream, self.dead_man, self.market_data):
            _stop(ref)
        if self.timers is not None:
            self.timers.stop()  # no more wake-ups: order actors go quiet
        _stop(self.supervisor)  # it stops every order actor it started
        _stop(self.gateway)
        _stop(self.classifier)
        for worker in self.workers:
            _stop(worker)
        if self.writer is not None:
            self.writer.flush(timeout=10.0)
        if self.sink is not None:
            try:
                _ask(self.sink, GetStats())  # deliver what was released
            except (pykka.ActorDeadError, pykka.Timeout):
                pass
            _stop(self.sink)
        if self.writer is not None:
            self.writer.stop()
            self.writer = None
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        self.metrics = None
        if self.simulator is not None:
            self.simulator.stop()
            self.simulator = None
        if self._gc_tuned:
            self._gc_tuned = False
            gc_tuning.release()


def _ask(ref: pykka.ActorRef[Any], message: object) -> Any:
    """Ask at the edge, waiting at most _ASK_TIMEOUT_S for the answer."""
    return ref.ask(message, block=True, timeout=_ASK_TIMEOUT_S)


def _stop(ref: pykka.ActorRef[Any] | None) -> None:
    if ref is None:
        return
    try:
        ref.stop(timeout=_ASK_TIMEOUT_S)
    except (pykka.ActorDeadError, pykka.Timeout):
        pass
