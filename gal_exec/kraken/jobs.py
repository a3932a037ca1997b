"""The gateway's units of work: request kinds, their lanes and endpoints, and what a breaker holds.

A :class:`Job` is one queued request; the scheduler turns one or several jobs into a
:class:`Dispatch` (one Kraken call), a :class:`LocalRejection`, or says :class:`Idle`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

__all__ = [
    "ENDPOINTS",
    "HELD_BY",
    "IDEMPOTENT",
    "MAX_BATCH_ORDERS",
    "MAX_QUERY_TXIDS",
    "PLACING",
    "Dispatch",
    "Idle",
    "Job",
    "JobKind",
    "Lane",
    "LocalRejection",
    "txids_of",
]

MAX_BATCH_ORDERS = 15
MAX_QUERY_TXIDS = 50


class Lane(enum.IntEnum):
    """Priority lanes, most urgent first."""

    CANCEL = 0
    PLACE = 1
    QUERY = 2


class JobKind(enum.StrEnum):
    PLACE = "place"
    AMEND = "amend"
    CANCEL = "cancel"
    CANCEL_ALL_AFTER = "cancel_all_after"
    STATUS = "status"
    LOOKUP_OPEN = "lookup_open"
    LOOKUP_CLOSED = "lookup_closed"
    LIST_OPEN = "list_open"
    TRADES = "trades"
    BALANCE = "balance"


_LANE_OF = {
    JobKind.CANCEL: Lane.CANCEL,
    JobKind.CANCEL_ALL_AFTER: Lane.CANCEL,
    JobKind.PLACE: Lane.PLACE,
    JobKind.AMEND: Lane.PLACE,
    JobKind.STATUS: Lane.QUERY,
    JobKind.LOOKUP_OPEN: Lane.QUERY,
    JobKind.LOOKUP_CLOSED: Lane.QUERY,
    JobKind.LIST_OPEN: Lane.QUERY,
    JobKind.TRADES: Lane.QUERY,
    JobKind.BALANCE: Lane.QUERY,
}

ENDPOINTS: Mapping[JobKind, str] = MappingProxyType(
    {
        JobKind.PLACE: "AddOrder",
        JobKind.AMEND: "AmendOrder",
        JobKind.CANCEL: "CancelOrder",
        JobKind.CANCEL_ALL_AFTER: "CancelAllOrdersAfter",
        JobKind.STATUS: "QueryOrders",
        JobKind.LOOKUP_OPEN: "OpenOrders",
        JobKind.LOOKUP_CLOSED: "ClosedOrders",
        JobKind.LIST_OPEN: "OpenOrders",
        JobKind.TRADES: "QueryTrades",
        JobKind.BALANCE: "BalanceEx",
    }
)
"""Kraken's method for each kind (a coalesced placement becomes AddOrderBatch)."""

IDEMPOTENT = frozenset(
    {
        JobKind.CANCEL,
        JobKind.CANCEL_ALL_AFTER,
        JobKind.STATUS,
        JobKind.LOOKUP_OPEN,
        JobKind.LOOKUP_CLOSED,
        JobKind.LIST_OPEN,
        JobKind.TRADES,
        JobKind.BALANCE,
    }
)
"""Kinds that may be retried: repeating them cannot create or change an order twice."""

PLACING = frozenset({JobKind.PLACE, JobKind.AMEND})
"""Kinds whose errors are classified with ``placing=True`` (an unclear failure may have acted)."""

_ALL_KINDS = frozenset(JobKind)
HELD_BY: Mapping[str, frozenset[JobKind]] = MappingProxyType(
    {
        # Kraken is refusing us for load: keep only what reduces risk (cancels, the switch).
        "rate_limited": _ALL_KINDS - {JobKind.CANCEL, JobKind.CANCEL_ALL_AFTER},
        # The exchange is unwell: adding exposure could leave orders we cannot see.
        "outcome_unknown": PLACING,
        "retryable": PLACING,
        # The key is refused: every private call would fail the same way and risks a longer ban.
        "auth_or_lockout": _ALL_KINDS,
    }
)
"""Breaker category -> the kinds held while that breaker is open (permanent holds nothing)."""


class Job:
    """One queued request. ``request`` is the caller's message, kept opaque here."""

    __slots__ = (
        "attempt",
        "cl_ord_id",
        "enqueued_at",
        "kind",
        "no_batch",
        "not_before",
        "order",
        "order_age_s",
        "pair",
        "request",
        "seq",
        "txid",
        "wire",
    )

    def __init__(
        self,
        kind: JobKind,
        request: Any,
        *,
        pair: str | None = None,
        cl_ord_id: str | None = None,
        txid: str | None = None,
        order: Any = None,
        order_age_s: float = 0.0,
    ) -> None:
        self.kind = kind
        self.request = request
        self.pair = pair
        self.cl_ord_id = cl_ord_id
        self.txid = txid
        self.order = order
        self.order_age_s = order_age_s
        self.seq = -1
        self.enqueued_at = 0.0
        self.attempt = 0
        self.not_before = 0.0
        self.no_batch = False
        self.wire: Any = None
        """The request in WebSocket terms, worked out once by the gateway (None: not yet)."""

    @property
    def lane(self) -> Lane:
        return _LANE_OF[self.kind]

    def __repr__(self) -> str:
        return f"Job({self.kind}, seq={self.seq}, pair={self.pair}, cl_ord_id={self.cl_ord_id})"


class Dispatch:
    """Send ``endpoint`` now for ``jobs`` (several when coalesced); the models are charged.
    ``path`` is ``"rest"`` or ``"ws"`` (the authenticated WebSocket)."""

    __slots__ = (
        "endpoint",
        "jobs",
        "kind",
        "pair",
        "path",
        "rest_cost",
        "trading_cost",
        "trial_for",
    )

    def __init__(
        self,
        kind: JobKind,
        endpoint: str,
        jobs: tuple[Job, ...],
        *,
        pair: str | None,
        trading_cost: float,
        rest_cost: float,
        trial_for: tuple[str, ...],
        path: str = "rest",
    ) -> None:
        self.kind = kind
        self.path = path
        self.endpoint = endpoint
        self.jobs = jobs
        self.pair = pair
        self.trading_cost = trading_cost
        self.rest_cost = rest_cost
        self.trial_for = trial_for
        """Breaker categories (half-open) for which this call is a trial."""

    def __repr__(self) -> str:
        return f"Dispatch({self.endpoint}, jobs={len(self.jobs)}, pair={self.pair}, {self.path})"


class LocalRejection:
    """A job refused without asking Kraken (``code``/``raw`` in Kraken's words)."""

    __slots__ = ("code", "job", "raw")

    def __init__(self, job: Job, code: str, raw: str) -> None:
        self.job = job
        self.code = code
        self.raw = raw


class Idle:
    """Nothing can go now; ``wake_in`` seconds until something might (None: wait for an event)."""

    __slots__ = ("wake_in",)

    def __init__(self, wake_in: float | None) -> None:
        self.wake_in = wake_in


def txids_of(jobs: Iterable[Job]) -> list[str]:
    """Distinct txids of status jobs, in first-seen order."""
    seen: dict[str, None] = {}
    for job in jobs:
        if job.txid is not None:
            seen.setdefault(job.txid, None)
    return list(seen)
