"""The journal's inbox and outbox cursor, and copying a journal whose owner is frozen holding it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gal_exec.journal import (
    InboxEntry,
    Journal,
    JournalError,
    OutboxCursor,
    copy_journal,
    inbox_mark_handed,
    inbox_unsettled,
    latest_control,
    outbox_cursor,
    record_inbox,
    reports_after,
    set_outbox_cursor,
    signals_settled,
)
from gal_exec.messages import ExecutionReport

pytestmark = pytest.mark.timeout(30)


def entry(entry_id: str, key: str | None, kind: str = "TradeSignalApproved") -> InboxEntry:
    return InboxEntry(entry_id=entry_id, kind=kind, raw=b"{}", dedupe_key=key)


def test_inbox_keeps_the_first_message_of_a_key_and_knows_a_redelivery(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite") as journal:
        first = record_inbox(journal, "s", [entry("1-0", "sig-1"), entry("1-1", "sig-2")], 1.0)
        assert first == ["new", "new"]
        again = record_inbox(
            journal,
            "s",
            [entry("2-0", "sig-1"), entry("1-1", "sig-2"), entry("2-1", None, "Halt")],
            2.0,
        )
        assert again == ["duplicate", "known", "new"]
        unsettled = inbox_unsettled(journal)
        assert [row.entry_id for row in unsettled] == ["1-0", "1-1", "2-1"]
        inbox_mark_handed(journal, ["1-0", "1-1", "2-1"])
        # Handed signals stay listed (their outcome is the engine's journal's to say); handed
        # control messages do not.
        assert [row.entry_id for row in inbox_unsettled(journal)] == ["1-0", "1-1"]
        last = latest_control(journal, ("Halt", "Resume"))
        assert last is not None and last.entry_id == "2-1" and last.status == "handed"


def test_signals_settled_by_an_order_or_a_report(tmp_path: Path) -> None:
    from journal_support import order  # tests/journal_support.py

    with Journal.open(tmp_path / "j.sqlite") as journal:
        journal.record_intent(order(cl_ord_id="c-1", signal_id="placed"))
        journal.apply_report(
            ExecutionReport(
                signal_id="refused", client_order_id="r-1", status="rejected", sequence=1
            )
        )
        assert signals_settled(journal, ["placed", "refused", "lost"]) == {"placed", "refused"}


def test_outbox_cursor_and_reports_in_journal_order(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite") as journal:
        for sequence in (1, 2, 3):
            journal.apply_report(
                ExecutionReport(signal_id="s", client_order_id="c", sequence=sequence)
            )
        assert outbox_cursor(journal, "r") == OutboxCursor()
        rows = reports_after(journal, 0, 2)
        assert [row.sequence for row in rows] == [1, 2]
        set_outbox_cursor(
            journal, "r", OutboxCursor(published_rowid=rows[-1].rowid, broker_run_id="x")
        )
        cursor = outbox_cursor(journal, "r")
        assert cursor.broker_run_id == "x"
        assert [row.sequence for row in reports_after(journal, cursor.published_rowid, 10)] == [3]


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from gal_exec.journal import Journal, InboxEntry, record_inbox
    journal = Journal.open(sys.argv[1])
    record_inbox(journal, "s", [InboxEntry(entry_id="1-0", kind="Halt", raw=b"{}")], 1.0)
    journal._conn.execute("BEGIN IMMEDIATE")
    journal._conn.execute(
        "INSERT INTO inbox (entry_id, stream, kind, raw, received_at, status) "
        "VALUES ('9-9', 's', 'Halt', x'', 2.0, 'new')"
    )
    print("holding", flush=True)
    time.sleep(60)
    """
)


def test_copy_of_a_journal_whose_owner_is_frozen_mid_transaction(tmp_path: Path) -> None:
    """A SIGSTOPped owner keeps its flock, so its file cannot be opened read-write; the copy
    reads the last committed state without the lock."""
    source = tmp_path / "epoch-000001.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(source)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        os.kill(holder.pid, signal.SIGSTOP)
        with pytest.raises(JournalError, match="locked by another engine"):
            Journal.open(source)
        target = tmp_path / "epoch-000002.sqlite"
        copy_journal(source, target)
        with Journal.open(target) as copy:
            assert [row.entry_id for row in inbox_unsettled(copy)] == ["1-0"]  # not the 9-9
        with pytest.raises(JournalError, match="exists already"):
            copy_journal(source, target)
    finally:
        holder.kill()
        holder.wait(timeout=10)
