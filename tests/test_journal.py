"""The journal store: schema and migrations, refusals that touch nothing, and the typed API."""

from __future__ import annotations

import os
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from journal_support import fingerprint, order, outside, report

from gal_exec.core.clock import ManualClock
from gal_exec.journal import (
    MIGRATIONS,
    SCHEMA_VERSION,
    DuplicateOrderError,
    FillRecord,
    Journal,
    JournalError,
    Migration,
    UnknownOrderError,
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "journal.sqlite"


@pytest.fixture
def journal(path: Path):
    with Journal.open(path, clock=ManualClock(1_700_000_100.0)) as opened:
        yield opened


def make_journal(path: Path) -> None:
    with Journal.open(path) as journal:
        journal.record_signal("s-1", b'{"signal_id":"s-1"}', 1.0)
        journal.record_intent(order())


def set_version(path: Path, version: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    conn.commit()
    conn.close()


# -- schema, versions, migrations -------------------------------------------------------------


def test_open_creates_folder_tables_meta_and_wal(path: Path) -> None:
    with Journal.open(path) as journal:
        assert journal.schema_version == SCHEMA_VERSION == 2
        assert journal._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        conn = outside(path)
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert {
            "meta",
            "signals",
            "orders",
            "fills",
            "reports",
            "events",
            "inbox",
            "outbox",
        } <= tables
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        assert meta == {"schema_version": "2", "application": "gal_exec journal"}
        conn.close()


def test_synchronous_full_on_request_and_bad_value_refused(path: Path) -> None:
    with Journal.open(path, synchronous="full") as journal:
        assert journal._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with pytest.raises(ValueError, match="synchronous"):
        Journal.open(path, synchronous="off")  # type: ignore[arg-type]


def test_reopen_keeps_data_and_migrates_nothing(path: Path) -> None:
    make_journal(path)
    with Journal.open(path) as journal:
        assert journal.signal_seen("s-1")
        assert journal.order("c-1") == order(updated_at=1_700_000_000.0)
        assert [event.kind for event in journal.events()] == ["signal", "intent"]


def test_empty_database_is_version_0_and_migrated(path: Path) -> None:
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE scratch (x)")
    conn.execute("DROP TABLE scratch")
    conn.commit()
    conn.close()
    with Journal.open(path) as journal:
        assert journal.schema_version == SCHEMA_VERSION
        journal.record_intent(order())


def test_zero_byte_file_becomes_a_journal(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.touch()
    with Journal.open(path) as journal:
        assert journal.schema_version == SCHEMA_VERSION
    assert path.read_bytes().startswith(b"SQLite format 3\x00")


def test_meta_at_version_0_is_migrated(path: Path) -> None:
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO meta VALUES ('schema_version', '0')")
    conn.commit()
    conn.close()
    with Journal.open(path) as journal:
        assert journal.schema_version == SCHEMA_VERSION
        assert journal.orders() == []


def test_pending_migrations_run_in_order(path: Path) -> None:
    make_journal(path)
    later = (
        *MIGRATIONS,
        Migration(3, "notes", ("CREATE TABLE notes (text TEXT)",)),
        Migration(4, "first note", ("INSERT INTO notes VALUES ('needs version 3')",)),
    )
    with Journal.open(path, migrations=later) as journal:
        assert journal.schema_version == 4
        assert journal._conn.execute("SELECT text FROM notes").fetchall() == [("needs version 3",)]
        assert journal.order("c-1") is not None
    conn = outside(path)
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("4",)
    conn.close()


def test_failed_migration_rolls_back_every_step(path: Path) -> None:
    make_journal(path)
    broken = (
        *MIGRATIONS,
        Migration(3, "notes", ("CREATE TABLE notes (text TEXT)",)),
        Migration(4, "broken step", ("INSERT INTO missing_table VALUES (1)",)),
    )
    with pytest.raises(JournalError) as caught:
        Journal.open(path, migrations=broken)
    message = str(caught.value)
    assert str(path) in message and "schema version 4 (broken step)" in message
    assert "\n" not in message
    conn = outside(path)
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("2",)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'notes'").fetchall() == []
    conn.close()
    with Journal.open(path) as journal:  # the lock was released on failure
        assert journal.schema_version == SCHEMA_VERSION


def test_migrations_must_be_numbered_without_gaps(path: Path) -> None:
    with pytest.raises(ValueError, match="numbered"):
        Journal.open(path, migrations=(*MIGRATIONS, Migration(4, "gap", ())))


@pytest.mark.parametrize("read_only", [False, True])
def test_newer_schema_refused_and_file_untouched(path: Path, read_only: bool) -> None:
    make_journal(path)
    set_version(path, 7)
    before = fingerprint(path)
    with pytest.raises(JournalError) as caught:
        Journal.open(path, read_only=read_only)
    message = str(caught.value)
    assert message.startswith(f"{path}: schema version 7 is newer")
    assert "\n" not in message
    assert fingerprint(path) == before


@pytest.mark.parametrize("read_only", [False, True])
def test_garbage_file_refused_and_untouched(path: Path, read_only: bool) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database at all\n" * 40)
    before = fingerprint(path)
    with pytest.raises(JournalError, match="not a SQLite database") as caught:
        Journal.open(path, read_only=read_only)
    assert str(caught.value).startswith(str(path))
    assert fingerprint(path) == before


def test_malformed_database_refused_and_untouched(path: Path) -> None:
    with Journal.open(path) as journal, journal.transaction():
        for index in range(400):
            journal.record_intent(order(f"c-{index}", reason="x" * 200))
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 8 * page
    data[3 * page : 6 * page] = b"\xa5" * (3 * page)  # trash b-tree pages, keep the header
    path.write_bytes(bytes(data))
    before = fingerprint(path)
    with pytest.raises(JournalError, match="corrupt") as caught:
        Journal.open(path)
    assert str(caught.value).startswith(str(path))
    assert fingerprint(path) == before


def test_foreign_database_refused(path: Path) -> None:
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (name TEXT)")
    conn.commit()
    conn.close()
    before = fingerprint(path)
    with pytest.raises(JournalError, match=r"not a gal_exec journal \(tables: customers\)"):
        Journal.open(path)
    assert fingerprint(path) == before


# -- ownership and read-only ------------------------------------------------------------------


def test_second_writer_refused_while_first_holds(path: Path) -> None:
    first = Journal.open(path)
    try:
        with pytest.raises(JournalError) as caught:
            Journal.open(path)
        message = str(caught.value)
        assert (
            message
            == f"{path}: locked by another engine (pid {os.getpid()}); one engine per journal"
        )
    finally:
        first.close()
    with Journal.open(path) as second:
        assert second.schema_version == SCHEMA_VERSION


def test_read_only_open_while_writer_holds(path: Path, journal: Journal) -> None:
    journal.record_intent(order())
    with Journal.open(path, read_only=True) as reader:
        assert reader.read_only
        assert [o.cl_ord_id for o in reader.live_orders()] == ["c-1"]
        with pytest.raises(JournalError, match="read-only"):
            reader.record_intent(order("c-2"))
        journal.record_intent(order("c-3"))
        assert [o.cl_ord_id for o in reader.orders()] == ["c-1", "c-3"]
    assert journal.order("c-2") is None


def test_read_only_of_missing_journal_creates_nothing(path: Path) -> None:
    with pytest.raises(JournalError, match="no such journal"):
        Journal.open(path, read_only=True)
    assert not path.parent.exists()


def test_read_only_of_old_schema_asks_for_migration(path: Path) -> None:
    make_journal(path)
    set_version(path, 0)
    before = fingerprint(path)
    with pytest.raises(JournalError, match="older than 2; start the engine once to migrate"):
        Journal.open(path, read_only=True)
    assert fingerprint(path) == before


def test_closed_journal_refuses_use(path: Path) -> None:
    journal = Journal.open(path)
    journal.close()
    journal.close()
    assert journal.closed
    with pytest.raises(JournalError, match="closed"):
        journal.orders()


# -- signals and intents ----------------------------------------------------------------------


def test_signals_are_idempotent(journal: Journal) -> None:
    assert journal.record_signal("s-1", b'{"a":1}', 10.0) is True
    assert journal.record_signal("s-1", b'{"a":2}', 11.0) is False
    assert journal.signal_seen("s-1") and not journal.signal_seen("s-2")
    stored = journal.signal("s-1")
    assert stored is not None and (stored.raw, stored.received_at) == (b'{"a":1}', 10.0)
    journal.set_signal_outcome("s-1", "placed")
    assert [s.signal_id for s in journal.signals(outcome="placed")] == ["s-1"]
    assert [e.kind for e in journal.events()] == ["signal", "duplicate_signal"]
    with pytest.raises(JournalError, match="no signal"):
        journal.set_signal_outcome("s-9", "placed")


def test_an_order_born_for_a_settled_signal_opens_it_again(journal: Journal) -> None:
    """A restart replays what is not settled; a child born after its signal was settled (fills
    learned late) must be replayed, so its birth takes the signal back."""
    journal.record_birth(order("entry"), report("entry"), signal=(b"{}", 1.0))
    journal.apply_report(report("entry", 2, status="canceled"))
    journal.settle_signal("s-1")
    assert journal.replay_set()[0] == []
    child = order("child", parent_cl_ord_id="entry", role="stop_loss", order_type="stop-loss")
    journal.record_birth(child, report("child", status="pending_submit"))
    orders, _reports, _seen = journal.replay_set()
    assert [o.cl_ord_id for o in orders] == ["entry", "child"]


@pytest.mark.parametrize(
    ("record", "first", "with_signal"),
    [
        (order("b-1"), report("b-1", status="pending_submit"), True),
        (
            order("b-2", limit_price=None, order_type="market"),
            report("b-2", status="rejected", reason="risk: over the cap", order_type="market"),
            True,
        ),
        (
            order("b-3", role="stop_loss", parent_cl_ord_id="p-1", order_type="stop-loss",
                  limit_price=None, trigger_price=Decimal("29000.5"), quantity=Decimal("0")),
            report("b-3", status="pending_submit", quantity=Decimal("0.25"),
                   trigger_price=Decimal("29000.5")),
            False,
        ),
    ],
)  # fmt: skip
def test_a_birth_writes_what_signal_intent_and_first_report_would(
    tmp_path: Path, record, first, with_signal: bool
) -> None:
    """record_birth takes few statements (it is on the path of every placement); its rows are
    those of record_signal, record_intent and apply_report in one transaction."""
    clock = ManualClock(1_700_000_100.0)
    signal = (b'{"signal_id":"s-1"}', 1_700_000_000.5) if with_signal else None
    with Journal.open(tmp_path / "birth.sqlite", clock=clock) as born:
        born.record_birth(record, first, signal=signal)
        rows = _birth_rows(born)
    with Journal.open(tmp_path / "steps.sqlite", clock=clock) as stepped:
        with stepped.transaction():
            if signal is not None:
                stepped.record_signal(record.signal_id, signal[0], signal[1])
            stepped.record_intent(record)
            stepped.apply_report(first)
        assert _birth_rows(stepped) == rows


def _birth_rows(journal: Journal) -> tuple:
    return (
        journal.orders(),
        journal.reports(journal.orders()[0].cl_ord_id),
        journal.signals(),
        [(e.kind, e.cl_ord_id, e.signal_id, e.detail) for e in journal.events()],
    )


def test_intent_round_trips_exact_decimals(journal: Journal) -> None:
    intent = order(
        quantity=Decimal("0.00000001"),
        limit_price=Decimal("12345.678901234567890123"),
        sl_price=Decimal("1E+1"),
        post_only=True,
        expire_at=1_700_000_500.0,
        timeout_s=30.0,
    )
    journal.record_intent(intent)
    stored = journal.order("c-1")
    assert stored is not None
    assert stored.limit_price == Decimal("12345.678901234567890123")
    assert str(stored.limit_price) == "12345.678901234567890123"
    assert stored.quantity == Decimal("0.00000001") and stored.sl_price == Decimal("10")
    assert stored.post_only is True and stored.sent is False
    assert stored.status == "pending_submit" and stored.updated_at == intent.created_at


@pytest.fixture(scope="module")
def shared_journal(tmp_path_factory: pytest.TempPathFactory):
    with Journal.open(tmp_path_factory.mktemp("shared") / "journal.sqlite") as opened:
        yield opened


finite_decimals = st.decimals(allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(quantity=finite_decimals, price=st.none() | finite_decimals, fee=finite_decimals)
def test_any_decimal_round_trips_exactly(
    shared_journal: Journal, quantity: Decimal, price: Decimal | None, fee: Decimal
) -> None:
    cl_ord_id = f"h-{len(shared_journal.orders())}"
    shared_journal.record_intent(order(cl_ord_id, quantity=quantity, limit_price=price, fee=fee))
    stored = shared_journal.order(cl_ord_id)
    assert stored is not None
    assert (str(stored.quantity), str(stored.limit_price), str(stored.fee)) == (
        str(quantity),
        str(price),
        str(fee),
    )


def test_intent_without_times_takes_the_clock(journal: Journal) -> None:
    journal.record_intent(order(created_at=0.0))
    stored = journal.order("c-1")
    assert stored is not None and stored.created_at == stored.updated_at == 1_700_000_100.0


def test_duplicate_intent_refused_and_original_kept(journal: Journal) -> None:
    journal.record_intent(order())
    with pytest.raises(DuplicateOrderError, match="'c-1' is already journaled"):
        journal.record_intent(order(quantity=Decimal(9)))
    stored = journal.order("c-1")
    assert stored is not None and stored.quantity == Decimal("0.5")


def test_float_money_refused(journal: Journal) -> None:
    with pytest.raises(TypeError, match="quantity must be a Decimal"):
        journal.record_intent(order(quantity=0.5))  # type: ignore[arg-type]
    journal.record_intent(order())
    with pytest.raises(TypeError, match="limit_price"):
        journal.update_order("c-1", limit_price=1.5)
    assert journal.orders()[0].limit_price == Decimal("30000.1")


def test_mark_sent_and_update_order(journal: Journal) -> None:
    journal.record_intent(order())
    journal.mark_sent("c-1")
    journal.update_order("c-1", deadline_at=1_700_000_300.0, txid="OABC-1")
    stored = journal.order("c-1")
    assert stored is not None and stored.sent is True
    assert (stored.deadline_at, stored.txid) == (1_700_000_300.0, "OABC-1")
    assert stored.updated_at == 1_700_000_100.0
    kinds = [(e.kind, e.detail) for e in journal.events(cl_ord_id="c-1")]
    assert kinds == [
        ("intent", "entry buy 0.5 XBT/USD limit"),
        ("sent", "sent"),
        ("update", "deadline_at, txid"),
    ]
    with pytest.raises(UnknownOrderError, match="no order 'c-9'"):
        journal.mark_sent("c-9")
    with pytest.raises(ValueError, match="cannot set colour"):
        journal.update_order("c-1", colour="red")
    with pytest.raises(ValueError, match="cannot set cl_ord_id"):
        journal.update_order("c-1", cl_ord_id="c-2")


def test_queries_by_signal_parent_and_sequence(journal: Journal) -> None:
    journal.record_intent(order("e-1"))
    journal.record_intent(order("sl-1", role="stop_loss", parent_cl_ord_id="e-1"))
    journal.record_intent(order("tp-1", role="take_profit", parent_cl_ord_id="e-1"))
    journal.record_intent(order("e-2", signal_id="s-2"))
    assert [o.cl_ord_id for o in journal.children("e-1")] == ["sl-1", "tp-1"]
    assert [o.cl_ord_id for o in journal.orders(signal_id="s-1")] == ["e-1", "sl-1", "tp-1"]
    assert journal.last_sequence("e-1") is None
    journal.apply_report(report("e-1", sequence=4))
    assert journal.last_sequence("e-1") == 4
    assert journal.last_sequence("nope") is None


# -- reports and fills ------------------------------------------------------------------------


def test_report_updates_order_and_is_idempotent(journal: Journal) -> None:
    journal.record_intent(order())
    filled = report(
        status="partially_filled",
        exchange_order_id="OABC-1",
        filled_quantity=Decimal("0.2"),
        last_fill_quantity=Decimal("0.2"),
        last_fill_price=Decimal("30000.1"),
        average_price=Decimal("30000.1"),
        fee=Decimal("0.05"),
        fee_asset="USD",
        trade_id="T-1",
        exchange_time=1_700_000_050.5,
    )
    assert journal.apply_report(filled) is True
    assert journal.apply_report(filled) is False
    stored = journal.order("c-1")
    assert stored is not None
    assert (stored.status, stored.txid, stored.last_sequence) == ("partially_filled", "OABC-1", 1)
    assert (stored.filled_quantity, stored.average_price) == (Decimal("0.2"), Decimal("30000.1"))
    assert (stored.fee, stored.fee_asset, stored.updated_at) == (
        Decimal("0.05"),
        "USD",
        filled.engine_time,
    )
    assert journal.reports("c-1") == [filled]
    assert journal.fills("c-1") == [
        FillRecord(
            cl_ord_id="c-1",
            trade_id="T-1",
            quantity=Decimal("0.2"),
            price=Decimal("30000.1"),
            fee=Decimal("0.05"),
            fee_asset="USD",
            time=1_700_000_050.5,
        )
    ]


def test_same_trade_in_two_reports_is_one_fill_with_fee_increments(journal: Journal) -> None:
    journal.record_intent(order())
    trade = dict(
        last_fill_quantity=Decimal("0.2"), last_fill_price=Decimal("30000"), fee_asset="USD"
    )
    journal.apply_report(report(sequence=1, trade_id="T-1", fee=Decimal("0.05"), **trade))
    journal.apply_report(report(sequence=2, trade_id="T-1", fee=Decimal("0.05"), **trade))
    journal.apply_report(report(sequence=3, trade_id="T-2", fee=Decimal("0.12"), **trade))
    fills = journal.fills("c-1")
    assert [(f.trade_id, f.fee) for f in fills] == [
        ("T-1", Decimal("0.05")),
        ("T-2", Decimal("0.07")),
    ]
    assert len(journal.reports("c-1")) == 3


def test_report_without_trade_records_no_fill(journal: Journal) -> None:
    journal.record_intent(order())
    journal.apply_report(report(status="open", trade_id=None, last_fill_quantity=None))
    journal.apply_report(report(sequence=2, trade_id="T-1", last_fill_quantity=Decimal(0)))
    assert journal.fills("c-1") == []


def test_older_report_is_kept_but_does_not_roll_back(journal: Journal) -> None:
    journal.record_intent(order())
    journal.apply_report(report(sequence=3, status="canceled", reason="timeout"))
    late = report(
        sequence=2,
        status="partially_filled",
        filled_quantity=Decimal("0.1"),
        last_fill_quantity=Decimal("0.1"),
        last_fill_price=Decimal("30000"),
        trade_id="T-9",
        fee=Decimal("0.01"),
    )
    assert journal.apply_report(late) is True
    stored = journal.order("c-1")
    assert stored is not None
    assert (stored.status, stored.reason, stored.last_sequence) == ("canceled", "timeout", 3)
    assert [r.sequence for r in journal.reports("c-1")] == [2, 3]
    assert [(f.trade_id, f.fee) for f in journal.fills("c-1")] == [("T-9", None)]
    assert journal.events(cl_ord_id="c-1")[-1].kind == "stale_report"


def test_report_for_unknown_order_is_kept(journal: Journal) -> None:
    assert journal.apply_report(report("ghost", status="rejected", reason="bad pair")) is True
    assert journal.order("ghost") is None
    assert [r.reason for r in journal.reports("ghost")] == ["bad pair"]
    assert journal.events()[-1].kind == "orphan_report"


def test_status_change_is_audited(journal: Journal) -> None:
    journal.record_intent(order())
    journal.apply_report(report(sequence=1, status="open"))
    journal.apply_report(report(sequence=2, status="open"))
    journal.apply_report(report(sequence=3, status="canceled", reason="timeout"))
    statuses = [e.detail for e in journal.events(cl_ord_id="c-1") if e.kind == "status"]
    assert statuses == ["pending_submit -> open", "open -> canceled: timeout"]


@pytest.mark.parametrize(
    ("status", "live"),
    [
        ("submitted", True),
        ("submit_unknown", True),
        ("open", True),
        ("partially_filled", True),
        ("pending_cancel", True),
        ("filled", False),
        ("canceled", False),
        ("expired", False),
        ("rejected", False),
    ],
)
def test_live_orders_follow_reports(journal: Journal, status: str, live: bool) -> None:
    journal.record_intent(order("c-1"))
    journal.record_intent(order("c-2"))
    journal.apply_report(report("c-1", status=status))
    assert [o.cl_ord_id for o in journal.live_orders()] == (["c-1", "c-2"] if live else ["c-2"])
    assert journal.order("c-1").is_terminal is (not live)  # type: ignore[union-attr]
    assert len(journal.orders()) == 2


def test_record_fill_directly_is_idempotent(journal: Journal) -> None:
    fill = FillRecord(
        cl_ord_id="c-1", trade_id="T-5", quantity=Decimal("0.3"), price=Decimal("1"), synthetic=True
    )
    assert journal.record_fill(fill) is True
    assert journal.record_fill(fill) is False
    assert journal.fills("c-1") == [fill]


def test_explicit_transaction_is_all_or_nothing(path: Path, journal: Journal) -> None:
    with pytest.raises(RuntimeError), journal.transaction():
        journal.record_intent(order("c-1"))
        journal.record_intent(order("c-2"))
        raise RuntimeError("abandon")
    assert journal.orders() == []
    with journal.transaction():
        journal.record_intent(order("c-1"))
        with pytest.raises(DuplicateOrderError):
            journal.record_intent(order("c-1"))  # its savepoint rolls back alone
        journal.record_intent(order("c-2"))
    conn = outside(path)
    assert conn.execute("SELECT cl_ord_id FROM orders ORDER BY rowid").fetchall() == [
        ("c-1",),
        ("c-2",),
    ]
    conn.close()


# -- every failure is one line -----------------------------------------------------------------


def test_a_journal_error_is_one_line_whatever_its_parts_hold() -> None:
    error = JournalError(
        "x.sqlite: database is corrupt (*** in database main ***\nPage 5: bad\n\n)"
    )
    assert str(error) == "x.sqlite: database is corrupt (*** in database main *** Page 5: bad )"
    assert "\n" not in str(UnknownOrderError("a\r\nb\tc"))


def test_a_corrupt_journal_with_several_problems_is_one_line(path: Path) -> None:
    with Journal.open(path) as journal, journal.transaction():
        for index in range(400):
            journal.record_intent(order(f"c-{index}", reason="x" * 200))
    data = bytearray(path.read_bytes())
    page = 4096
    for start in (3, 6, 9):  # damaged page headers: SQLite reports them on several lines
        data[start * page : start * page + 8] = b"\x0d\x00\x00\x00\x00\xff\xff\x00"
    path.write_bytes(bytes(data))
    for read_only in (False, True):
        with pytest.raises(JournalError) as caught:
            Journal.open(path, read_only=read_only)
        message = str(caught.value)
        assert "\n" not in message and message.startswith(f"{path}: database is corrupt (")
        assert "*** in database main *** Page " in message  # several lines, joined


@pytest.mark.parametrize("read_only", [False, True])
@pytest.mark.parametrize("table", ["fills", "reports", "meta"])
def test_a_journal_missing_a_table_is_refused_in_one_line(
    path: Path, read_only: bool, table: str
) -> None:
    make_journal(path)
    conn = sqlite3.connect(path)
    if table == "meta":
        # without meta the file is no journal at all: a foreign database
        conn.execute("DROP TABLE meta")
    else:
        conn.execute(f"DROP TABLE {table}")
    conn.commit()
    conn.close()
    before = fingerprint(path)
    with pytest.raises(JournalError) as caught:
        Journal.open(path, read_only=read_only)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    if table != "meta":
        assert f"damaged journal: table {table} missing" in message
    assert fingerprint(path) == before


@pytest.mark.parametrize("read_only", [False, True])
def test_a_path_the_system_refuses_is_one_line(tmp_path: Path, read_only: bool) -> None:
    unusable = tmp_path / ("x" * 300) / "journal.sqlite"
    with pytest.raises(JournalError) as caught:
        Journal.open(unusable, read_only=read_only)
    assert str(caught.value) == f"{unusable}: cannot open the journal: File name too long"


@pytest.mark.skipif(os.geteuid() == 0, reason="root enters any folder")
def test_a_folder_the_user_cannot_enter_is_one_line(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        with pytest.raises(JournalError) as caught:
            Journal.open(locked / "journal.sqlite")
    finally:
        locked.chmod(0o755)
    assert str(caught.value).endswith("Permission denied")
