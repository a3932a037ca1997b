"""ReportSink: delivers every ExecutionReport, in order, to the journal, a JSON-lines file and callbacks.

A report is journaled first; only once the journal has committed it is it written to the file and
handed to callbacks, so nothing a user saw can be missing from the journal after a crash. A new
order's first report is journaled with its intent (``Journaled``) and only delivered here. The sink
owns the BatchTracker: every entry report it delivers may complete a batch's BatchReport.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, cast

import msgspec

from gal_exec.actors.protocol import OrderReloaded, Tellable, tell_quietly, unexpected
from gal_exec.actors.runtime import ThreadActor
from gal_exec.batch import BatchTracker
from gal_exec.core.clock import Clock, SystemClock
from gal_exec.core.intake import BatchPlan
from gal_exec.core.order import OrderSpec
from gal_exec.core.vocabulary import TERMINAL_STATUSES
from gal_exec.journal import Journal, JournalWriter
from gal_exec.messages import BatchReport, ExecutionReport, encode

__all__ = [
    "FollowBatch",
    "GetStats",
    "Journaled",
    "Redeliver",
    "ReloadOrder",
    "ReportSink",
    "SinkStats",
    "SubscribeReports",
]

log = logging.getLogger("gal_exec.reports")


class SubscribeReports(msgspec.Struct, frozen=True, kw_only=True):
    """Register a callback that receives every ExecutionReport (on the sink's thread).

    With ``batches`` it receives each BatchReport instead.
    """

    callback: Callable[[Any], None]
    """Called with each ExecutionReport, or with each BatchReport when ``batches``."""
    batches: bool = False


class GetStats(msgspec.Struct, frozen=True, kw_only=True):
    """Asked at the edge: counts for the summary, and how many reports await delivery."""


class Redeliver(msgspec.Struct, frozen=True, kw_only=True):
    """Reports journaled before a crash but never delivered: deliver them first, once."""

    reports: list[ExecutionReport]


class Journaled(msgspec.Struct, frozen=True, kw_only=True):
    """A report the journal already holds (an order's first, written with its intent)."""

    report: ExecutionReport


class FollowBatch(msgspec.Struct, frozen=True, kw_only=True):
    """Follow a batch's entry orders; report the batch once each has settled."""

    plan: BatchPlan


class ReloadOrder(msgspec.Struct, frozen=True, kw_only=True):
    """Read an order's journaled reports once every report received before this is journaled,
    and tell ``reply_to`` an OrderReloaded (a crashed order's restart)."""

    spec: OrderSpec
    reply_to: Tellable


class _Durable(msgspec.Struct, frozen=True, kw_only=True):
    """The journal's outcome for one report (not a message: see _Outcomes)."""

    report: ExecutionReport
    fresh: bool = True  # False: the journal already held this (order, sequence)
    error: str | None = None


class _Committed(msgspec.Struct, frozen=True):
    """Told to the sink when its outcomes queue stops being empty (see _Outcomes)."""


class _Outcomes:
    """The journal's outcomes for the sink's reports, in the order they were committed: the
    writer's thread adds, the sink's thread takes. Only an add that finds the queue empty tells
    the sink (a doorbell), so a commit of many reports wakes the sink once, not once each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[_Durable] = []

    def add(self, outcome: _Durable) -> bool:
        """Queue ``outcome``; True if the caller must ring (the queue was empty)."""
        with self._lock:
            ring = not self._items
            self._items.append(outcome)
            return ring

    def take(self) -> list[_Durable]:
        with self._lock:
            items, self._items = self._items, []
            return items


class _DeliveredMark:
    """The journal's delivery watermark (Journal.mark_delivered), written by at most one queued
    operation at a time: that operation writes the latest report delivered when it runs, so a
    burst of deliveries costs one write, not one each. (The sink's thread notes, the writer's
    runs; hence the lock.)"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: tuple[str, int] | None = None
        self._taken: tuple[str, int] | None = None  # what the last write took (see write)
        self._queued = False

    def note(self, cl_ord_id: str, sequence: int) -> bool:
        """Record a delivery; True if the caller must queue the write (none is queued)."""
        with self._lock:
            self._latest = (cl_ord_id, sequence)
            if self._queued:
                return False
            self._queued = True
            return True

    def write(self, journal: Journal) -> None:
        # Run again after a rollback (JournalWriter may redo a batch), it writes what it took
        # the first time, or a later delivery noted meanwhile: the watermark never goes back.
        with self._lock:
            if self._latest is not None:
                self._taken, self._latest = self._latest, None
            self._queued = False
            latest = self._taken
        if latest is not None:
            journal.mark_delivered(*latest)


class SinkStats(msgspec.Struct, kw_only=True):
    reports: int = 0
    fills: int = 0
    final_by_status_role: dict[str, int] = {}
    fees: dict[str, str] = {}
    journal_errors: int = 0
    pending: int = 0
    """Reports received and not delivered yet (their journal commit is under way)."""


Inbox = (
    ExecutionReport
    | _Committed
    | Journaled
    | Redeliver
    | FollowBatch
    | ReloadOrder
    | SubscribeReports
    | GetStats
)


class ReportSink(ThreadActor):
    def __init__(
        self,
        *,
        writer: JournalWriter | None = None,
        path: str | Path | None = None,
        stdout: bool = False,
        callbacks: list[Callable[[ExecutionReport], None]] | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self.writer = writer
        self.path = Path(path) if path else None
        self.stdout = stdout
        self.callbacks = list(callbacks or ())
        self.batch_callbacks: list[Callable[[BatchReport], None]] = []
        self.batches = BatchTracker(clock=clock or SystemClock())
        self.file: IO[bytes] | None = None
        self.reports = 0
        self.fills = 0
        self.journal_errors = 0
        self.pending = 0
        self.final: Counter[str] = Counter()
        self._last_fee: dict[str, tuple[str, Decimal]] = {}
        self._delivered = _DeliveredMark()
        self._outcomes = _Outcomes()

    def on_start(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = self.path.open("ab")

    def on_stop(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def on_receive(self, message: Any) -> SinkStats | None:
        return self._handle(cast(Inbox, message))

    def _handle(self, message: Inbox) -> SinkStats | None:
        match message:
            case ExecutionReport():
                self._accept(message)
            case _Committed():
                for outcome in self._outcomes.take():
                    self._settle(outcome)
            case Journaled(report=report):
                self._deliver(report)
            case Redeliver(reports=reports):
                for report in reports:
                    self._deliver(report)
            case FollowBatch(plan=plan):
                self._emit_batch(
                    self.batches.open(
                        plan.batch_id,
                        plan.mode,
                        plan.signal_ids,
                        plan.rejected,
                        reason=plan.reason,
                    )
                )
            case ReloadOrder(spec=spec, reply_to=reply_to):
                self._reload(spec, reply_to)
            case SubscribeReports(callback=callback, batches=True):
                self.batch_callbacks.append(callback)
            case SubscribeReports(callback=callback):
                self.callbacks.append(callback)
            case GetStats():
                return self._stats()
            case _:
                unexpected(message, actor="ReportSink", log=log)
        return None

    def _settle(self, outcome: _Durable) -> None:
        self.pending -= 1
        report = outcome.report
        if not outcome.fresh and outcome.error is None:
            # The same (order, sequence) was journaled and delivered before: never twice.
            log.warning(
                "report %s #%d was already journaled; not delivered again",
                report.client_order_id,
                report.sequence,
            )
            return
        if outcome.error is not None:
            self.journal_errors += 1
            log.error(
                "journal could not store report of %s: %s", report.client_order_id, outcome.error
            )
        self._deliver(report)

    def _accept(self, report: ExecutionReport) -> None:
        if self.writer is None:
            self._deliver(report)
            return
        ref, outcomes = self.actor_ref, self._outcomes
        self.pending += 1

        def durable(fresh: object) -> None:
            if outcomes.add(_Durable(report=report, fresh=fresh is not False)):
                tell_quietly(ref, _Committed())

        def failed(exc: Exception) -> None:
            if outcomes.add(_Durable(report=report, error=str(exc))):
                tell_quietly(ref, _Committed())

        # Eager (committed here, now, when the writer is idle) only when this is the one report
        # awaiting delivery and nothing else waits here: then it cannot overtake an earlier
        # one, and it saves the round trip through the writer's thread (two wake-ups).
        self.writer.submit(
            lambda journal: journal.apply_report(report),
            on_durable=durable,
            on_error=failed,
            eager=self.pending == 1 and self.actor_inbox.empty(),
        )

    def _reload(self, spec: OrderSpec, reply_to: Tellable) -> None:
        if self.writer is None:
            reply_to.tell(OrderReloaded(spec=spec, reports=[]))
            return
        cl_ord_id = spec.cl_ord_id

        def load(journal: Journal) -> list[ExecutionReport]:
            return journal.reports(cl_ord_id)

        def loaded(reports: list[ExecutionReport]) -> None:
            tell_quietly(reply_to, OrderReloaded(spec=spec, reports=reports))

        def failed(exc: Exception) -> None:
            log.error("could not read the journal of %s: %s", cl_ord_id, exc)
            tell_quietly(reply_to, OrderReloaded(spec=spec, reports=[]))

        self.writer.submit(load, on_durable=loaded, on_error=failed)

    def _deliver(self, report: ExecutionReport) -> None:
        self.reports += 1
        if report.last_fill_quantity is not None:
            self.fills += 1
        if report.status in TERMINAL_STATUSES:
            self.final[f"{report.status}/{report.role}"] += 1
        if report.fee_asset:
            # Fees are cumulative per order: count each order's latest total once.
            self._last_fee[report.client_order_id] = (report.fee_asset, report.fee)
        self._write(encode(report) + b"\n")
        for callback in self.callbacks:
            try:
                callback(report)
            except Exception:
                log.exception("a report callback failed")
        if self.writer is not None and self._delivered.note(
            report.client_order_id, report.sequence
        ):
            # At least once: a crash before this marker commits re-delivers the report at start.
            self.writer.submit(self._delivered.write)
        self._emit_batch(self.batches.observe(report))

    def _emit_batch(self, report: BatchReport | None) -> None:
        """A batch's aggregate outcome: one JSON line (it has a batch_id, no client_order_id)."""
        if report is None:
            return
        self._write(encode(report) + b"\n")
        for callback in self.batch_callbacks:
            try:
                callback(report)
            except Exception:
                log.exception("a batch report callback failed")

    def _write(self, line: bytes) -> None:
        if self.file is not None:
            self.file.write(line)
            self.file.flush()
        if self.stdout:
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()

    def _stats(self) -> SinkStats:
        fees: dict[str, Decimal] = {}
        for asset, fee in self._last_fee.values():
            fees[asset] = fees.get(asset, Decimal(0)) + fee
        return SinkStats(
            reports=self.reports,
            fills=self.fills,
            final_by_status_role=dict(self.final),
            fees={asset: str(total) for asset, total in sorted(fees.items())},
            journal_errors=self.journal_errors,
            pending=self.pending,
        )
