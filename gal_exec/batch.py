"""The BatchTracker: turns the ExecutionReports of a batch's entry orders into one BatchReport.

A batch is checked as a whole (``gal_exec.core.intake.plan_batch``), then its accepted signals
are placed like single ones; the gateway coalesces same-pair placements into AddOrderBatch. Once
every signal of the batch has an outcome (rejected before placement, or its entry order reached a
settled status) the tracker produces one BatchReport. The ReportSink owns the tracker and feeds it
every report it delivers, on its own thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from gal_exec.core.clock import Clock
from gal_exec.core.vocabulary import PLACEMENT_SETTLED, Role
from gal_exec.messages import BatchItemOutcome, BatchMode, BatchReport, ExecutionReport

__all__ = ["BatchTracker"]


class _Open:
    __slots__ = ("items", "mode", "order", "waiting")

    def __init__(self, mode: BatchMode, order: list[str]) -> None:
        self.mode = mode
        self.order = order
        self.items: dict[str, BatchItemOutcome] = {}
        self.waiting: set[str] = set(order)


class BatchTracker:
    """Collects each batch's per-signal outcomes; ``open`` and ``observe`` return the BatchReport
    that completes a batch (or None)."""

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self._batches: dict[str, _Open] = {}
        self._by_signal: dict[str, str] = {}

    def open(
        self,
        batch_id: str,
        mode: BatchMode,
        signal_ids: Sequence[str],
        rejected: dict[str, str],
        *,
        reason: str | None = None,
    ) -> BatchReport | None:
        """Start following a batch; ``rejected`` maps the signals refused before placement to
        why, ``reason`` says why the batch as a whole was refused. Returns the report at once when
        nothing is left to wait for. A batch_id already followed is refused with a report."""
        if batch_id in self._batches:
            return self._finish(
                batch_id,
                _Open(mode, []),
                reason=f"batch {batch_id!r} is already being followed; this one was not placed",
            )
        batch = _Open(mode, list(signal_ids))
        for signal_id, why in rejected.items():
            batch.items[signal_id] = BatchItemOutcome(
                signal_id=signal_id, status="rejected", reason=why
            )
            batch.waiting.discard(signal_id)
        if not batch.waiting:
            return self._finish(batch_id, batch, reason=reason)
        self._batches[batch_id] = batch
        for signal_id in batch.waiting:
            self._by_signal[signal_id] = batch_id
        return None

    def observe(self, report: ExecutionReport) -> BatchReport | None:
        """Feed one ExecutionReport; returns a BatchReport if it completed one."""
        if report.role != Role.ENTRY or report.status not in PLACEMENT_SETTLED:
            return None
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
        if batch.waiting:
            return None
        del self._batches[batch_id]
        return self._finish(batch_id, batch)

    def pending(self) -> int:
        """Batches still waiting for an outcome."""
        return len(self._batches)

    def _finish(self, batch_id: str, batch: _Open, *, reason: str | None = None) -> BatchReport:
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
            reason=reason,
        )
