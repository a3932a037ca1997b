"""The read side of `Journal`: typed queries over orders, fills, reports, signals and events."""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from gal_exec.core.text import excerpt
from gal_exec.journal import _records as rec
from gal_exec.journal._records import (
    TERMINAL_STATUSES,
    EventRecord,
    FillRecord,
    OrderRecord,
    SignalRecord,
)
from gal_exec.journal._schema import READ_FAILURES, JournalError, describe_sqlite_error
from gal_exec.messages import ExecutionReport

__all__ = ["JournalReads"]

_Method = TypeVar("_Method", bound=Callable[..., Any])
# What a damaged file yields on reading: SQLite's own errors, text that is not UTF-8, and rows
# whose contents no longer decode (a report body, a decimal, a column of the wrong type).
_DAMAGE = (msgspec.DecodeError, ArithmeticError, ValueError, TypeError)

_report_decoder = msgspec.json.Decoder(ExecutionReport)
_TERMINAL_SQL = "(" + ", ".join(f"'{status}'" for status in sorted(TERMINAL_STATUSES)) + ")"
_ORDER_SELECT = f"SELECT {', '.join(rec.ORDER_COLUMNS)} FROM orders"
_FILL_SELECT = f"SELECT {', '.join(rec.FILL_COLUMNS)} FROM fills"


class JournalReads:
    """Queries shared by read-write and read-only journals; all take the journal's lock."""

    path: Path
    _conn: sqlite3.Connection
    _lock: threading.RLock

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        with self._lock:
            if self._conn is None:
                raise JournalError(f"{self.path}: journal is closed")
            return self._conn.execute(sql, params).fetchall()

    def order(self, cl_ord_id: str) -> OrderRecord | None:
        """The order with this cl_ord_id, or None."""
        rows = self._read(f"{_ORDER_SELECT} WHERE cl_ord_id = ?", (cl_ord_id,))
        return rec.order_from_row(rows[0]) if rows else None

    def orders(self, *, open_only: bool = False, signal_id: str | None = None) -> list[OrderRecord]:
        """Orders in the order they were journaled; only live ones with `open_only`."""
        clauses, params = [], []
        if open_only:
            clauses.append(f"status NOT IN {_TERMINAL_SQL}")
        if signal_id is not None:
            clauses.append("signal_id = ?")
            params.append(signal_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._read(f"{_ORDER_SELECT}{where} ORDER BY rowid", params)
        return [rec.order_from_row(row) for row in rows]

    def live_orders(self) -> list[OrderRecord]:
        """Orders not yet filled, canceled, expired or rejected: what recovery must follow."""
        return self.orders(open_only=True)

    def children(self, parent_cl_ord_id: str) -> list[OrderRecord]:
        """The stop-loss / take-profit orders of a parent order."""
        rows = self._read(
            f"{_ORDER_SELECT} WHERE parent_cl_ord_id = ? ORDER BY rowid", (parent_cl_ord_id,)
        )
        return [rec.order_from_row(row) for row in rows]

    def fills(self, cl_ord_id: str) -> list[FillRecord]:
        """The order's fills in the order they were journaled."""
        rows = self._read(f"{_FILL_SELECT} WHERE cl_ord_id = ? ORDER BY id", (cl_ord_id,))
        return [rec.fill_from_row(row) for row in rows]

    def reports(self, cl_ord_id: str) -> list[ExecutionReport]:
        """The order's reports, by sequence."""
        rows = self._read(
            "SELECT body FROM reports WHERE cl_ord_id = ? ORDER BY sequence", (cl_ord_id,)
        )
        return [_report_decoder.decode(body) for (body,) in rows]

    def rejected_reports(self, *, signal_id: str | None = None) -> list[ExecutionReport]:
        """Rejections of signals that never became an order (a bad line, a failed check, a
        duplicate, a halt): rejected reports with no order row, in the order journaled."""
        where = "" if signal_id is None else " AND signal_id = ?"
        rows = self._read(
            "SELECT body FROM reports WHERE status = 'rejected' AND cl_ord_id NOT IN "
            f"(SELECT cl_ord_id FROM orders){where} ORDER BY rowid",
            () if signal_id is None else (signal_id,),
        )
        return [_report_decoder.decode(body) for (body,) in rows]

    def undelivered_reports(self) -> list[ExecutionReport]:
        """Reports journaled after the last one marked delivered (``mark_delivered``), in the
        order they were journaled: what a crash kept from the reports file and callbacks."""
        marker = self._read("SELECT value FROM meta WHERE key = 'delivered_rowid'")
        after = int(marker[0][0]) if marker else 0
        rows = self._read("SELECT body FROM reports WHERE rowid > ? ORDER BY rowid", (after,))
        return [_report_decoder.decode(body) for (body,) in rows]

    def fill_reports(self) -> list[ExecutionReport]:
        """Every report that announced a fill, of every order, in the order they were journaled
        (the engine's positions are rebuilt from them at start)."""
        rows = self._read(
            "SELECT body FROM reports WHERE body NOT LIKE '%\"last_fill_quantity\":null%' "
            "ORDER BY rowid"
        )
        reports = [_report_decoder.decode(body) for (body,) in rows]
        return [report for report in reports if report.last_fill_quantity]

    def replay_set(self) -> tuple[list[OrderRecord], list[ExecutionReport], list[str]]:
        """What a restart replays: every order of a signal not yet settled, their reports in the
        order they were journaled, and the id of every signal that ever had an order (a repeat
        of one is a duplicate). A settled signal (all its orders finished, its protection done)
        is skipped, so a restart costs what is still open, not the whole history."""
        unsettled = "signal_id NOT IN (SELECT signal_id FROM signals WHERE outcome = 'settled')"
        orders = [
            rec.order_from_row(row)
            for row in self._read(f"{_ORDER_SELECT} WHERE {unsettled} ORDER BY rowid")
        ]
        rows = self._read(
            "SELECT r.body FROM reports r JOIN orders o ON o.cl_ord_id = r.cl_ord_id "
            f"WHERE o.{unsettled} ORDER BY r.rowid"
        )
        reports = [_report_decoder.decode(body) for (body,) in rows]
        seen = [signal_id for (signal_id,) in self._read("SELECT DISTINCT signal_id FROM orders")]
        return orders, reports, seen

    def last_sequence(self, cl_ord_id: str) -> int | None:
        """The sequence of the last report applied to the order; None if none (or no order)."""
        rows = self._read("SELECT last_sequence FROM orders WHERE cl_ord_id = ?", (cl_ord_id,))
        return rows[0][0] if rows else None

    def signal_seen(self, signal_id: str) -> bool:
        """True if this signal_id was journaled before."""
        return bool(self._read("SELECT 1 FROM signals WHERE signal_id = ?", (signal_id,)))

    def signal(self, signal_id: str) -> SignalRecord | None:
        """The journaled signal, or None."""
        rows = self._read(
            f"SELECT {', '.join(rec.SIGNAL_COLUMNS)} FROM signals WHERE signal_id = ?",
            (signal_id,),
        )
        return rec.signal_from_row(rows[0]) if rows else None

    def signals(self, *, outcome: str | None = None) -> list[SignalRecord]:
        """Journaled signals in arrival order, optionally only those with `outcome`."""
        where, params = ("WHERE outcome = ?", (outcome,)) if outcome is not None else ("", ())
        rows = self._read(
            f"SELECT {', '.join(rec.SIGNAL_COLUMNS)} FROM signals {where} ORDER BY rowid", params
        )
        return [rec.signal_from_row(row) for row in rows]

    def events(self, *, cl_ord_id: str | None = None) -> list[EventRecord]:
        """The audit trail, oldest first; only one order's with `cl_ord_id`."""
        where, params = ("WHERE cl_ord_id = ?", (cl_ord_id,)) if cl_ord_id else ("", ())
        rows = self._read(
            f"SELECT {', '.join(rec.EVENT_COLUMNS)} FROM events {where} ORDER BY id", params
        )
        return [rec.event_from_row(row) for row in rows]


def _guarded(method: _Method) -> _Method:
    """A read whose every failure is one JournalError naming the file: a damaged journal is
    said so in one line wherever it is read (recovery, ``gal-exec orders``)."""

    @functools.wraps(method)
    def read(self: JournalReads, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except JournalError:
            raise
        except READ_FAILURES as exc:
            raise describe_sqlite_error(self.path, exc) from None
        except _DAMAGE as exc:
            raise JournalError(
                f"{self.path}: damaged journal: a row cannot be read "
                f"({exc.__class__.__name__}: {excerpt(exc, 120)})"
            ) from None

    return read  # type: ignore[return-value]


for _name, _method in list(vars(JournalReads).items()):
    if not _name.startswith("_") and callable(_method):
        setattr(JournalReads, _name, _guarded(_method))
