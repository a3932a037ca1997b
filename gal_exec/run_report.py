"""What ``gal-exec run`` prints about a run: the status line, the waiting notice and the summary.

Pure formatting of figures gathered by the runner, so each text is tested without an engine. The
summary exists as text (a terminal) and as fields (one JSON log record in JSON mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from gal_exec.core.text import excerpt
from gal_exec.signal_reader import ReadResult
from gal_exec.stopping import StopOutcome

__all__ = ["Snapshot", "SummaryInput", "summary_fields", "summary_text", "waiting_line"]

_ROLES = ("entry", "stop_loss", "take_profit")
_STATUSES = ("filled", "canceled", "expired", "rejected")
_IDS_SHOWN = 5


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The engine's figures at one moment (for the status line and a forced exit)."""

    live: int
    queued: int
    finished: int
    fills: int
    reports: int
    halted: bool = False
    stream_up: bool = True

    def status_line(self) -> str:
        return (
            f"live {self.live} · queued {self.queued} · done {self.finished} · "
            f"fills {self.fills} · reports {self.reports}"
            + (" · HALTED" if self.halted else "")
            + ("" if self.stream_up else " · stream down")
        )

    def forced_line(self) -> str:
        return (
            f"live {self.live}, queued {self.queued}, done {self.finished}, fills {self.fills}, "
            f"reports {self.reports}"
        )


class SummaryInput(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the summary reports, gathered after the stop policy ran."""

    elapsed: float
    stats: Any  # gal_exec.actors.report_sink.SinkStats
    health: dict[str, Any]
    outcome: StopOutcome
    read: ReadResult | None
    journal: str
    reports: str
    interrupted: str | None = None


def _ids(ids: Sequence[str]) -> str:
    shown = ", ".join(excerpt(cl_ord_id, 40) for cl_ord_id in ids[:_IDS_SHOWN])
    more = len(ids) - _IDS_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _with_ids(count: int, what: str, ids: Sequence[str]) -> str:
    return f"{count} {what}" + (f" ({_ids(ids)})" if ids else "")


def stop_line(outcome: StopOutcome) -> str:
    """What became of the orders open when trading stopped."""
    if outcome.open_count == 0:
        return "open at stop: none"
    parts = []
    if outcome.canceled:
        parts.append(_with_ids(len(outcome.canceled), "canceled", outcome.canceled))
    if outcome.filled:
        parts.append(_with_ids(len(outcome.filled), "filled meanwhile", outcome.filled))
    if outcome.ended:
        ended = [f"{cl_ord_id} {status}" for cl_ord_id, status in outcome.ended]
        parts.append(f"{len(outcome.ended)} ended otherwise ({_ids(ended)})")
    if outcome.left_open_count:
        parts.append(
            _with_ids(outcome.left_open_count, "left open on the exchange", outcome.left_open)
        )
    policy = "cancel" if outcome.cancel_open else "leave"
    return f"open at stop: {outcome.open_count} (on_stop = {policy}): " + (
        "; ".join(parts) or "no longer open"
    )


def read_line(read: ReadResult) -> str:
    line = f"signals: {read.lines} lines, {read.submitted} submitted, {read.rejected} rejected"
    if read.failure is not None:
        line += f"; reading failed: {read.failure}"
    elif read.interrupted:
        line += "; reading interrupted before the end of the input"
    return line


def _headroom(gateway: Any) -> str:
    """REST counter and per-pair trading counter headroom, from the gateway's health."""
    if not isinstance(gateway, dict):
        return ""
    parts = []
    level, maximum = gateway.get("rest_level"), gateway.get("rest_max")
    if isinstance(level, int | float) and isinstance(maximum, int | float):
        parts.append(f"REST {maximum - level:.1f}/{maximum:g}")
    for pair, headroom in sorted((gateway.get("trading_headroom") or {}).items()):
        parts.append(f"{pair} {headroom:.1f}")
    return ", ".join(parts)


def _errors(health: dict[str, Any]) -> dict[str, int]:
    errors = health.get("errors") or {}
    return dict(sorted((errors.get("by_category") or {}).items()))


def summary_text(summary: SummaryInput) -> str:
    """Orders by status and role, what became of the open orders, signals read, fills, fees,
    errors by category, rate-limit headroom, and where the journal and reports are."""
    stats = summary.stats
    title = f"gal-exec summary ({summary.elapsed:.1f} s"
    title += f", stopped on {summary.interrupted})" if summary.interrupted else ")"
    lines = [title, f"  {'status':<10}" + "".join(f"{role:>13}" for role in _ROLES)]
    for status in _STATUSES:
        counts = [stats.final_by_status_role.get(f"{status}/{role}", 0) for role in _ROLES]
        lines.append(f"  {status:<10}" + "".join(f"{count:>13}" for count in counts))
    lines.append("  " + stop_line(summary.outcome))
    if summary.read is not None:
        lines.append("  " + read_line(summary.read))
    fees = ", ".join(f"{total} {asset}" for asset, total in stats.fees.items()) or "none"
    lines.append(f"  fills: {stats.fills}   fees: {fees}   reports: {stats.reports}")
    errors = _errors(summary.health)
    lines.append("  errors: " + (", ".join(f"{k} {v}" for k, v in errors.items()) or "none"))
    headroom = _headroom(summary.health.get("gateway"))
    if headroom:
        lines.append(f"  rate-limit headroom: {headroom}")
    if stats.journal_errors:
        lines.append(f"  journal errors: {stats.journal_errors}")
    journal = summary.journal
    if journal != "off":
        journal += f" (gal-exec orders --journal {summary.journal})"
    lines.append(f"  journal: {journal}")
    lines.append(f"  reports: {summary.reports or 'not written to a file'}")
    return "\n".join(lines)


def summary_fields(summary: SummaryInput) -> dict[str, Any]:
    """The summary as JSON-ready fields (for the JSON log record)."""
    stats = summary.stats
    return {
        "elapsed_s": round(summary.elapsed, 3),
        "interrupted": summary.interrupted,
        "final_by_status_role": dict(stats.final_by_status_role),
        "at_stop": msgspec.to_builtins(summary.outcome),
        "signals": msgspec.to_builtins(summary.read) if summary.read is not None else None,
        "fills": stats.fills,
        "fees": dict(stats.fees),
        "reports": stats.reports,
        "errors": _errors(summary.health),
        "rate_limit_headroom": _headroom(summary.health.get("gateway")),
        "journal_errors": stats.journal_errors,
        "journal": summary.journal,
        "reports_path": summary.reports or None,
    }


def _orders(count: int) -> str:
    return f"{count} live order" + ("" if count == 1 else "s")


def waiting_line(
    records: Sequence[Any] | None, snapshot: Snapshot | None, *, clock_now: float
) -> str:
    """What --until-done is waiting for: the live orders (from the journal), oldest first."""
    if records is None:
        live = snapshot.live + snapshot.queued if snapshot is not None else 0
        return f"gal-exec: waiting for {_orders(live)}"
    if not records:
        return "gal-exec: waiting for the last reports"
    ordered = sorted(records, key=lambda record: record.created_at)
    shown = ", ".join(
        f"{record.cl_ord_id} {record.pair} {record.role} {record.order_type} {record.status}"
        for record in ordered[:3]
    )
    more = len(ordered) - 3
    oldest = max(0.0, clock_now - ordered[0].created_at)
    return (
        f"gal-exec: waiting for {_orders(len(ordered))}: {shown}"
        + (f" and {more} more" if more > 0 else "")
        + f" (oldest {oldest:.0f} s)"
    )
