"""The journal's side of a message broker: the inbox of received messages and the outbox cursors.

The inbox holds every message taken from a broker stream, raw, keyed by its stream entry id and
(for a signal or a batch) by its de-duplication key, committed before the broker is told the
message was received. The outbox cursor is the rowid of the last report published to a stream.
Schema version 2 (docs/journal.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from gal_exec.journal._store import Journal
from gal_exec.messages import ExecutionReport

__all__ = [
    "InboxEntry",
    "InboxRow",
    "JournaledReport",
    "OutboxCursor",
    "inbox_journaled",
    "inbox_mark_handed",
    "inbox_unsettled",
    "journal_epoch",
    "latest_control",
    "outbox_cursor",
    "record_inbox",
    "report_rowid_since",
    "reports_after",
    "set_journal_epoch",
    "set_outbox_cursor",
    "signals_settled",
    "unsent_entry_reports",
]

_report_decoder = msgspec.json.Decoder(ExecutionReport)

NEW = "new"
"""Journaled, not yet handed to the engine."""
HANDED = "handed"
"""Handed to the engine (told; the engine's own journal says what became of it)."""
DUPLICATE = "duplicate"
"""A second message with a key already journaled: never handed."""


class InboxEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One message as taken from the stream."""

    entry_id: str
    kind: str
    raw: bytes
    dedupe_key: str | None = None


class InboxRow(msgspec.Struct, frozen=True, kw_only=True):
    entry_id: str
    stream: str
    kind: str
    dedupe_key: str | None
    raw: bytes
    received_at: float
    status: str


class OutboxCursor(msgspec.Struct, frozen=True, kw_only=True):
    published_rowid: int = 0
    broker_run_id: str | None = None


class JournaledReport(msgspec.Struct, frozen=True, kw_only=True):
    rowid: int
    cl_ord_id: str
    sequence: int
    body: bytes


_INBOX_COLUMNS = "entry_id, stream, kind, dedupe_key, raw, received_at, status"


def record_inbox(
    journal: Journal, stream: str, entries: Sequence[InboxEntry], received_at: float
) -> list[str]:
    """Journal `entries` in one transaction; per entry: ``new``, ``duplicate`` (its key was
    journaled under another entry id) or ``known`` (this entry id was journaled before: a
    redelivery after a crash between the commit and the acknowledgement)."""
    outcomes: list[str] = []
    with journal.transaction():
        conn = journal._conn
        for entry in entries:
            if conn.execute("SELECT 1 FROM inbox WHERE entry_id = ?", (entry.entry_id,)).fetchone():
                outcomes.append("known")
                continue
            original = None
            if entry.dedupe_key is not None:
                row = conn.execute(
                    "SELECT entry_id FROM inbox WHERE dedupe_key = ?", (entry.dedupe_key,)
                ).fetchone()
                original = row[0] if row else None
            conn.execute(
                "INSERT INTO inbox (entry_id, stream, kind, dedupe_key, duplicate_of, raw, "
                "received_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.entry_id,
                    stream,
                    entry.kind,
                    entry.dedupe_key if original is None else None,
                    original,
                    bytes(entry.raw),
                    received_at,
                    NEW if original is None else DUPLICATE,
                ),
            )
            outcomes.append("new" if original is None else "duplicate")
    return outcomes


def inbox_mark_handed(journal: Journal, entry_ids: Iterable[str]) -> None:
    """Record that these entries were handed to the engine."""
    with journal.transaction():
        journal._conn.executemany(
            "UPDATE inbox SET status = ? WHERE entry_id = ? AND status = ?",
            [(HANDED, entry_id, NEW) for entry_id in entry_ids],
        )


def inbox_journaled(journal: Journal, entry_ids: Sequence[str]) -> set[str]:
    """Which of these entry ids are in the inbox."""
    found: set[str] = set()
    for start in range(0, len(entry_ids), 500):
        chunk = list(entry_ids[start : start + 500])
        marks = ", ".join("?" for _ in chunk)
        rows = journal._read(f"SELECT entry_id FROM inbox WHERE entry_id IN ({marks})", chunk)
        found.update(row[0] for row in rows)
    return found


def inbox_unsettled(journal: Journal) -> list[InboxRow]:
    """Entries that may not have reached the engine, in arrival order: every ``new`` one, and
    every handed signal or batch (the caller keeps those whose signals have no outcome)."""
    rows = journal._read(
        f"SELECT {_INBOX_COLUMNS} FROM inbox WHERE status = ? "
        "OR (status = ? AND dedupe_key IS NOT NULL) ORDER BY rowid",
        (NEW, HANDED),
    )
    return [
        InboxRow(
            entry_id=row[0],
            stream=row[1],
            kind=row[2],
            dedupe_key=row[3],
            raw=bytes(row[4]),
            received_at=row[5],
            status=row[6],
        )
        for row in rows
    ]


def signals_settled(journal: Journal, signal_ids: Iterable[str]) -> set[str]:
    """The signal ids the engine decided: an order was journaled for them, or a rejection was.

    A report alone is not enough: an order's first report may be journaled before its intent,
    and an order whose intent never committed was never sent.
    """
    wanted = list(dict.fromkeys(signal_ids))
    settled: set[str] = set()
    for start in range(0, len(wanted), 400):
        chunk = wanted[start : start + 400]
        marks = ", ".join("?" for _ in chunk)
        rows = journal._read(
            f"SELECT signal_id FROM orders WHERE signal_id IN ({marks}) "
            f"UNION SELECT signal_id FROM reports WHERE signal_id IN ({marks}) "
            "AND status = 'rejected'",
            chunk + chunk,
        )
        settled.update(row[0] for row in rows)
    return settled


def unsent_entry_reports(journal: Journal, before: float) -> list[ExecutionReport]:
    """The last report of each entry order reported before ``before`` whose intent never reached
    the journal and that did not end: the engine stopped between the two commits, so the order
    was never sent (its signal is placed again under a new cl_ord_id)."""
    rows = journal._read(
        "SELECT r.body FROM reports r "
        "JOIN (SELECT cl_ord_id, max(sequence) AS last FROM reports GROUP BY cl_ord_id) m "
        "ON m.cl_ord_id = r.cl_ord_id AND m.last = r.sequence "
        "WHERE r.engine_time < ? AND r.status NOT IN ('filled', 'canceled', 'expired', 'rejected') "
        "AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.cl_ord_id = r.cl_ord_id) "
        "ORDER BY r.rowid",
        (before,),
    )
    reports = [_report_decoder.decode(body) for (body,) in rows]
    return [report for report in reports if report.role == "entry"]


def latest_control(journal: Journal, kinds: Sequence[str]) -> InboxRow | None:
    """The newest handed or new inbox entry of one of `kinds` (e.g. the last Halt or Resume)."""
    marks = ", ".join("?" for _ in kinds)
    rows = journal._read(
        f"SELECT {_INBOX_COLUMNS} FROM inbox WHERE kind IN ({marks}) AND status != ? "
        "ORDER BY rowid DESC LIMIT 1",
        (*kinds, DUPLICATE),
    )
    if not rows:
        return None
    row = rows[0]
    return InboxRow(
        entry_id=row[0],
        stream=row[1],
        kind=row[2],
        dedupe_key=row[3],
        raw=bytes(row[4]),
        received_at=row[5],
        status=row[6],
    )


def outbox_cursor(journal: Journal, stream: str) -> OutboxCursor:
    rows = journal._read(
        "SELECT published_rowid, broker_run_id FROM outbox WHERE stream = ?", (stream,)
    )
    if not rows:
        return OutboxCursor()
    return OutboxCursor(published_rowid=rows[0][0], broker_run_id=rows[0][1])


def set_outbox_cursor(journal: Journal, stream: str, cursor: OutboxCursor) -> None:
    with journal.transaction():
        journal._conn.execute(
            "INSERT INTO outbox (stream, published_rowid, broker_run_id) VALUES (?, ?, ?) "
            "ON CONFLICT (stream) DO UPDATE SET published_rowid = excluded.published_rowid, "
            "broker_run_id = excluded.broker_run_id",
            (stream, cursor.published_rowid, cursor.broker_run_id),
        )


def reports_after(journal: Journal, rowid: int, limit: int) -> list[JournaledReport]:
    """Up to `limit` reports journaled after `rowid`, in the order they were journaled."""
    rows = journal._read(
        "SELECT rowid, cl_ord_id, sequence, body FROM reports WHERE rowid > ? "
        "ORDER BY rowid LIMIT ?",
        (rowid, limit),
    )
    return [
        JournaledReport(rowid=row[0], cl_ord_id=row[1], sequence=row[2], body=row[3].encode())
        for row in rows
    ]


def report_rowid_since(journal: Journal, engine_time: float) -> int:
    """The rowid just before the first report with ``engine_time`` at or after this time."""
    rows = journal._read("SELECT min(rowid) FROM reports WHERE engine_time >= ?", (engine_time,))
    first = rows[0][0] if rows else None
    if first is None:
        last = journal._read("SELECT max(rowid) FROM reports")
        return int(last[0][0] or 0)
    return int(first) - 1


def journal_epoch(journal: Journal) -> int | None:
    """The lease epoch whose owner writes this journal (None for a journal outside scale-out)."""
    rows = journal._read("SELECT value FROM meta WHERE key = 'lease_epoch'")
    return int(rows[0][0]) if rows else None


def set_journal_epoch(journal: Journal, epoch: int) -> None:
    with journal.transaction():
        journal._conn.execute(
            "INSERT INTO meta (key, value) VALUES ('lease_epoch', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(epoch),),
        )
