"""The journal writer: group commit, durability before on_durable, savepoint isolation, kill-safety."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from journal_support import order, outside

from gal_exec.journal import BatchAborted, DuplicateOrderError, Journal, JournalError, JournalWriter

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite"


@pytest.fixture
def journal(path: Path):
    with Journal.open(path) as opened:
        yield opened


def committed_ids(path: Path) -> set[str]:
    conn = outside(path)
    try:
        return {row[0] for row in conn.execute("SELECT cl_ord_id FROM orders")}
    finally:
        conn.close()


def intent(cl_ord_id: str):
    record = order(cl_ord_id)
    return lambda journal: journal.record_intent(record)


class Recorder:
    """Collects callbacks; each on_durable checks, on a second connection, that the row is there."""

    def __init__(self, path: Path, expected: int) -> None:
        self.conn = outside(path)
        self.durable: list[str] = []
        self.invisible: list[str] = []
        self.errors: list[tuple[str, Exception]] = []
        self.lock = threading.Lock()
        self.expected = expected
        self.done = threading.Event()

    def on_durable(self, cl_ord_id: str):
        def callback(_result: object) -> None:
            found = self.conn.execute(
                "SELECT 1 FROM orders WHERE cl_ord_id = ?", (cl_ord_id,)
            ).fetchone()
            with self.lock:
                self.durable.append(cl_ord_id)
                if found is None:
                    self.invisible.append(cl_ord_id)
                self._tick()

        return callback

    def on_error(self, cl_ord_id: str):
        def callback(exc: Exception) -> None:
            with self.lock:
                self.errors.append((cl_ord_id, exc))
                self._tick()

        return callback

    def _tick(self) -> None:
        if len(self.durable) + len(self.errors) == self.expected:
            self.done.set()


def test_ops_queued_together_commit_in_one_batch(path: Path, journal: Journal) -> None:
    writer = JournalWriter(journal)
    recorder = Recorder(path, expected=50)
    for index in range(50):
        cl_ord_id = f"c-{index}"
        writer.submit(intent(cl_ord_id), on_durable=recorder.on_durable(cl_ord_id))
    assert committed_ids(path) == set()
    writer.start()
    try:
        assert recorder.done.wait(10)
    finally:
        writer.stop()
    assert writer.batches == 1 and writer.operations == 50
    assert recorder.durable == [f"c-{index}" for index in range(50)]
    assert recorder.invisible == []


def test_many_threads_every_op_durable_before_its_callback(path: Path, journal: Journal) -> None:
    threads, per_thread = 4, 150
    recorder = Recorder(path, expected=threads * per_thread)
    with JournalWriter(journal) as writer:
        start = threading.Barrier(threads)

        def produce(thread: int) -> None:
            start.wait()
            for index in range(per_thread):
                cl_ord_id = f"t{thread}-{index}"
                writer.submit(
                    intent(cl_ord_id),
                    on_durable=recorder.on_durable(cl_ord_id),
                    on_error=recorder.on_error(cl_ord_id),
                )

        producers = [threading.Thread(target=produce, args=(t,)) for t in range(threads)]
        for producer in producers:
            producer.start()
        for producer in producers:
            producer.join(10)
        assert recorder.done.wait(20)
    assert recorder.errors == [] and recorder.invisible == []
    assert len(set(recorder.durable)) == threads * per_thread
    assert committed_ids(path) == set(recorder.durable)
    assert writer.batches <= writer.operations == threads * per_thread


def test_an_eager_op_on_an_idle_writer_commits_in_the_caller_before_submit_returns(
    path: Path, journal: Journal
) -> None:
    recorder = Recorder(path, expected=1)
    threads: list[threading.Thread] = []
    with JournalWriter(journal) as writer:

        def durable(result: object) -> None:
            threads.append(threading.current_thread())
            recorder.on_durable("c-eager")(result)

        writer.submit(intent("c-eager"), on_durable=durable, eager=True)
        # durable (visible to another connection) before submit returned, in this thread
        assert recorder.durable == ["c-eager"] and recorder.invisible == []
        assert threads == [threading.current_thread()]
        assert writer.flush(5)


def test_eager_ops_join_the_queue_while_the_writer_is_busy(path: Path, journal: Journal) -> None:
    """One committer at a time: while a batch commits, an eager op is queued, and it is
    durable before its callback, as any other."""
    inside, release = threading.Event(), threading.Event()

    def slow(journal: Journal) -> None:
        journal.record_intent(order("c-slow"))
        inside.set()
        assert release.wait(10)

    threads: list[threading.Thread] = []
    recorder = Recorder(path, expected=2)
    with JournalWriter(journal) as writer:
        writer.submit(slow, on_durable=recorder.on_durable("c-slow"))
        assert inside.wait(10)

        def durable(result: object) -> None:
            threads.append(threading.current_thread())
            recorder.on_durable("c-eager")(result)

        writer.submit(intent("c-eager"), on_durable=durable, eager=True)
        assert recorder.durable == []  # queued behind the batch being committed
        release.set()
        assert recorder.done.wait(10)
    assert recorder.durable == ["c-slow", "c-eager"] and recorder.invisible == []
    assert threads and threads[0] is not threading.current_thread()
    assert committed_ids(path) == {"c-slow", "c-eager"}


def test_an_eager_op_never_overtakes_one_queued_before_it(path: Path, journal: Journal) -> None:
    """Births commit (and their callbacks run, telling the gateway) in the order submitted: an
    eager op submitted while others wait goes behind them, not first in the next batch."""
    inside, release = threading.Event(), threading.Event()

    def slow(journal: Journal) -> None:
        journal.record_intent(order("c-slow"))
        inside.set()
        assert release.wait(10)

    recorder = Recorder(path, expected=5)
    with JournalWriter(journal) as writer:
        writer.submit(slow, on_durable=recorder.on_durable("c-slow"))
        assert inside.wait(10)
        writer.submit(intent("c-1"), on_durable=recorder.on_durable("c-1"))
        writer.submit(intent("c-2"), on_durable=recorder.on_durable("c-2"), eager=True)
        writer.submit(intent("c-3"), on_durable=recorder.on_durable("c-3"))
        writer.submit(intent("c-4"), on_durable=recorder.on_durable("c-4"), eager=True)
        release.set()
        assert recorder.done.wait(10)
    assert recorder.durable == ["c-slow", "c-1", "c-2", "c-3", "c-4"]


def test_eager_and_queued_ops_from_many_threads_all_commit_once(
    path: Path, journal: Journal
) -> None:
    threads, per_thread = 4, 100
    recorder = Recorder(path, expected=threads * per_thread)
    with JournalWriter(journal) as writer:
        start = threading.Barrier(threads)

        def produce(thread: int) -> None:
            start.wait()
            for index in range(per_thread):
                cl_ord_id = f"t{thread}-{index}"
                writer.submit(
                    intent(cl_ord_id),
                    on_durable=recorder.on_durable(cl_ord_id),
                    on_error=recorder.on_error(cl_ord_id),
                    eager=index % 2 == 0,
                )

        producers = [threading.Thread(target=produce, args=(t,)) for t in range(threads)]
        for producer in producers:
            producer.start()
        for producer in producers:
            producer.join(10)
        assert recorder.done.wait(20)
        assert writer.flush(5)
    assert recorder.errors == [] and recorder.invisible == []
    assert committed_ids(path) == set(recorder.durable)
    assert len(recorder.durable) == threads * per_thread


def test_an_op_alone_in_its_commit_takes_no_savepoint_and_fails_whole(
    path: Path, journal: Journal
) -> None:
    """A single operation's transaction is flat: no SAVEPOINT, even where the operation opens
    transactions of its own, and a failure after some of its writes leaves none of them."""
    statements: list[str] = []
    journal._conn.set_trace_callback(statements.append)
    recorder = Recorder(path, expected=2)

    def two_then_fail(journal: Journal) -> None:
        journal.record_intent(order("half-1"))
        journal.record_intent(order("half-2"))
        raise ValueError("bad op")

    with JournalWriter(journal) as writer:
        writer.submit(intent("alone"), on_durable=recorder.on_durable("alone"), eager=True)
        writer.submit(
            two_then_fail,
            on_durable=recorder.on_durable("failed"),
            on_error=recorder.on_error("failed"),
            eager=True,
        )
        assert recorder.done.wait(10)
    journal._conn.set_trace_callback(None)
    assert recorder.durable == ["alone"] and recorder.invisible == []
    assert [name for name, _ in recorder.errors] == ["failed"]
    assert committed_ids(path) == {"alone"}
    assert not [s for s in statements if s.startswith(("SAVEPOINT", "RELEASE"))]


def test_a_batch_takes_no_savepoint_when_every_op_succeeds(path: Path, journal: Journal) -> None:
    statements: list[str] = []
    journal._conn.set_trace_callback(statements.append)
    writer = JournalWriter(journal)
    recorder = Recorder(path, expected=3)
    for name in ("a", "b", "c"):
        writer.submit(intent(name), on_durable=recorder.on_durable(name))
    writer.start()
    assert recorder.done.wait(10)
    writer.stop()
    journal._conn.set_trace_callback(None)
    assert writer.batches == 1 and writer.redone == 0
    assert recorder.durable == ["a", "b", "c"]
    assert not [s for s in statements if s.startswith(("SAVEPOINT", "RELEASE"))]
    assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]


def test_a_batch_with_a_failing_op_runs_again_and_that_op_fails_alone(
    path: Path, journal: Journal
) -> None:
    """The batch runs flat first; the failure rolls all of it back, and the batch runs again
    with each op in one savepoint (none inside, though each opens transactions of its own):
    the failing op is rolled back whole, alone, and each callback is told once."""
    statements: list[str] = []
    journal._conn.set_trace_callback(statements.append)
    writer = JournalWriter(journal)
    recorder = Recorder(path, expected=3)

    def two_then_fail(journal: Journal) -> None:
        journal.record_intent(order("half-1"))
        journal.record_intent(order("half-2"))
        raise ValueError("bad op")

    writer.submit(intent("a"), on_durable=recorder.on_durable("a"))
    writer.submit(
        two_then_fail, on_durable=recorder.on_durable("b"), on_error=recorder.on_error("b")
    )
    writer.submit(intent("c"), on_durable=recorder.on_durable("c"))
    writer.start()
    assert recorder.done.wait(10)
    writer.stop()
    journal._conn.set_trace_callback(None)
    assert writer.batches == 1 and writer.redone == 1
    assert recorder.durable == ["a", "c"] and [name for name, _ in recorder.errors] == ["b"]
    assert committed_ids(path) == {"a", "c"}
    assert len([s for s in statements if s.startswith("SAVEPOINT")]) == 3
    assert statements.count("ROLLBACK") == 1  # the flat attempt


def test_a_failing_op_is_rolled_back_alone(path: Path, journal: Journal) -> None:
    writer = JournalWriter(journal)
    recorder = Recorder(path, expected=4)

    def half_then_fail(journal: Journal) -> None:
        journal.record_intent(order("half"))
        raise ValueError("bad op")

    writer.submit(intent("a"), on_durable=recorder.on_durable("a"))
    writer.submit(
        half_then_fail, on_durable=recorder.on_durable("b"), on_error=recorder.on_error("b")
    )
    writer.submit(
        intent("a"), on_durable=recorder.on_durable("dup"), on_error=recorder.on_error("dup")
    )
    writer.submit(intent("c"), on_durable=recorder.on_durable("c"))
    writer.start()
    assert recorder.done.wait(10)
    writer.stop()
    assert writer.batches == 1
    assert recorder.durable == ["a", "c"] and recorder.invisible == []
    assert [(name, type(exc)) for name, exc in recorder.errors] == [
        ("b", ValueError),
        ("dup", DuplicateOrderError),
    ]
    assert committed_ids(path) == {"a", "c"}


def test_failing_op_without_on_error_is_logged(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(_journal: Journal) -> None:
        raise ValueError("nobody listens")

    with (
        caplog.at_level(logging.ERROR, logger="gal_exec.journal"),
        JournalWriter(journal) as writer,
    ):
        writer.submit(fail)
        assert writer.flush(10)
    assert "nobody listens" in caplog.text


def test_failed_commit_reports_every_op_as_error(path: Path, journal: Journal, monkeypatch) -> None:
    real_commit = journal._commit
    failures = iter([sqlite3.OperationalError("disk I/O error")])

    def commit_once_failing() -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        real_commit()

    monkeypatch.setattr(journal, "_commit", commit_once_failing)
    writer = JournalWriter(journal)
    recorder = Recorder(path, expected=3)
    for name in ("a", "b", "c"):
        writer.submit(
            intent(name), on_durable=recorder.on_durable(name), on_error=recorder.on_error(name)
        )
    writer.start()
    try:
        assert recorder.done.wait(10)
        assert recorder.durable == []
        assert [str(exc) for _, exc in recorder.errors] == ["disk I/O error"] * 3
        assert committed_ids(path) == set()
        assert writer.call(intent("d")) is None  # the next batch commits normally
        assert committed_ids(path) == {"d"}
    finally:
        writer.stop()


def test_op_that_ends_the_transaction_aborts_the_whole_batch(path: Path, journal: Journal) -> None:
    def sabotage(journal: Journal) -> None:
        journal._conn.execute("ROLLBACK")  # stands in for SQLite aborting on I/O error

    writer = JournalWriter(journal)
    recorder = Recorder(path, expected=3)
    writer.submit(intent("a"), on_durable=recorder.on_durable("a"), on_error=recorder.on_error("a"))
    writer.submit(sabotage, on_durable=recorder.on_durable("s"), on_error=recorder.on_error("s"))
    writer.submit(intent("c"), on_durable=recorder.on_durable("c"), on_error=recorder.on_error("c"))
    writer.start()
    try:
        assert recorder.done.wait(10)
    finally:
        writer.stop()
    assert recorder.durable == []
    assert [name for name, _ in recorder.errors] == ["a", "s", "c"]
    assert all(isinstance(exc, BatchAborted) for _, exc in recorder.errors)
    assert committed_ids(path) == set()


def test_call_returns_result_or_raises(journal: Journal) -> None:
    with JournalWriter(journal) as writer:
        assert writer.call(lambda j: j.record_signal("s-1", b"{}", 1.0)) is True
        assert writer.call(lambda j: j.record_signal("s-1", b"{}", 1.0)) is False
        writer.call(intent("a"))
        with pytest.raises(DuplicateOrderError):
            writer.call(intent("a"))


def test_flush_waits_for_durability_and_times_out(path: Path, journal: Journal) -> None:
    release = threading.Event()
    entered = threading.Event()

    def slow(journal: Journal) -> None:
        entered.set()
        assert release.wait(10)
        journal.record_intent(order("slow"))

    with JournalWriter(journal) as writer:
        writer.submit(slow)
        assert entered.wait(10)
        writer.submit(intent("after"))
        assert writer.flush(timeout=0.05) is False
        release.set()
        assert writer.flush(timeout=10) is True
        assert committed_ids(path) == {"slow", "after"}


def test_callbacks_must_not_wait_on_the_writer(journal: Journal) -> None:
    seen: list[Exception] = []
    with JournalWriter(journal) as writer:

        def reenter(_result: object) -> None:
            for attempt in (lambda: writer.flush(1), lambda: writer.call(intent("x"), 1)):
                try:
                    attempt()
                except RuntimeError as exc:
                    seen.append(exc)

        writer.submit(intent("a"), on_durable=reenter)
        assert writer.flush(10)
    assert [str(exc) for exc in seen] == [
        "flush() from a journal callback would wait on itself",
        "call() from a journal callback would wait on itself",
    ]


def test_stop_drains_and_then_refuses(path: Path, journal: Journal) -> None:
    writer = JournalWriter(journal, max_batch=7)
    writer.start()
    for index in range(40):
        writer.submit(intent(f"c-{index}"))
    writer.stop()
    assert committed_ids(path) == {f"c-{index}" for index in range(40)}
    with pytest.raises(RuntimeError, match="stopped"):
        writer.submit(intent("late"))


def test_stop_without_start_drains_inline(path: Path, journal: Journal) -> None:
    writer = JournalWriter(journal)
    writer.submit(intent("a"))
    writer.stop()
    assert committed_ids(path) == {"a"}


def test_a_read_only_journal_fails_every_op(path: Path, journal: Journal) -> None:
    journal.close()
    with Journal.open(path, read_only=True) as reader, JournalWriter(reader) as writer:
        with pytest.raises(JournalError, match="read-only"):
            writer.call(intent("a"))


# -- kill-safety ------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys, threading
    from decimal import Decimal
    from gal_exec.journal import Journal, JournalWriter, OrderRecord

    journal = Journal.open(sys.argv[1], synchronous=sys.argv[2])
    writer = JournalWriter(journal)
    writer.start()
    out_lock = threading.Lock()
    in_flight = threading.BoundedSemaphore(64)

    def acknowledge(cl_ord_id):
        def on_durable(_result):
            with out_lock:
                sys.stdout.write(cl_ord_id + "\\n")
                sys.stdout.flush()
            in_flight.release()
        return on_durable

    def produce(thread):
        for index in range(1_000_000):
            in_flight.acquire()
            record = OrderRecord(
                cl_ord_id=f"k{thread}-{index}", signal_id=f"s{thread}", pair="XBT/USD",
                side="buy", order_type="limit", quantity=Decimal("0.01"),
                limit_price=Decimal("30000"),
            )
            writer.submit(lambda j, r=record: j.record_intent(r),
                          on_durable=acknowledge(record.cl_ord_id))

    print("ready", flush=True)
    producers = [threading.Thread(target=produce, args=(t,)) for t in range(3)]
    for producer in producers:
        producer.start()
    for producer in producers:
        producer.join()
    """
)


@pytest.mark.parametrize(
    ("acks_before_kill", "synchronous"), [(1, "normal"), (300, "normal"), (40, "full")]
)
def test_sigkill_loses_nothing_acknowledged(
    tmp_path: Path, acks_before_kill: int, synchronous: str
) -> None:
    path = tmp_path / "journal.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), synchronous],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    acknowledged: list[str] = []
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        with pytest.raises(JournalError, match=f"locked by another engine \\(pid {child.pid}\\)"):
            Journal.open(path)
        while len(acknowledged) < acks_before_kill:
            line = child.stdout.readline()
            assert line, "child exited before it was killed"
            acknowledged.append(line.strip())
        os.kill(child.pid, signal.SIGKILL)
        acknowledged.extend(line.strip() for line in child.stdout)  # acked before it died
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    with Journal.open(path) as journal:  # the dead owner's lock is gone; WAL recovered
        stored = {record.cl_ord_id for record in journal.orders()}
    assert len(acknowledged) >= acks_before_kill
    assert set(acknowledged) <= stored


def test_while_the_writer_runs_the_wal_is_checkpointed_off_the_commits_path(
    path: Path, journal: Journal
) -> None:
    """No commit copies the WAL into the database (SQLite's automatic checkpoint, several ms
    in the commit that crosses it); the writer's Checkpointer does, on its own connection."""

    def autocheckpoint() -> int:
        return journal._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]

    assert autocheckpoint() == 1000
    writer = JournalWriter(journal, checkpoint_interval_s=3600.0)  # only run_once, here
    writer.start()
    try:
        assert autocheckpoint() == 0 and writer.checkpointer is not None
        checkpointer = writer.checkpointer
        size = path.stat().st_size
        for index in range(1500):  # one commit each: thousands of WAL frames
            writer.call(intent(f"c-{index}"))
        grown_by_commits = path.stat().st_size - size
        assert checkpointer.run_once()
        assert path.stat().st_size > size + grown_by_commits  # the rows reached the database
    finally:
        writer.stop()
    assert autocheckpoint() == 1000 and writer.checkpointer is None
    assert checkpointer.failures == 0


def test_a_failing_checkpoint_is_logged_once_and_changes_nothing_committed(
    tmp_path: Path, caplog
) -> None:
    from gal_exec.journal._checkpoint import Checkpointer

    missing = tmp_path / "no-such-folder" / "journal.sqlite"
    checkpointer = Checkpointer(missing)
    with caplog.at_level(logging.WARNING, logger="gal_exec.journal"):
        assert not checkpointer.run_once()
        assert not checkpointer.run_once()
    assert checkpointer.failures == 2
    assert len([r for r in caplog.records if "checkpoint" in r.getMessage()]) == 1
    checkpointer.stop()
