"""ReportSink: delivers every ExecutionReport, in order, to the journal, a JSON-lines file and callbacks.

A report is journaled first; only once the journal has committed it is it written to the file and
handed to callbacks, so nothing a user saw can be missing from the journal after a crash.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import msgspec
import pykka

from gal_exec.actors.protocol import tell_quietly
from gal_exec.batch import BatchReport
from gal_exec.core.vocabulary import TERMINAL_STATUSES
from gal_exec.messages import ExecutionReport, encode

__all__ = ["Redeliver", "ReportSink", "SinkStats", "SubscribeReports"]

log = logging.getLogger("gal_exec.reports")


class SubscribeReports(msgspec.Struct, frozen=True, kw_only=True):
    """Register a callback that receives every ExecutionReport (on the sink's thread).

    With ``batches`` it receives each BatchReport instead.
    """

    callback: Any
    batches: bool = False


class GetStats(msgspec.Struct, frozen=True, kw_only=True):
    """Asked at the edge: counts for the summary."""


class Redeliver(msgspec.Struct, frozen=True, kw_only=True):
    """Reports journaled before a crash but never delivered: deliver them first, once."""

    reports: list[ExecutionReport]


class _Durable(msgspec.Struct, frozen=True, kw_only=True):
    report: ExecutionReport
    fresh: bool = True  # False: the journal already held this (order, sequence)
    error: str | None = None


class SinkStats(msgspec.Struct, kw_only=True):
    reports: int = 0
    fills: int = 0
    final_by_status_role: dict[str, int] = {}
    fees: dict[str, str] = {}
    journal_errors: int = 0


class ReportSink(pykka.ThreadingActor):
    def __init__(
        self,
        *,
        writer: Any = None,
        path: str | Path | None = None,
        stdout: bool = False,
        callbacks: list[Callable[[ExecutionReport], None]] | None = None,
    ) -> None:
        super().__init__()
        self.writer = writer
        self.path = Path(path) if path else None
        self.stdout = stdout
        self.callbacks = list(callbacks or ())
        self.batch_callbacks: list[Callable[[BatchReport], None]] = []
        self.file: IO[bytes] | None = None
        self.reports = 0
        self.fills = 0
        self.journal_errors = 0
        self.final: Counter[str] = Counter()
        self.fees: dict[str, Decimal] = {}
        self._last_fee: dict[str, tuple[str, Decimal]] = {}

    def on_start(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = self.path.open("ab")

    def on_stop(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def on_receive(self, message: Any) -> Any:
        match message:
            case ExecutionReport():
                self._accept(message)
            case _Durable(report=report, fresh=False, error=None):
                # The same (order, sequence) was journaled and delivered before: never twice.
                log.warning(
                    "report %s #%d was already journaled; not delivered again",
                    report.client_order_id,
                    report.sequence,
                )
            case _Durable(report=report, error=error):
                if error is not None:
                    self.journal_errors += 1
                    log.error(
                        "journal could not store report of %s: %s", report.client_order_id, error
                    )
                self._deliver(report)
            case Redeliver(reports=reports):
                for report in reports:
                    self._deliver(report)
            case BatchReport():
                self._deliver_batch(message)
            case SubscribeReports(callback=callback, batches=True):
                self.batch_callbacks.append(callback)
            case SubscribeReports(callback=callback):
                self.callbacks.append(callback)
            case GetStats():
                return self._stats()
            case _:
                log.warning("report sink ignored %r", message)
        return None

    def _accept(self, report: ExecutionReport) -> None:
        if self.writer is None:
            self._deliver(report)
            return
        ref = self.actor_ref
        self.writer.submit(
            lambda journal: journal.apply_report(report),
            on_durable=lambda fresh: tell_quietly(
                ref, _Durable(report=report, fresh=fresh is not False)
            ),
            on_error=lambda exc: tell_quietly(ref, _Durable(report=report, error=str(exc))),
        )

    def _deliver(self, report: ExecutionReport) -> None:
        self.reports += 1
        if report.last_fill_quantity is not None:
            self.fills += 1
        if report.status in TERMINAL_STATUSES:
            self.final[f"{report.status}/{report.role}"] += 1
        if report.fee_asset:
            # Fees are cumulative per order: count each order's latest total once.
            self._last_fee[report.client_order_id] = (report.fee_asset, report.fee)
        line = encode(report) + b"\n"
        if self.file is not None:
            self.file.write(line)
            self.file.flush()
        if self.stdout:
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()
        for callback in self.callbacks:
            try:
                callback(report)
            except Exception:
                log.exception("a report callback failed")
        if self.writer is not None:
            # At least once: a crash before this marker commits re-delivers the report at start.
            cl_ord_id, sequence = report.client_order_id, report.sequence
            self.writer.submit(lambda journal: journal.mark_delivered(cl_ord_id, sequence))

    def _deliver_batch(self, report: BatchReport) -> None:
        """A batch's aggregate outcome: one JSON line (it has a batch_id, no client_order_id)."""
        line = encode(report) + b"\n"
        if self.file is not None:
            self.file.write(line)
            self.file.flush()
        if self.stdout:
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()
        for callback in self.batch_callbacks:
            try:
                callback(report)
            except Exception:
                log.exception("a batch report callback failed")

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
        )
