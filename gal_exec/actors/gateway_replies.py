"""How the KrakenGateway turns a finished call into answers for its requesters (no threads here),
and the shape of its health snapshot.

:func:`classify_exception` gives every failure a ClassifiedError; :func:`error_reply` answers a
job with one; :func:`success_outcome` maps a result back to each job of the dispatch (one AddOrder,
each entry of an AddOrderBatch, each txid of a QueryOrders, a lookup's two steps).
"""

from __future__ import annotations

from typing import Any

import msgspec

from gal_exec.actors.http_worker import PlacementFenced
from gal_exec.actors.protocol import (
    AmendResult,
    BalancesResult,
    CancelAllAfterResult,
    CancelResult,
    LookupResult,
    OpenOrdersListed,
    PlaceResult,
    StatusResult,
    TradesResult,
)
from gal_exec.kraken.errors import (
    ClassifiedError,
    CredentialsError,
    ErrorCategory,
    KrakenAPIError,
    MalformedResponse,
    TransportError,
    classify,
)
from gal_exec.kraken.jobs import Dispatch, Job, JobKind, txids_of

__all__ = [
    "GatewayHealth",
    "LastError",
    "Reply",
    "SuccessOutcome",
    "call_for",
    "classify_exception",
    "error_reply",
    "success_outcome",
]


Reply = (
    PlaceResult
    | AmendResult
    | CancelResult
    | CancelAllAfterResult
    | StatusResult
    | TradesResult
    | BalancesResult
    | LookupResult
    | OpenOrdersListed
)
"""Every answer the gateway tells a requester."""


class LastError(msgspec.Struct, frozen=True, kw_only=True):
    endpoint: str
    category: str
    code: str
    raw: str
    time: float


class GatewayHealth(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot for Engine.health() and the benchmark."""

    queued: dict[str, int]
    """Jobs waiting per lane: cancel, place, query."""
    held: int
    """Queued jobs held by an open breaker."""
    in_flight: int
    max_in_flight: int
    workers: int
    rest_level: float
    rest_max: float
    trading_headroom: dict[str, float]
    """Trading-counter points spendable now, per pair."""
    open_orders: dict[str, int]
    calls: dict[str, int]
    """Calls sent per Kraken endpoint since start."""
    status_calls_last_minute: int
    """QueryOrders/OpenOrders/ClosedOrders calls sent in the last 60 s."""
    retries: int
    local_rejections: int
    breakers: dict[str, str]
    last_error: LastError | None
    ws_order_entry: bool = False
    """Order entry goes over the authenticated WebSocket now."""
    ws_pending: int = 0
    """WebSocket requests waiting for their answer."""


def classify_exception(error: BaseException, *, placing: bool) -> ClassifiedError:
    """A decision for any exception a worker carried back.

    Kraken's and the transport's errors classify themselves. A malformed reply reached the
    exchange, so an order call's outcome is unknown (a query may be retried). CredentialsError and
    ValueError/TypeError are raised by the client before anything is sent (missing key, an invalid
    request), so they are definite. Anything else is a bug we cannot place: unknown for orders.
    """
    if isinstance(error, KrakenAPIError | TransportError):
        return error.classify(placing=placing)
    if isinstance(error, PlacementFenced):
        # Not sent, and not the order's fault: "not placed, later" (it stays pending_submit in
        # the journal, so the account's next owner resolves it by cl_ord_id and places it).
        return ClassifiedError(category=ErrorCategory.RATE_LIMITED, code="fenced", raw=str(error))
    if isinstance(error, MalformedResponse):
        category = ErrorCategory.OUTCOME_UNKNOWN if placing else ErrorCategory.RETRYABLE
        return ClassifiedError(category=category, code="malformed_response", raw=str(error))
    if isinstance(error, CredentialsError):
        return ClassifiedError(
            category=ErrorCategory.AUTH_OR_LOCKOUT, code="credentials", raw=str(error)
        )
    if isinstance(error, ValueError | TypeError):
        return ClassifiedError(
            category=ErrorCategory.PERMANENT, code="invalid_request", raw=str(error)
        )
    category = ErrorCategory.OUTCOME_UNKNOWN if placing else ErrorCategory.PERMANENT
    return ClassifiedError(
        category=category, code=f"internal:{type(error).__name__}", raw=str(error)
    )


def call_for(dispatch: Dispatch) -> tuple[str, dict[str, Any]]:
    """The KrakenRestClient method name and keyword arguments for a dispatch."""
    head = dispatch.jobs[0]
    request = head.request
    endpoint = dispatch.endpoint
    if endpoint == "AddOrderBatch":
        return "add_order_batch", {"orders": [job.order for job in dispatch.jobs]}
    if endpoint == "AddOrder":
        return "add_order", {"order": head.order}
    if endpoint == "AmendOrder":
        kwargs: dict[str, Any] = _order_id(head)
        for field in ("order_qty", "limit_price", "trigger_price"):
            value = getattr(request, field)
            if value is not None:
                kwargs[field] = value
        return "amend_order", kwargs
    if endpoint == "CancelOrder":
        return "cancel_order", _order_id(head)
    if endpoint == "CancelAllOrdersAfter":
        return "cancel_all_orders_after", {"timeout": request.timeout_s}
    if endpoint == "QueryOrders":
        return "query_orders", {"txids": txids_of(dispatch.jobs), "trades": True}
    if head.kind is JobKind.LIST_OPEN:
        return "open_orders", {}
    if head.kind is JobKind.TRADES:
        return "query_trades", {"txids": list(request.trade_ids)[:20]}
    if head.kind is JobKind.BALANCE:
        return "balance_ex", {}
    if head.kind is JobKind.LOOKUP_OPEN:
        return "open_orders", {"cl_ord_id": head.cl_ord_id, "trades": True}
    if head.kind is JobKind.LOOKUP_CLOSED:
        return "closed_orders", {"cl_ord_id": head.cl_ord_id, "trades": True}
    raise ValueError(f"no REST call known for {endpoint} ({head.kind})")


def _order_id(job: Job) -> dict[str, Any]:
    return {"txid": job.txid} if job.txid is not None else {"cl_ord_id": job.cl_ord_id}


def error_reply(job: Job, error: ClassifiedError, *, sent_at: float = 0.0) -> Reply:
    """The answer telling ``job``'s requester that it failed with ``error``."""
    request = job.request
    kind = job.kind
    if kind is JobKind.PLACE:
        return PlaceResult(
            request_id=request.request_id, cl_ord_id=request.cl_ord_id, error=error, sent_at=sent_at
        )
    if kind is JobKind.AMEND:
        return AmendResult(request_id=request.request_id, cl_ord_id=request.cl_ord_id, error=error)
    if kind is JobKind.CANCEL:
        return CancelResult(request_id=request.request_id, cl_ord_id=request.cl_ord_id, error=error)
    if kind is JobKind.CANCEL_ALL_AFTER:
        return CancelAllAfterResult(request_id=request.request_id, error=error)
    if kind is JobKind.STATUS:
        return StatusResult(
            request_id=request.request_id,
            cl_ord_id=request.cl_ord_id,
            txid=request.txid,
            error=error,
        )
    if kind is JobKind.TRADES:
        return TradesResult(request_id=request.request_id, cl_ord_id=request.cl_ord_id, error=error)
    if kind is JobKind.BALANCE:
        return BalancesResult(request_id=request.request_id, error=error)
    if kind in (JobKind.LOOKUP_OPEN, JobKind.LOOKUP_CLOSED):
        return LookupResult(request_id=request.request_id, cl_ord_id=request.cl_ord_id, error=error)
    return OpenOrdersListed(request_id=request.request_id, error=error)


class SuccessOutcome:
    """What a successful call means: answers, follow-up jobs, and per-entry errors seen."""

    __slots__ = ("errors", "follow_ups", "replies")

    def __init__(self) -> None:
        self.replies: list[tuple[Job, Reply]] = []
        self.follow_ups: list[Job] = []
        self.errors: list[ClassifiedError] = []


def success_outcome(dispatch: Dispatch, result: Any, *, sent_at: float = 0.0) -> SuccessOutcome:
    """Map ``result`` of ``dispatch`` back to each of its jobs."""
    outcome = SuccessOutcome()
    endpoint = dispatch.endpoint
    if endpoint == "AddOrderBatch":
        _batch_outcome(dispatch, result, sent_at, outcome)
        return outcome
    for job in dispatch.jobs:
        request = job.request
        if endpoint == "AddOrder":
            txids = list(getattr(result, "txid", []) or [])
            if not txids and not getattr(job.order, "validate", False):
                # Only validate=true may answer without a txid; otherwise we cannot tell.
                error = ClassifiedError(
                    category=ErrorCategory.OUTCOME_UNKNOWN,
                    code="malformed_response",
                    raw="AddOrder returned no txid",
                )
                outcome.errors.append(error)
                outcome.replies.append((job, error_reply(job, error, sent_at=sent_at)))
                continue
            # validate=true answers with a description and no txid: success, nothing placed.
            reply: Reply = PlaceResult(
                request_id=request.request_id,
                cl_ord_id=request.cl_ord_id,
                txid=txids[0] if txids else None,
                sent_at=sent_at,
            )
        elif endpoint == "AmendOrder":
            reply = AmendResult(
                request_id=request.request_id, cl_ord_id=request.cl_ord_id, amend_id=result.amend_id
            )
        elif endpoint == "CancelOrder":
            reply = CancelResult(
                request_id=request.request_id, cl_ord_id=request.cl_ord_id, count=result.count
            )
        elif endpoint == "CancelAllOrdersAfter":
            reply = CancelAllAfterResult(
                request_id=request.request_id, trigger_time=result.trigger_time
            )
        elif endpoint == "QueryOrders":
            reply = StatusResult(
                request_id=request.request_id,
                cl_ord_id=request.cl_ord_id,
                txid=request.txid,
                info=result.get(request.txid),
            )
        elif job.kind is JobKind.TRADES:
            reply = TradesResult(
                request_id=request.request_id, cl_ord_id=request.cl_ord_id, trades=dict(result)
            )
        elif job.kind is JobKind.LIST_OPEN:
            reply = OpenOrdersListed(request_id=request.request_id, orders=dict(result.open))
        elif job.kind is JobKind.BALANCE:
            reply = BalancesResult(request_id=request.request_id, balances=dict(result))
        else:
            found = _find(result.open if job.kind is JobKind.LOOKUP_OPEN else result.closed, job)
            if found is None and job.kind is JobKind.LOOKUP_OPEN:
                # Not open: the second step looks among closed orders.
                job.kind = JobKind.LOOKUP_CLOSED
                job.attempt = 0
                outcome.follow_ups.append(job)
                continue
            reply = LookupResult(
                request_id=request.request_id,
                cl_ord_id=request.cl_ord_id,
                found=found is not None,
                txid=found[0] if found else None,
                info=found[1] if found else None,
            )
        outcome.replies.append((job, reply))
    return outcome


def _find(orders: dict[str, Any], job: Job) -> tuple[str, Any] | None:
    """The order with ``job``'s cl_ord_id (the filter should give only it; check anyway)."""
    for txid, info in orders.items():
        if getattr(info, "cl_ord_id", None) == job.cl_ord_id:
            return txid, info
    return None


def _batch_outcome(
    dispatch: Dispatch, result: Any, sent_at: float, outcome: SuccessOutcome
) -> None:
    entries = list(getattr(result, "orders", []) or [])
    if len(entries) != len(dispatch.jobs):
        # Entries come back in request order; without a one-to-one match we cannot say which
        # order got which txid, so each requester resolves its own by cl_ord_id.
        unknown = ClassifiedError(
            category=ErrorCategory.OUTCOME_UNKNOWN,
            code="malformed_response",
            raw=f"AddOrderBatch returned {len(entries)} entries for {len(dispatch.jobs)} orders",
        )
        outcome.errors.append(unknown)
        for job in dispatch.jobs:
            outcome.replies.append((job, error_reply(job, unknown, sent_at=sent_at)))
        return
    for job, entry in zip(dispatch.jobs, entries, strict=True):
        request = job.request
        if entry.error:
            error = classify(entry.error, placing=True)
            outcome.errors.append(error)
            outcome.replies.append((job, error_reply(job, error, sent_at=sent_at)))
        elif entry.txid:
            reply = PlaceResult(
                request_id=request.request_id,
                cl_ord_id=request.cl_ord_id,
                txid=entry.txid,
                sent_at=sent_at,
            )
            outcome.replies.append((job, reply))
        else:
            error = ClassifiedError(
                category=ErrorCategory.OUTCOME_UNKNOWN,
                code="malformed_response",
                raw="AddOrderBatch entry with neither txid nor error",
            )
            outcome.errors.append(error)
            outcome.replies.append((job, error_reply(job, error, sent_at=sent_at)))
