"""Batches of signals: the BatchSubmit message, its BatchReport, and the tracker that turns the
entry orders' ExecutionReports into one report per batch.

A batch is checked as a whole (``gal_exec.core.risk.check_batch``), then its accepted signals are
placed like single ones; the gateway coalesces same-pair placements into AddOrderBatch. Once every
signal of the batch has an outcome (rejected before placement, or its entry order reached a
settled status) the tracker emits one BatchReport.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal

import msgspec

from gal_exec.core.exposure import ExposureView
from gal_exec.core.risk import BatchEntry, BatchMode, RiskLimits, check_batch
from gal_exec.core.vocabulary import PLACEMENT_SETTLED
from gal_exec.messages import BatchSubmit, TradeSignalApproved

__all__ = [
    "MAX_BATCH_SIGNALS",
    "BatchItemOutcome",
    "BatchMode",
    "BatchPlan",
    "BatchReport",
    "BatchSubmit",
    "BatchTracker",
    "batch_problems",
    "plan_batch",
]

MAX_BATCH_SIGNALS = 100


def batch_problems(batch: BatchSubmit, *, max_signals: int = MAX_BATCH_SIGNALS) -> list[str]:
    """Problems with the batch itself (not its signals), each a sentence a person can act on."""
    problems: list[str] = []
    if not batch.batch_id.strip():
        problems.append("batch_id must not be empty")
    if not batch.signals:
        problems.append("a batch needs at least one signal")
    elif len(batch.signals) > max_signals:
        problems.append(f"a batch holds at most {max_signals} signals; got {len(batch.signals)}")
    seen: set[str] = set()
    repeated: list[str] = []
    for signal in batch.signals:
        if signal.signal_id in seen and signal.signal_id not in repeated:
            repeated.append(signal.signal_id)
        seen.add(signal.signal_id)
    if repeated:
        problems.append(f"signal_id repeated within the batch: {', '.join(repeated)}")
    return problems


class BatchPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What to do with a batch: place ``accepted`` (in batch order), reject ``rejected``."""

    batch_id: str
    mode: BatchMode
    signal_ids: list[str]  # every signal of the batch, in batch order (for BatchTracker.open)
    accepted: list[BatchEntry]
    rejected: dict[str, str]


def plan_batch(
    batch: BatchSubmit,
    *,
    prepare: Callable[[TradeSignalApproved], BatchEntry | str],
    exposure: ExposureView,
    limits: RiskLimits,
    max_signals: int = MAX_BATCH_SIGNALS,
) -> BatchPlan:
    """Decide a batch: ``prepare`` runs the single-signal checks that come before the risk
    rules (halt, duplicates, signal_problems, pair rules, quantizing) and returns the entry to
    risk-check or the reason it failed; then check_batch decides the rest as a whole.

    In all_or_nothing mode any failure, early or in the risk rules, rejects every signal.
    """
    mode = batch.mode or limits.batch_mode
    order = [signal.signal_id for signal in batch.signals]
    problems = batch_problems(batch, max_signals=max_signals)
    if problems:
        reason = f"batch {batch.batch_id}: {'; '.join(problems)}"
        return BatchPlan(
            batch_id=batch.batch_id,
            mode=mode,
            signal_ids=order,
            accepted=[],
            rejected=dict.fromkeys(order, reason),
        )
    rejected: dict[str, str] = {}
    entries: list[BatchEntry] = []
    for signal in batch.signals:
        prepared = prepare(signal)
        if isinstance(prepared, str):
            rejected[signal.signal_id] = prepared
        else:
            entries.append(prepared)
    verdict = check_batch(
        entries,
        exposure=exposure,
        limits=limits,
        mode=mode,
        failed_before=[f"signal {signal_id}" for signal_id in rejected],
    )
    accepted: list[BatchEntry] = []
    for entry, reasons in zip(entries, verdict.reasons, strict=True):
        if reasons:
            rejected[entry.order.signal_id] = "; ".join(reasons)
        else:
            accepted.append(entry)
    return BatchPlan(
        batch_id=batch.batch_id,
        mode=mode,
        signal_ids=order,
        accepted=accepted,
        rejected={s: rejected[s] for s in order if s in rejected},
    )


class BatchItemOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """One signal of a batch: ``status`` is "rejected" or its entry order's settled status."""

    signal_id: str
    status: str
    client_order_id: str | None = None
    exchange_order_id: str | None = None
    reason: str | None = None


class BatchReport(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of a batch: "placed" (every signal placed), "partial" or "rejected" (none)."""

    batch_id: str
    mode: BatchMode
    status: Literal["placed", "partial", "rejected"]
    placed: int
    rejected: int
    items: list[BatchItemOutcome]
    engine_time: float


class _Open:
    __slots__ = ("items", "mode", "order", "waiting")

    def __init__(self, mode: BatchMode, order: list[str]) -> None:
        self.mode = mode
        self.order = order
        self.items: dict[str, BatchItemOutcome] = {}
        self.waiting: set[str] = set(order)


class BatchTracker:
    """Collects each batch's per-signal outcomes and emits one BatchReport when all are in.

    ``open`` is called by whoever checks the batch, ``observe`` by whoever sees the entry
    orders' ExecutionReports (e.g. a ReportSink callback): a lock makes the two threads safe.
    ``on_report`` is called outside the lock with each finished BatchReport.
    """

    def __init__(
        self,
        *,
        clock: Any,
        on_report: Callable[[BatchReport], None] | None = None,
    ) -> None:
        self._clock = clock
        self._on_report = on_report
        self._lock = threading.Lock()
        self._batches: dict[str, _Open] = {}
        self._by_signal: dict[str, str] = {}

    def open(
        self,
        batch_id: str,
        mode: BatchMode,
        signal_ids: Sequence[str],
        rejected: dict[str, str],
    ) -> BatchReport | None:
        """Start following a batch; ``rejected`` maps the signals refused before placement to
        why. Returns (and emits) the report at once when nothing is left to wait for."""
        if batch_id in self._batches:
            raise ValueError(f"batch {batch_id!r} is already being followed")
        batch = _Open(mode, list(signal_ids))
        for signal_id, reason in rejected.items():
            batch.items[signal_id] = BatchItemOutcome(
                signal_id=signal_id, status="rejected", reason=reason
            )
            batch.waiting.discard(signal_id)
        with self._lock:
            if not batch.waiting:
                report = self._finish(batch_id, batch)
            else:
                self._batches[batch_id] = batch
                for signal_id in batch.waiting:
                    self._by_signal[signal_id] = batch_id
                report = None
        self._emit(report)
        return report

    def observe(self, report: Any) -> BatchReport | None:
        """Feed one ExecutionReport; returns (and emits) a BatchReport if it completed one."""
        if getattr(report, "role", "entry") != "entry" or report.status not in PLACEMENT_SETTLED:
            return None
        with self._lock:
            batch_id = self._by_signal.pop(report.signal_id, None)
            if batch_id is None:
                return None
            batch = self._batches[batch_id]
            batch.waiting.discard(report.signal_id)
            batch.items[report.signal_id] = BatchItemOutcome(
                signal_id=report.signal_id,
                status=report.status,
                client_order_id=report.client_order_id or None,
                exchange_order_id=report.exchange_order_id,
                reason=report.reason,
            )
            done = None
            if not batch.waiting:
                del self._batches[batch_id]
                done = self._finish(batch_id, batch)
        self._emit(done)
        return done

    def pending(self) -> int:
        """Batches still waiting for an outcome."""
        with self._lock:
            return len(self._batches)

    def _finish(self, batch_id: str, batch: _Open) -> BatchReport:
        items = [batch.items[signal_id] for signal_id in batch.order if signal_id in batch.items]
        rejected = sum(1 for item in items if item.status == "rejected")
        placed = len(items) - rejected
        status: Literal["placed", "partial", "rejected"] = (
            "rejected" if placed == 0 else "placed" if rejected == 0 else "partial"
        )
        return BatchReport(
            batch_id=batch_id,
            mode=batch.mode,
            status=status,
            placed=placed,
            rejected=rejected,
            items=items,
            engine_time=self._clock.time(),
        )

    def _emit(self, report: BatchReport | None) -> None:
        if report is not None and self._on_report is not None:
            self._on_report(report)
