"""`JournalWriter`: the one thread that writes the journal, committing queued operations together.

Group commit: everything queued while the previous commit ran goes into the next transaction, so
one commit (one fsync with ``synchronous=full``) serves many callers. A batch first runs as one
plain transaction; if an operation fails, all of it is rolled back and the batch runs again with
each operation in its own savepoint, so the failing one is rolled back and told by ``on_error``
while the rest commit. An operation must therefore do journal work only: it may run twice (the
first time rolled back) before it commits once.
``on_durable`` runs only after the commit, so it must be quick (tell an actor; never block or
wait on the writer from it).

``submit(..., eager=True)`` is for the write-ahead of a placement, on the path of a signal: when
no batch is being committed, the caller commits its operation itself and its callback runs in
the calling thread at once, saving the hand-over to the writer thread and back (two thread
wake-ups); when one is, the operation goes first in the next batch, unless operations were
queued before it: everything commits in the order submitted. One thread commits at a time,
whichever it is. Each operation is durable before its callback, whatever batch holds it, and
callbacks run in the order the operations were submitted.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from gal_exec.journal._checkpoint import DEFAULT_INTERVAL_S, Checkpointer
from gal_exec.journal._schema import JournalError
from gal_exec.journal._store import Journal

__all__ = ["BatchAborted", "JournalWriter"]

log = logging.getLogger("gal_exec.journal")

Operation = Callable[[Journal], Any]


class _Redo(Exception):
    """An operation of a flat batch failed: roll it all back and run it with savepoints."""


class _Item(NamedTuple):
    op: Operation
    on_durable: Callable[[Any], None] | None
    on_error: Callable[[Exception], None] | None


class BatchAborted(JournalError):
    """SQLite ended a batch's transaction by itself (I/O error, disk full...): nothing committed."""


class JournalWriter:
    """The single writer of a `Journal`: `submit` from any thread, callbacks after commit."""

    def __init__(
        self,
        journal: Journal,
        *,
        max_batch: int = 1000,
        checkpoint_interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.journal = journal
        self.max_batch = max_batch
        self.checkpoint_interval_s = checkpoint_interval_s
        self.batches = 0
        """Transactions committed (or attempted) so far."""
        self.operations = 0
        """Operations run so far."""
        self.eager = 0
        """Operations committed in their caller's thread (``submit(..., eager=True)``)."""
        self.redone = 0
        """Batches run again, a savepoint per operation, after one of their operations failed."""
        self._queue: deque[_Item] = deque()
        self._urgent: deque[_Item] = deque()  # eager operations that found the writer busy
        self._cond = threading.Condition()
        self._submitted = 0
        self._finished = 0
        self._stopping = False
        self._busy = False  # a batch is being committed (by the writer thread or an eager caller)
        self._thread: threading.Thread | None = None
        self.checkpointer: Checkpointer | None = None
        """Checkpoints the WAL off the commits' path while the writer runs (journal/_checkpoint)."""

    def start(self) -> None:
        """Start the writer thread; operations submitted earlier run in its first batch."""
        with self._cond:
            if self._thread is not None:
                raise RuntimeError("journal writer already started")
            if self._stopping:
                raise RuntimeError("journal writer is stopped")
            if not self.journal.read_only and not self.journal.closed:
                self.journal.automatic_checkpoints(False)
                self.checkpointer = Checkpointer(
                    self.journal.path, interval_s=self.checkpoint_interval_s
                )
                self.checkpointer.start()
            self._thread = threading.Thread(
                target=self._run, name="gal_exec-journal-writer", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Refuse new work, commit everything queued, and join the thread."""
        with self._cond:
            self._stopping = True
            thread = self._thread
            self._cond.notify_all()
        if thread is None:
            self._drain()
        elif thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"journal writer did not stop within {timeout} s")
        checkpointer, self.checkpointer = self.checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()
            if not self.journal.closed:
                self.journal.automatic_checkpoints(True)

    def __enter__(self) -> JournalWriter:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def submit(
        self,
        op: Operation,
        *,
        on_durable: Callable[[Any], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        eager: bool = False,
    ) -> None:
        """Queue ``op(journal)``; ``on_durable(result)`` once committed, else ``on_error(exc)``.

        ``op`` may run twice, the first run rolled back (see the module): journal work only.

        ``eager``: commit it in the calling thread now if the writer is idle (see the module)."""
        item = _Item(op, on_durable, on_error)
        with self._cond:
            if self._stopping:
                raise RuntimeError("journal writer is stopped")
            self._submitted += 1
            if self._busy or self._thread is None or not eager or self._queue or self._urgent:
                # In the order submitted: an eager operation that finds nothing queued waits for
                # the batch being committed only and goes first in the next; it never overtakes
                # one queued before it (a later order's birth would reach the wire first).
                (self._urgent if eager and not self._queue else self._queue).append(item)
                self._cond.notify_all()
                return
            self._busy = True
            self.eager += 1
        try:
            self._process([item])
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is committed (or failed); False on timeout."""
        self._refuse_on_writer_thread("flush")
        with self._cond:
            target = self._submitted
            return self._cond.wait_for(lambda: self._finished >= target, timeout)

    def call(self, op: Operation, timeout: float | None = 10.0) -> Any:
        """Run `op` through the writer and return its result once durable (or raise its error).

        For startup and recovery code. On TimeoutError the operation may still commit later.
        """
        self._refuse_on_writer_thread("call")
        done = threading.Event()
        outcome: list[Any] = []

        def durable(result: Any) -> None:
            outcome.append((True, result))
            done.set()

        def failed(exc: Exception) -> None:
            outcome.append((False, exc))
            done.set()

        self.submit(op, on_durable=durable, on_error=failed)
        if not done.wait(timeout):
            raise TimeoutError(f"journal operation not durable within {timeout} s")
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    def _refuse_on_writer_thread(self, what: str) -> None:
        if self._thread is threading.current_thread():
            raise RuntimeError(f"{what}() from a journal callback would wait on itself")

    # -- the writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: not self._busy and (self._queue or self._urgent or self._stopping)
                )
                if not (self._queue or self._urgent):
                    return
                batch = self._take()
            self._process_owned(batch)

    def _drain(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: not self._busy)
                if not (self._queue or self._urgent):
                    return
                batch = self._take()
            self._process_owned(batch)

    def _take(self) -> list[_Item]:
        """The next batch; the caller holds the condition and commits it (``_busy``)."""
        self._busy = True
        batch = [self._urgent.popleft() for _ in range(min(len(self._urgent), self.max_batch))]
        count = min(len(self._queue), self.max_batch - len(batch))
        return batch + [self._queue.popleft() for _ in range(count)]

    def _process_owned(self, batch: list[_Item]) -> None:
        try:
            self._process(batch)
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _process(self, batch: list[_Item]) -> None:
        try:
            outcomes = self._commit(batch)
        except Exception as exc:  # BEGIN or COMMIT failed: nothing of the batch is durable
            log.error("journal batch of %d operations not committed: %s", len(batch), exc)
            outcomes = [(item, False, exc) for item in batch]
        for item, ok, value in outcomes:
            callback = item.on_durable if ok else item.on_error
            if callback is None:
                if not ok:
                    log.error("journal operation %r failed: %s", item.op, value)
                continue
            try:
                callback(value)
            except Exception:
                log.exception("journal callback %r raised", callback)
        with self._cond:
            self._finished += len(batch)
            self._cond.notify_all()

    def _commit(self, batch: list[_Item]) -> list[tuple[_Item, bool, Any]]:
        journal = self.journal
        outcomes: list[tuple[_Item, bool, Any]] = []
        self.batches += 1
        if len(batch) == 1:
            # Alone in its transaction: no savepoint, not even inside the operation (statements
            # fewer on the path of an eager write); its failure, or the commit's, is its own.
            (item,) = batch
            self.operations += 1
            try:
                with journal.transaction(flat=True):
                    result = item.op(journal)
            except Exception as exc:
                return [(item, False, exc)]
            return [(item, True, result)]
        self.operations += len(batch)
        flat = self._commit_flat(batch)
        if flat is not None:
            return flat
        # An operation failed and the whole transaction was rolled back: run the batch again,
        # each operation in a savepoint of its own (none inside it), so it fails alone.
        self.redone += 1
        with journal.transaction():
            for item in batch:
                try:
                    with journal.transaction(flat=True):
                        outcomes.append((item, True, item.op(journal)))
                except Exception as exc:
                    outcomes.append((item, False, exc))
                if not journal.in_transaction():
                    # SQLite rolled the whole batch back; none of it may be called durable.
                    raise BatchAborted(f"transaction aborted by {outcomes[-1][2]!r}")
        return outcomes

    def _commit_flat(self, batch: list[_Item]) -> list[tuple[_Item, bool, Any]] | None:
        """The batch in one transaction without a savepoint; None if an operation failed
        (everything of it rolled back). Savepoints were two statements per operation, each a
        release and re-acquisition of the interpreter's lock; operations rarely fail."""
        journal = self.journal
        results: list[Any] = []
        try:
            with journal.transaction(flat=True):
                for item in batch:
                    try:
                        results.append(item.op(journal))
                    except Exception as exc:
                        if not journal.in_transaction():
                            raise BatchAborted(f"transaction aborted by {exc!r}") from exc
                        raise _Redo from exc
                    if not journal.in_transaction():
                        # SQLite ended the transaction under it: what follows would run in
                        # autocommit. None of the batch may be called durable.
                        raise BatchAborted(f"transaction aborted by {item.op!r}")
        except _Redo:
            return None
        return [(item, True, result) for item, result in zip(batch, results, strict=True)]
