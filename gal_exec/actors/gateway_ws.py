"""The KrakenGateway's order entry over Kraken's authenticated WebSocket (no threads here).

The gateway owns one :class:`WsOrderEntry`. While the executions connection is up (the UserStream's
reader thread tells TradingChannelUp) and ``exchange.order_entry`` is ``ws``, placements, amends,
cancels and the dead man's switch may go over it; queries always go by REST. Which path a request
takes is decided once, when the scheduler hands it out: a request sent on the socket is never sent
again by REST unless Kraken said it was refused before processing.

Every request carries a ``req_id`` and waits in :attr:`WsOrderEntry.pending` for its answer, which
the reader thread tells as TradingReply. A request left without one (the connection dropped, no
answer within ``exchange.ws_request_timeout_s``, or an error Kraken sent without a ``req_id``) has
an unknown outcome: a placement or amend is answered ``outcome_unknown`` (the order actor resolves
it by cl_ord_id: the stream, then OpenOrders/ClosedOrders), an idempotent request is retried.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from typing import Any

import msgspec

from gal_exec.actors.gateway_replies import Reply, SuccessOutcome, classify_exception, error_reply
from gal_exec.actors.http_worker import PlacementFenced
from gal_exec.actors.protocol import (
    AmendResult,
    CancelAllAfterResult,
    CancelResult,
    PlaceResult,
    TimerScheduler,
    TradingChannelDown,
    TradingChannelUp,
    TradingReply,
)
from gal_exec.core.clock import Clock
from gal_exec.core.timers import TimerFired
from gal_exec.kraken.errors import (
    ClassifiedError,
    ErrorCategory,
    KrakenAPIError,
    TransportError,
    TransportKind,
    classify,
    normalise,
)
from gal_exec.kraken.jobs import PLACING, Dispatch, Job, JobKind
from gal_exec.kraken.scheduling import RequestScheduler
from gal_exec.kraken.ws import WsNotConnected, WsSendFailed
from gal_exec.kraken.ws_entry import TOKEN_ERRORS, Pending, WsOrderEntry

__all__ = ["WebSocketPath", "ws_success_outcome"]

_TOLERANCE_S = 1e-4

logger = logging.getLogger("gal_exec.actors.gateway")


def _unknown(raw: str) -> ClassifiedError:
    return ClassifiedError(
        category=ErrorCategory.OUTCOME_UNKNOWN, code="malformed_response", raw=raw
    )


def ws_success_outcome(dispatch: Dispatch, response: Any, *, sent_at: float) -> SuccessOutcome:
    """Map a ``success: true`` answer back to each job of ``dispatch``."""
    outcome = SuccessOutcome()
    result = response.result
    head = dispatch.jobs[0]
    request = head.request
    kind = dispatch.kind
    if kind is JobKind.PLACE and len(dispatch.jobs) > 1:
        entries = list(result or ())
        if len(entries) != len(dispatch.jobs):
            error = _unknown(f"batch_add answered {len(entries)} entries for {len(dispatch.jobs)}")
            outcome.errors.append(error)
            outcome.replies += [
                (job, error_reply(job, error, sent_at=sent_at)) for job in dispatch.jobs
            ]
            return outcome
        for job, entry in zip(dispatch.jobs, entries, strict=True):
            outcome.replies.append((job, _placed(job, entry, sent_at, outcome)))
        return outcome
    reply: Reply
    if kind is JobKind.PLACE:
        reply = _placed(head, result, sent_at, outcome)
    elif kind is JobKind.AMEND:
        reply = AmendResult(
            request_id=request.request_id,
            cl_ord_id=request.cl_ord_id,
            amend_id=getattr(result, "amend_id", None),
        )
    elif kind is JobKind.CANCEL:
        reply = CancelResult(request_id=request.request_id, cl_ord_id=request.cl_ord_id, count=1)
    else:
        reply = CancelAllAfterResult(
            request_id=request.request_id, trigger_time=getattr(result, "trigger_time", None)
        )
    outcome.replies.append((head, reply))
    return outcome


def _placed(job: Job, entry: Any, sent_at: float, outcome: SuccessOutcome) -> Reply:
    request = job.request
    order_id = getattr(entry, "order_id", None)
    if order_id:
        return PlaceResult(
            request_id=request.request_id,
            cl_ord_id=request.cl_ord_id,
            txid=order_id,
            sent_at=sent_at,
        )
    entry_error = getattr(entry, "error", None)
    if entry_error:
        error = classify(entry_error, placing=True)
    elif getattr(job.order, "validate", False):
        # validate=true is answered with an empty order_id: checked, nothing placed.
        return PlaceResult(
            request_id=request.request_id, cl_ord_id=request.cl_ord_id, sent_at=sent_at
        )
    else:
        error = _unknown("add_order answered without an order_id")
    outcome.errors.append(error)
    return error_reply(job, error, sent_at=sent_at)


class WebSocketPath:
    """The KrakenGateway's WebSocket half: sending, answers, losses and the answer deadline.

    A mixin of KrakenGateway (one actor, one thread): it uses the gateway's scheduler, timers,
    clock and its REST-path handling of failures, so a lost WS request is treated exactly as a
    REST timeout or reset would be.
    """

    _ws: WsOrderEntry
    _place_guard: Callable[[], str | None] | None
    _ws_key: str
    _ws_generation: int | None
    _ws_deadline: float | None
    _scheduler: RequestScheduler
    _timers: TimerScheduler
    _clock: Clock
    _metrics: Any
    _calls: collections.Counter[str]
    actor_ref: Any

    def _observe(self, dispatch: Dispatch, error: ClassifiedError) -> None:
        raise NotImplementedError

    def _reply(self, job: Job, reply: Reply) -> None:
        raise NotImplementedError

    def _on_failure(
        self, dispatch: Dispatch, exc: BaseException, error: ClassifiedError, sent_at: float
    ) -> None:
        raise NotImplementedError

    def _settle_trial(self, dispatch: Dispatch, failure: ClassifiedError | None) -> None:
        raise NotImplementedError

    def _on_channel_up(self, message: TradingChannelUp) -> None:
        self._ws.up(message.session, message.channel, message.symbols)

    def _on_channel_down(self, message: TradingChannelDown) -> None:
        for item in self._ws.down(message.session):
            self._ws_lost(item, TransportKind.CONNECTION_RESET, f"WebSocket lost: {message.reason}")
        self._arm_ws_deadline()

    def _on_ws_deadline(self, fired: TimerFired) -> None:
        """The answer-deadline timer (``_ws_key``) fired: the overdue requests are lost."""
        if fired.generation != self._ws_generation:
            return
        self._ws_generation = None
        self._ws_deadline = None
        for item in self._ws.expired(self._clock.monotonic()):
            self._ws_lost(item, TransportKind.TIMEOUT, "no answer on the WebSocket in time")
        self._arm_ws_deadline()

    def _send_ws(self, dispatch: Dispatch) -> None:
        if dispatch.kind in PLACING and self._place_guard is not None:
            refusal = self._place_guard()
            if refusal is not None:
                fenced = PlacementFenced(f"not sent: {refusal}")
                error = classify_exception(fenced, placing=True)
                self._on_failure(dispatch, fenced, error, self._clock.time())
                return
        entry = self._ws
        channel = entry.channel
        token = getattr(channel, "current_token", None)
        if channel is None or token is None:
            self._ws_not_sent(dispatch, "no token on the connection")
            return
        req_id, method, frame = entry.frame(dispatch, token)
        now = self._clock.monotonic()
        sent_at = self._clock.time()
        try:
            channel.send(frame, session=entry.session)
        except WsNotConnected as exc:
            self._ws_not_sent(dispatch, str(exc))
            return
        except WsSendFailed as exc:
            # The frame may have reached Kraken: wait for an answer, or the drop that follows.
            logger.warning("KrakenGateway: %s", exc)
        entry.sent(req_id, method, dispatch, now, sent_at)
        self._calls[method if len(dispatch.jobs) == 1 else "batch_add"] += 1
        if self._metrics is not None and dispatch.kind is JobKind.PLACE:
            for job in dispatch.jobs:
                received = getattr(job.request, "enqueued_at", 0.0)
                if received:
                    self._metrics.observe_signal_to_wire(now - received)
        self._arm_ws_deadline()

    def _ws_not_sent(self, dispatch: Dispatch, reason: str) -> None:
        """Nothing left this process: the jobs go again (by REST, until the socket is back)."""
        logger.info("KrakenGateway: WebSocket not usable (%s); using REST", reason)
        self._ws.channel = None
        self._requeue_unsent(dispatch)

    def _requeue_unsent(self, dispatch: Dispatch) -> None:
        for job in dispatch.jobs:
            if job.kind is JobKind.PLACE and job.pair is not None and job.cl_ord_id:
                self._scheduler.release(job.pair, job.cl_ord_id)
            self._scheduler.requeue(job)

    def _on_ws_reply(self, message: TradingReply) -> None:
        response = message.response
        entry = self._ws
        if response.req_id is None and not response.success:
            # Kraken could not tie this error to a request: each request it may answer has an
            # unknown outcome (never read it as that request's rejection).
            raw = response.error or "error without req_id"
            logger.warning("KrakenGateway: WebSocket error without req_id: %s", raw)
            for lost in entry.unattributed(message.session, response.method):
                self._ws_lost(lost, TransportKind.CONNECTION_RESET, f"unattributed error: {raw}")
            self._arm_ws_deadline()
            return
        item = entry.answer(message.session, response)
        if item is None:
            logger.info(
                "KrakenGateway: late or unknown %s answer (req_id %s)",
                response.method,
                response.req_id,
            )
            return
        self._arm_ws_deadline()
        dispatch = item.dispatch
        if response.success:
            outcome: SuccessOutcome = ws_success_outcome(dispatch, response, sent_at=item.sent_at)
            for error in outcome.errors:
                self._observe(dispatch, error)
            for job, reply in outcome.replies:
                self._reply(job, reply)
            self._settle_trial(dispatch, None)
            return
        raw = response.error or "unspecified error"
        error = classify(raw, placing=dispatch.kind in PLACING)
        if normalise(raw) in TOKEN_ERRORS:
            # Refused at the door: nothing was processed. Fresh token, and the jobs go again.
            self._observe(dispatch, error)
            self._requeue_unsent(dispatch)
            reconnect = getattr(entry.channel, "reconnect", None)
            entry.channel = None
            if reconnect is not None:
                reconnect("the WebSocket token was refused")
            return
        self._on_failure(dispatch, KrakenAPIError([raw], endpoint=item.method), error, item.sent_at)
        self._settle_trial(dispatch, error)

    def _ws_lost(self, item: Pending, kind: str, detail: str) -> None:
        """No answer will come for ``item``: as after a REST timeout or reset."""
        dispatch = item.dispatch
        exc = TransportError(kind, f"{item.method}: {detail}")
        decision = exc.classify(placing=dispatch.kind in PLACING)
        error = msgspec.structs.replace(decision, raw=f"{item.method}: {detail}")
        self._on_failure(dispatch, exc, error, item.sent_at)
        self._settle_trial(dispatch, error)

    def _arm_ws_deadline(self) -> None:
        """Keep one timer at or before the earliest answer deadline. It is not moved later or
        cancelled when answers come (it fires, finds nothing overdue and re-arms): one timer per
        timeout period instead of a schedule and a cancel per request."""
        deadline = self._ws.next_deadline()
        if deadline is None:
            return
        if self._ws_deadline is not None and self._ws_deadline <= deadline + _TOLERANCE_S:
            return
        self._ws_deadline = deadline
        delay = max(0.0, deadline - self._clock.monotonic())
        self._ws_generation = self._timers.schedule(self._ws_key, delay, self.actor_ref)
