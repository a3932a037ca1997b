"""KrakenGateway: the one actor that sends Kraken requests for this API key.

It owns the rate-limit models and the sending policy (gal_exec.kraken.scheduling), hands each REST
call to an HttpWorker (the blocking I/O happens there), sends order entry over the authenticated
WebSocket while it is up (gal_exec.actors.gateway_ws: a frame is one non-blocking send on the
gateway's thread, no worker hop), and answers every requester by message.

Policy:

- Priority: cancels and the dead man's switch, then placements and amends, then queries. A call
  goes out only when Kraken's models say it fits, with ``safety_margin`` points to spare; when
  nothing fits the gateway asks the TimerService to wake it when something will. It never sleeps.
- Concurrency: with ``exchange.nonce_window == 0`` one private call at a time (nonces must reach
  Kraken in order); with a window, up to one per worker.
- Coalescing: queued placements for one pair go as one AddOrderBatch (config
  ``engine.coalesce_batches``); status queries as QueryOrders of up to 50 txids.
- Retries: only idempotent calls (cancels, the switch, queries, lookups) on retryable,
  rate-limited and transport errors, with full-jitter backoff (``retry``), at most
  ``retry.max_attempts`` attempts in all; ``EAPI:Invalid nonce`` is retried once. AddOrder,
  AddOrderBatch and AmendOrder are never re-sent: an unclear outcome is answered as
  ``outcome_unknown`` and the requester resolves it by cl_ord_id. A rate-limit refusal of a
  placement is answered as ``rate_limited`` (it was not placed) and raises the model.
- A whole AddOrderBatch refused with a permanent (validation) error placed nothing, so its orders
  are re-sent one by one and each gets its own answer.
- Paths: with ``exchange.order_entry = "ws"`` and the executions connection up, placements,
  amends, cancels and the switch go over the WebSocket (no nonce, so they need no worker and no
  in-flight slot); queries and anything WS cannot express go by REST. The path is fixed when a
  request is handed out; a WS request without an answer (timeout, drop, an error without
  req_id) is answered as it would be after a REST timeout: ``outcome_unknown`` for order entry,
  a retry for idempotent calls. Never a second send of an order.
- Breakers: every error is classified and told to the ErrorClassifier (ErrorObserved). While its
  breaker is open, ``rate_limited`` holds everything but cancels and the switch,
  ``outcome_unknown`` and ``retryable`` hold placements and amends, ``auth_or_lockout`` holds
  everything. Half-open lets ``circuit_breaker.half_open_max_calls`` trial calls through; a clean
  answer to a trial is told back as SuccessObserved so the breaker can close.
"""

from __future__ import annotations

import collections
import itertools
import logging
import random
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, cast

import pykka

from gal_exec.actors.gateway_replies import (
    GatewayHealth,
    LastError,
    Reply,
    call_for,
    classify_exception,
    error_reply,
    success_outcome,
)
from gal_exec.actors.gateway_ws import WebSocketPath
from gal_exec.actors.protocol import (
    AmendOrder,
    BreakerChanged,
    CancelAllAfter,
    CancelOrder,
    ErrorObserved,
    GetHealth,
    HaltRequested,
    HttpCall,
    HttpDone,
    ListOpenOrders,
    LookupOrder,
    OrderAdopted,
    OrderReleased,
    PlaceOrder,
    PlaceResult,
    QueryBalances,
    QueryOrderStatus,
    QueryTrades,
    RateCounterReading,
    RestCallMade,
    SuccessObserved,
    Tellable,
    TimerScheduler,
    TradingChannelDown,
    TradingChannelUp,
    TradingReply,
    WithdrawPlacement,
    WithdrawResult,
    tell_quietly,
    unexpected,
)
from gal_exec.actors.runtime import ThreadActor
from gal_exec.config import Config
from gal_exec.core.backoff import Backoff
from gal_exec.core.clock import Clock
from gal_exec.core.timers import TimerFired
from gal_exec.kraken.errors import ClassifiedError, ErrorCategory, KrakenAPIError
from gal_exec.kraken.jobs import IDEMPOTENT, PLACING, Dispatch, Job, JobKind, LocalRejection
from gal_exec.kraken.scheduling import RequestScheduler
from gal_exec.kraken.ws_entry import WsOrderEntry

__all__ = ["GatewayHealth", "KrakenGateway", "LastError"]

logger = logging.getLogger("gal_exec.actors.gateway")

_STATUS_ENDPOINTS = frozenset({"QueryOrders", "OpenOrders", "ClosedOrders"})
_RETRY_ON = frozenset({ErrorCategory.RETRYABLE, ErrorCategory.RATE_LIMITED})
_WAKE_TOLERANCE_S = 1e-4
Request = (
    PlaceOrder
    | CancelOrder
    | AmendOrder
    | QueryOrderStatus
    | LookupOrder
    | ListOpenOrders
    | CancelAllAfter
    | QueryTrades
    | QueryBalances
)
"""What requesters ask the gateway to send; each is answered with a gateway_replies.Reply."""

Work = (
    Request
    | HttpDone
    | TradingReply
    | TradingChannelUp
    | TradingChannelDown
    | TimerFired
    | OrderReleased
    | OrderAdopted
    | WithdrawPlacement
    | RateCounterReading
    | RestCallMade
    | BreakerChanged
    | HaltRequested
)
"""Everything the gateway acts on (after each, it sends whatever fits)."""

Inbox = Work | GetHealth

_REQUEST_KINDS: dict[type[Request], JobKind] = {
    PlaceOrder: JobKind.PLACE,
    CancelOrder: JobKind.CANCEL,
    AmendOrder: JobKind.AMEND,
    QueryOrderStatus: JobKind.STATUS,
    LookupOrder: JobKind.LOOKUP_OPEN,
    ListOpenOrders: JobKind.LIST_OPEN,
    CancelAllAfter: JobKind.CANCEL_ALL_AFTER,
    QueryTrades: JobKind.TRADES,
    QueryBalances: JobKind.BALANCE,
}


class _Flight:
    __slots__ = ("dispatch", "sent_at", "worker")

    def __init__(self, dispatch: Dispatch, worker: Tellable, sent_at: float) -> None:
        self.dispatch = dispatch
        self.worker = worker
        self.sent_at = sent_at


class KrakenGateway(WebSocketPath, ThreadActor):
    """Queues, paces and sends Kraken requests; see the module docstring for the policy."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock,
        timers: TimerScheduler,
        workers: Sequence[Tellable] | Callable[[], Sequence[Tellable]],
        classifier: Tellable | None = None,
        tier: str | None = None,
        metrics: Any = None,
        safety_margin: float = 1.0,
        rng: random.Random | None = None,
        name: str = "kraken-gateway",
        place_guard: Callable[[], str | None] | None = None,
    ) -> None:
        super().__init__()
        self._config = config
        # Asked right before a placement or amend leaves by the WebSocket (the HTTP workers ask
        # it for REST): a reason to hold it back (this engine lost its lease), or None.
        self._place_guard = place_guard
        self._clock = clock
        self._timers = timers
        self._workers_source = workers
        self._classifier = classifier
        self._metrics = metrics  # gal_exec.metrics.Metrics, or None
        self._scheduler = RequestScheduler(
            tier or config.exchange.tier,
            clock,
            safety_margin=safety_margin,
            coalesce_batches=config.engine.coalesce_batches,
            half_open_max_calls=config.circuit_breaker.half_open_max_calls,
        )
        retry = config.retry
        # max_attempts counts the first try too; Backoff counts retries.
        self._backoff = Backoff(
            retry.base_delay_s, retry.max_delay_s, max_attempts=retry.max_attempts - 1, rng=rng
        )
        self._wake_key = f"{name}:wake"
        self._wake_generation: int | None = None
        self._wake_deadline: float | None = None
        self._free_workers: list[Tellable] = []
        self._worker_count = 0
        self._max_in_flight = 1
        self._in_flight: dict[int, _Flight] = {}
        self._call_ids = itertools.count(1)
        self._calls: collections.Counter[str] = collections.Counter()
        self._status_sent: collections.deque[float] = collections.deque()
        self._retries = 0
        self._local_rejections = 0
        self._last_error: LastError | None = None
        self._nonce_suspect = False
        """A nonce error was seen: the next clean REST answer is told to the classifier."""
        exchange = config.exchange
        self._ws = WsOrderEntry(
            enabled=exchange.order_entry == "ws", timeout_s=exchange.ws_request_timeout_s
        )
        self._ws_key = f"{name}:ws-deadline"
        self._ws_generation: int | None = None
        self._ws_deadline: float | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def on_start(self) -> None:
        source = self._workers_source
        workers = list(source() if callable(source) else source)
        if not workers:
            raise ValueError("KrakenGateway needs at least one HTTP worker")
        self._free_workers = workers
        self._worker_count = len(workers)
        window = self._config.exchange.nonce_window
        self._max_in_flight = 1 if window == 0 else len(workers)

    def on_stop(self) -> None:
        self._timers.cancel(self._wake_key)
        self._timers.cancel(self._ws_key)

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        kind = exception_type.__name__ if exception_type is not None else "Exception"
        logger.error("KrakenGateway stopped by %s: %s", kind, exception_value)

    # --- messages -----------------------------------------------------------------------------

    def on_receive(self, message: Any) -> GatewayHealth | None:
        inbox = cast(Inbox, message)
        if isinstance(inbox, GetHealth):
            return self.health()
        try:
            self._handle(inbox)
        except Exception:
            # One bad message must not take down the only path to the exchange.
            logger.exception("KrakenGateway failed to handle %s", type(inbox).__name__)
        try:
            self._pump()
        finally:
            if isinstance(inbox, PlaceOrder):
                # After the send: the threads these wake do not compete with it for the GIL.
                for forward in inbox.after:
                    tell_quietly(forward.to, forward.message)
        return None

    def _handle(self, message: Work) -> None:
        match message:
            case HttpDone():
                self._on_done(message)
            case TradingReply():
                self._on_ws_reply(message)
            case TradingChannelUp():
                self._on_channel_up(message)
            case TradingChannelDown():
                self._on_channel_down(message)
            case TimerFired(key=key) if key == self._ws_key:
                self._on_ws_deadline(message)
            case TimerFired(key=key, generation=generation):
                if key == self._wake_key and generation == self._wake_generation:
                    self._wake_generation = None
                    self._wake_deadline = None
            case (
                PlaceOrder()
                | CancelOrder()
                | AmendOrder()
                | QueryOrderStatus()
                | LookupOrder()
                | ListOpenOrders()
                | CancelAllAfter()
                | QueryTrades()
                | QueryBalances()
            ):
                self._submit(message)
            case OrderReleased(pair=pair, cl_ord_id=cl_ord_id):
                self._scheduler.release(pair, cl_ord_id)
            case OrderAdopted(pair=pair, cl_ord_id=cl_ord_id):
                self._scheduler.adopt(pair, cl_ord_id)
            case WithdrawPlacement(cl_ord_id=cl_ord_id, reply_to=reply_to):
                job = self._scheduler.withdraw(cl_ord_id)
                reply_to.tell(WithdrawResult(cl_ord_id=cl_ord_id, withdrawn=job is not None))
            case RateCounterReading(pair=pair, level=level):
                self._scheduler.observe_trading_level(pair, level)
            case RestCallMade(endpoint=endpoint):
                self._scheduler.rest.record(endpoint)
            case BreakerChanged(category=category, state=state):
                self._scheduler.set_breaker(category, state)
            case HaltRequested():
                pass  # the supervisor acts on it; breakers already hold our traffic
            case _:
                unexpected(message, actor="KrakenGateway", log=logger)

    def _submit(self, request: Request) -> None:
        job = Job(
            _REQUEST_KINDS[type(request)],
            request,
            pair=getattr(request, "pair", None),
            cl_ord_id=getattr(request, "cl_ord_id", None),
            txid=getattr(request, "txid", None),
            order=getattr(request, "order", None),
            order_age_s=getattr(request, "order_age_s", 0.0),
        )
        try:
            self._scheduler.submit(job)
        except Exception as exc:
            # The scheduler did not take the job, so nothing would ever answer it and the
            # requester would wait for good. It hears of the failure now; for a placement that
            # is "outcome unknown" (classify_exception), resolved by cl_ord_id, never re-sent
            # blind.
            logger.exception("KrakenGateway could not schedule %s", type(request).__name__)
            self._reply(job, error_reply(job, classify_exception(exc, placing=job.kind in PLACING)))

    # --- sending ------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Send whatever fits: over the WebSocket while it is up, by REST while a worker and an
        in-flight slot are free."""
        if self._worker_count == 0:
            self._fail_everything("no HTTP worker is alive")
            return
        while True:
            rest_open = bool(self._free_workers) and len(self._in_flight) < self._max_in_flight
            ws = self._ws.carries if self._ws.ready else None
            if not rest_open and ws is None:
                return
            step = self._scheduler.take(ws=ws, rest_open=rest_open)
            if isinstance(step, Dispatch):
                if step.path == "ws":
                    self._send_ws(step)
                else:
                    self._send(step)
            elif isinstance(step, LocalRejection):
                self._local_rejections += 1
                error = ClassifiedError(
                    category=ErrorCategory.PERMANENT, code=step.code, raw=step.raw
                )
                self._reply(step.job, error_reply(step.job, error))
            else:
                if rest_open or step.wake_in is not None:
                    # (With REST busy, a worker coming free pumps again: keep any wake-up.)
                    self._arm_wake(step.wake_in)
                return

    def _send(self, dispatch: Dispatch) -> None:
        method_name, kwargs = call_for(dispatch)
        call_id = next(self._call_ids)
        worker = self._free_workers.pop()
        self._in_flight[call_id] = _Flight(dispatch, worker, self._clock.time())
        self._calls[dispatch.endpoint] += 1
        if dispatch.endpoint in _STATUS_ENDPOINTS:
            self._status_sent.append(self._clock.monotonic())
        call = HttpCall(
            call_id=call_id,
            endpoint=dispatch.endpoint,
            method_name=method_name,
            kwargs=kwargs,
            reply_to=self.actor_ref,
        )
        try:
            worker.tell(call)
        except pykka.ActorDeadError:
            # Nothing was sent: the jobs may go again on another worker.
            logger.error("HTTP worker is dead; %d left", self._worker_count - 1)
            del self._in_flight[call_id]
            self._worker_count -= 1
            for job in dispatch.jobs:
                if job.kind is JobKind.PLACE and job.pair is not None and job.cl_ord_id:
                    self._scheduler.release(job.pair, job.cl_ord_id)
                self._scheduler.requeue(job)
            if self._worker_count == 0:
                self._fail_everything("no HTTP worker is alive")

    def _fail_everything(self, reason: str) -> None:
        error = ClassifiedError(category=ErrorCategory.PERMANENT, code="gateway", raw=reason)
        for job in self._scheduler.drain():
            self._reply(job, error_reply(job, error))

    def _arm_wake(self, wake_in: float | None) -> None:
        if wake_in is None:
            if self._wake_generation is not None:
                self._timers.cancel(self._wake_key)
                self._wake_generation = None
                self._wake_deadline = None
            return
        deadline = self._clock.monotonic() + wake_in
        current = self._wake_deadline
        if current is not None and abs(current - deadline) < _WAKE_TOLERANCE_S:
            return
        self._wake_deadline = deadline
        self._wake_generation = self._timers.schedule(self._wake_key, wake_in, self.actor_ref)

    # --- results ------------------------------------------------------------------------------

    def _on_done(self, done: HttpDone) -> None:
        flight = self._in_flight.pop(done.call_id, None)
        if flight is None:
            logger.warning("KrakenGateway: result for unknown call %s", done.call_id)
            return
        self._free_workers.append(flight.worker)
        dispatch = flight.dispatch
        if self._metrics is not None and dispatch.kind is JobKind.PLACE:
            for job in dispatch.jobs:
                received = getattr(job.request, "enqueued_at", 0.0)
                if received:
                    self._metrics.observe_signal_to_wire(done.started - received)
        failure: ClassifiedError | None = None
        if done.error is None:
            if self._nonce_suspect:
                self._nonce_suspect = False  # the nonces are accepted again
                self._tell_classifier(
                    SuccessObserved(
                        endpoint=dispatch.endpoint, categories=(), time=self._clock.time()
                    )
                )
            self._on_success(dispatch, done.result, flight.sent_at)
        else:
            failure = classify_exception(done.error, placing=dispatch.kind in PLACING)
            self._on_failure(dispatch, done.error, failure, flight.sent_at)
        self._settle_trial(dispatch, failure)

    def _on_success(self, dispatch: Dispatch, result: Any, sent_at: float) -> None:
        try:
            outcome = success_outcome(dispatch, result, sent_at=sent_at)
        except (AttributeError, KeyError, TypeError) as exc:
            # A result of the wrong shape: treat like any malformed reply.
            error = classify_exception(exc, placing=dispatch.kind in PLACING)
            self._on_failure(dispatch, exc, error, sent_at)
            return
        for error in outcome.errors:
            self._observe(dispatch, error)
        for job, reply in outcome.replies:
            self._reply(job, reply)
        for job in outcome.follow_ups:
            self._scheduler.requeue(job)

    def _on_failure(
        self, dispatch: Dispatch, exc: BaseException, error: ClassifiedError, sent_at: float
    ) -> None:
        self._observe(dispatch, error)
        if dispatch.endpoint == "AddOrderBatch" and error.category is ErrorCategory.PERMANENT:
            # Kraken validates a whole batch before any of it reaches the engine, so a top-level
            # rejection placed none of these orders: sending them one by one is safe and lets
            # each get its own answer.
            for job in dispatch.jobs:
                if job.cl_ord_id is not None and job.pair is not None:
                    self._scheduler.release(job.pair, job.cl_ord_id)
                job.no_batch = True
                self._scheduler.requeue(job)
            return
        retry = dispatch.kind in IDEMPOTENT and (
            error.category in _RETRY_ON
            or (error.code == "EAPI:Invalid nonce" and isinstance(exc, KrakenAPIError))
        )
        for job in dispatch.jobs:
            if retry and self._retry(job, error):
                continue
            self._reply(job, error_reply(job, error, sent_at=sent_at))

    def _retry(self, job: Job, error: ClassifiedError) -> bool:
        """Queue ``job`` again after a backoff; False when it has had its attempts."""
        if error.code == "EAPI:Invalid nonce" and job.attempt > 0:
            return False
        if self._backoff.exhausted(job.attempt):
            return False
        delay = self._backoff.next_delay(job.attempt)
        kraken_delay = error.retry_delay(self._clock.time())
        if kraken_delay is not None:
            delay = max(delay, kraken_delay)
        job.attempt += 1
        self._retries += 1
        self._scheduler.requeue(job, delay_s=delay)
        return True

    def _observe(self, dispatch: Dispatch, error: ClassifiedError) -> None:
        now = self._clock.time()
        self._last_error = LastError(
            endpoint=dispatch.endpoint,
            category=str(error.category),
            code=error.code,
            raw=error.raw,
            time=now,
        )
        if error.category is ErrorCategory.RATE_LIMITED:
            self._scheduler.rate_limited(error.code, dispatch.pair)
        if error.code == "EAPI:Invalid nonce":
            self._nonce_suspect = True
        self._tell_classifier(ErrorObserved(endpoint=dispatch.endpoint, error=error, time=now))

    def _tell_classifier(self, message: ErrorObserved | SuccessObserved) -> None:
        if self._classifier is not None:
            self._classifier.tell(message)

    def _settle_trial(self, dispatch: Dispatch, failure: ClassifiedError | None) -> None:
        """Tell the classifier how a half-open trial went, or give the trial back."""
        if not dispatch.trial_for:
            return
        if failure is None or failure.category is ErrorCategory.PERMANENT:
            # Kraken answered cleanly (a rejection of the request itself is still an answer).
            self._tell_classifier(
                SuccessObserved(
                    endpoint=dispatch.endpoint,
                    categories=dispatch.trial_for,
                    time=self._clock.time(),
                )
            )
            return
        # A failure of another category says nothing about these breakers: try again. A failure
        # of the breaker's own category reopens it (the classifier will tell us).
        unrelated = tuple(c for c in dispatch.trial_for if c != failure.category)
        self._scheduler.restore_trials(unrelated)

    def _reply(self, job: Job, reply: Reply) -> None:
        if job.kind is JobKind.PLACE and isinstance(reply, PlaceResult):
            error = reply.error
            if (
                error is not None
                and error.category is not ErrorCategory.OUTCOME_UNKNOWN
                and job.pair is not None
                and job.cl_ord_id is not None
            ):
                self._scheduler.release(job.pair, job.cl_ord_id)  # refused: never on the book
        reply_to: Tellable | None = getattr(job.request, "reply_to", None)
        if reply_to is None:
            return
        try:
            reply_to.tell(reply)
        except pykka.ActorDeadError:
            logger.info("KrakenGateway: requester of %s has stopped", job.kind)

    # --- health -------------------------------------------------------------------------------

    def health(self) -> GatewayHealth:
        """A snapshot of queues, flights, rate headroom and counters (ask at the edge only)."""
        scheduler = self._scheduler
        cutoff = self._clock.monotonic() - 60.0
        while self._status_sent and self._status_sent[0] < cutoff:
            self._status_sent.popleft()
        return GatewayHealth(
            queued=scheduler.queued(),
            held=scheduler.held(),
            in_flight=len(self._in_flight),
            max_in_flight=self._max_in_flight,
            workers=self._worker_count,
            rest_level=round(scheduler.rest.level(), 6),
            rest_max=scheduler.rest.limits.rest_max,
            trading_headroom=scheduler.trading_headroom(),
            open_orders=scheduler.open_counts(),
            calls=dict(self._calls),
            status_calls_last_minute=len(self._status_sent),
            retries=self._retries,
            local_rejections=self._local_rejections,
            breakers=scheduler.breaker_states(),
            last_error=self._last_error,
            ws_order_entry=self._ws.ready,
            ws_pending=len(self._ws.pending),
        )
