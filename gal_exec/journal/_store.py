"""`Journal`: the durable record of signals, order intents, reports and fills in one SQLite file.

WAL mode; ``synchronous=normal`` survives a killed process (a commit is in the WAL before the
call returns), ``full`` also survives power loss at the price of an fsync per commit. One engine
owns a journal at a time: an ``flock`` on ``<path>.lock`` (released by the kernel when the
owner dies, so a SIGKILLed engine never leaves a stale lock).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import msgspec

from gal_exec.core.clock import Clock, SystemClock
from gal_exec.journal import _records as rec
from gal_exec.journal._checkpoint import automatic_checkpoints
from gal_exec.journal._open import open_read_only, open_writable, release_lock
from gal_exec.journal._reads import JournalReads
from gal_exec.journal._records import FillRecord, OrderRecord
from gal_exec.journal._schema import (
    MIGRATIONS,
    DuplicateOrderError,
    JournalError,
    Migration,
    UnknownOrderError,
)
from gal_exec.messages import ExecutionReport, encode

__all__ = ["Journal"]

Synchronous = Literal["normal", "full"]

_INSERT_ORDER = (
    f"INSERT INTO orders ({', '.join(rec.ORDER_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in rec.ORDER_COLUMNS)})"
)
_INSERT_FILL = (
    f"INSERT OR IGNORE INTO fills ({', '.join(rec.FILL_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in rec.FILL_COLUMNS)})"
)


class Journal(JournalReads):
    """A journal file opened by `Journal.open`; thread-safe (one connection behind a lock).

    Write methods run in their own transaction, or as a savepoint of the caller's
    `transaction()` (that is how `JournalWriter` commits many operations at once).
    """

    def __init__(
        self,
        path: Path,
        conn: sqlite3.Connection,
        *,
        read_only: bool,
        synchronous: Synchronous,
        lock_fd: int | None,
        clock: Clock,
        schema_version: int,
    ) -> None:
        self.path = path
        self.read_only = read_only
        self.synchronous = synchronous
        self.schema_version = schema_version
        self._conn = conn
        self._lock_fd = lock_fd
        self._clock = clock
        self._lock = threading.RLock()
        self._depth = 0
        self._flat = False  # inside a flat transaction (see transaction)

    # -- opening and closing ------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "normal",
        read_only: bool = False,
        clock: Clock | None = None,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> Journal:
        """Open (creating and migrating if needed) the journal at `path` and own it.

        ``read_only`` opens without the ownership lock and never writes the database (for
        ``gal-exec orders`` while an engine runs). A corrupt, foreign, locked or newer file raises
        a one-line JournalError and is left exactly as it was. ``migrations`` is for tests.
        """
        path = Path(path)
        try:
            if read_only:
                conn, version = open_read_only(path, migrations)
                lock_fd = None
                synchronous = "normal"
            else:
                conn, lock_fd, version = open_writable(path, synchronous, migrations)
        except OSError as exc:  # a folder we may not enter, a path that is not a directory...
            raise JournalError(f"{path}: cannot open the journal: {exc.strerror or exc}") from None
        return cls(
            path,
            conn,
            read_only=read_only,
            synchronous=synchronous,
            lock_fd=lock_fd,
            clock=clock or SystemClock(),
            schema_version=version,
        )

    def close(self) -> None:
        """Close the connection and give up ownership; safe to call twice."""
        with self._lock:
            if self._conn is None:
                return
            self._conn.close()
            self._conn = None  # type: ignore[assignment]
            if self._lock_fd is not None:
                release_lock(self._lock_fd)
                self._lock_fd = None

    def automatic_checkpoints(self, on: bool) -> None:
        """Let SQLite checkpoint the WAL inside the commit that fills it (the default), or not
        (a JournalWriter's Checkpointer does it on a thread of its own meanwhile)."""
        with self._lock:
            automatic_checkpoints(self._writable(), on)

    @property
    def closed(self) -> bool:
        """True after `close`."""
        return self._conn is None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self, *, flat: bool = False) -> Iterator[None]:
        """Run the block atomically: a transaction, or a savepoint when already inside one.

        ``flat``: blocks nested in this one take no savepoints. For a block that is one
        operation (the journal writer's unit: a commit of its own, or a savepoint in a batch):
        any failure in it rolls all of it back, so a nested savepoint would cost two statements
        and change nothing."""
        with self._lock:
            conn = self._writable()
            if self._depth == 0:
                conn.execute("BEGIN IMMEDIATE")
                self._depth = 1
                self._flat = flat
                try:
                    yield
                    self._commit()
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                finally:
                    self._depth = 0
                    self._flat = False
                return
            if self._flat:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            name = f"op{self._depth}"
            conn.execute(f"SAVEPOINT {name}")
            self._depth += 1
            self._flat = flat
            try:
                yield
            except BaseException:
                if conn.in_transaction:
                    conn.execute(f"ROLLBACK TO {name}")
                    conn.execute(f"RELEASE {name}")
                raise
            else:
                conn.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1
                self._flat = False

    def in_transaction(self) -> bool:
        """True while SQLite has a transaction open on this connection."""
        return self._conn is not None and self._conn.in_transaction

    def _commit(self) -> None:
        self._conn.execute("COMMIT")

    def _writable(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalError(f"{self.path}: journal is closed")
        if self.read_only:
            raise JournalError(f"{self.path}: journal is open read-only")
        return self._conn

    def _event(
        self, kind: str, detail: str, *, cl_ord_id: str | None = None, signal_id: str | None = None
    ) -> None:
        self._conn.execute(
            "INSERT INTO events (time, kind, cl_ord_id, signal_id, detail) VALUES (?, ?, ?, ?, ?)",
            (self._clock.time(), kind, cl_ord_id, signal_id, detail),
        )

    # -- writes -------------------------------------------------------------------------------

    def record_signal(
        self, signal_id: str, raw: bytes, received_at: float, *, outcome: str | None = "accepted"
    ) -> bool:
        """Journal an incoming signal; False if its signal_id was seen before (do not place it)."""
        with self.transaction():
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO signals (signal_id, raw, received_at, outcome) "
                "VALUES (?, ?, ?, ?)",
                (signal_id, bytes(raw), received_at, outcome),
            )
            fresh = cursor.rowcount == 1
            self._event("signal" if fresh else "duplicate_signal", "", signal_id=signal_id)
            return fresh

    def set_signal_outcome(self, signal_id: str, outcome: str) -> None:
        """Record what became of a signal (e.g. ``placed``, ``rejected: <reason>``)."""
        with self.transaction():
            cursor = self._conn.execute(
                "UPDATE signals SET outcome = ? WHERE signal_id = ?", (outcome, signal_id)
            )
            if cursor.rowcount == 0:
                raise JournalError(f"{self.path}: no signal {signal_id!r}")

    def record_intent(self, order: OrderRecord) -> None:
        """Insert an order before its request leaves; DuplicateOrderError if the id exists."""
        now = self._clock.time()
        created = order.created_at or now
        order = msgspec.structs.replace(
            order, created_at=created, updated_at=order.updated_at or created
        )
        with self.transaction():
            try:
                self._conn.execute(_INSERT_ORDER, rec.order_values(order))
            except sqlite3.IntegrityError:
                raise DuplicateOrderError(
                    f"{self.path}: order {order.cl_ord_id!r} is already journaled"
                ) from None
            detail = f"{order.role} {order.side} {order.quantity} {order.pair} {order.order_type}"
            self._event("intent", detail, cl_ord_id=order.cl_ord_id, signal_id=order.signal_id)

    def record_birth(
        self,
        order: OrderRecord,
        report: ExecutionReport,
        *,
        signal: tuple[bytes, float] | None = None,
    ) -> None:
        """An order's birth in one transaction: its signal (an entry's raw JSON and arrival
        time), its intent and its first report. Nothing about it is ever durable by halves.
        A signal settled before (see settle_signal) is open again: its new order is replayed.

        The rows are what record_signal, record_intent and apply_report would write, in as few
        statements as that takes: a birth is the write-ahead on the path of every placement,
        and each statement is a point where its thread may wait for the interpreter's lock.
        """
        if report.client_order_id != order.cl_ord_id:
            raise JournalError(
                f"{self.path}: the first report of {order.cl_ord_id!r} names "
                f"{report.client_order_id!r}"
            )
        now = self._clock.time()
        created = order.created_at or now
        row = msgspec.structs.replace(
            order,
            created_at=created,
            status=report.status,
            quantity=report.quantity,
            txid=report.exchange_order_id or order.txid,
            limit_price=report.limit_price if report.limit_price is not None else order.limit_price,
            trigger_price=(
                report.trigger_price if report.trigger_price is not None else order.trigger_price
            ),
            filled_quantity=report.filled_quantity,
            average_price=(
                report.average_price if report.average_price is not None else order.average_price
            ),
            fee=report.fee,
            fee_asset=report.fee_asset or order.fee_asset,
            reason=report.reason,
            last_sequence=report.sequence,
            updated_at=report.engine_time or now,
        )
        detail = f"{order.role} {order.side} {order.quantity} {order.pair} {order.order_type}"
        events: list[tuple[float, str, str | None, str, str]] = [
            (now, "intent", order.cl_ord_id, order.signal_id, detail)
        ]
        if report.status != order.status:
            change = f"{order.status} -> {report.status}"
            if report.reason:
                change += f": {report.reason}"
            events.append((now, "status", order.cl_ord_id, order.signal_id, change))
        with self.transaction():
            conn = self._conn
            if signal is not None:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO signals (signal_id, raw, received_at, outcome) "
                    "VALUES (?, ?, ?, 'accepted')",
                    (order.signal_id, bytes(signal[0]), signal[1]),
                )
                kind = "signal" if cursor.rowcount == 1 else "duplicate_signal"
                events.insert(0, (now, kind, None, order.signal_id, ""))
            else:
                conn.execute(
                    "UPDATE signals SET outcome = 'accepted' "
                    "WHERE signal_id = ? AND outcome = 'settled'",
                    (order.signal_id,),
                )
            try:
                conn.execute(_INSERT_ORDER, rec.order_values(row))
            except sqlite3.IntegrityError:
                raise DuplicateOrderError(
                    f"{self.path}: order {order.cl_ord_id!r} is already journaled"
                ) from None
            conn.execute(
                "INSERT INTO reports (cl_ord_id, sequence, signal_id, status, engine_time, body) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    order.cl_ord_id,
                    report.sequence,
                    report.signal_id,
                    report.status,
                    report.engine_time,
                    encode(report).decode(),
                ),
            )
            conn.executemany(
                "INSERT INTO events (time, kind, cl_ord_id, signal_id, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                events,
            )

    def settle_signal(self, signal_id: str) -> None:
        """Mark a signal settled: all its orders ended and its protection is complete, so a
        restart need not replay it. A signal without a row (an older journal) is skipped."""
        with self.transaction():
            self._conn.execute(
                "UPDATE signals SET outcome = 'settled' WHERE signal_id = ?", (signal_id,)
            )

    def mark_sent(self, cl_ord_id: str) -> None:
        """Record that the order's request may have left; call (durably) BEFORE sending it."""
        self.update_order(cl_ord_id, sent=True)

    def update_order(self, cl_ord_id: str, /, **fields: Any) -> None:
        """Set order fields a report does not carry (deadline_at, a txid found by recovery...)."""
        values = rec.order_update_values(fields)
        values.setdefault("updated_at", self._clock.time())
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self.transaction():
            cursor = self._conn.execute(
                f"UPDATE orders SET {assignments} WHERE cl_ord_id = ?",
                [*values.values(), cl_ord_id],
            )
            if cursor.rowcount == 0:
                raise UnknownOrderError(f"{self.path}: no order {cl_ord_id!r}")
            changed = ", ".join(sorted(fields))
            self._event("sent" if changed == "sent" else "update", changed, cl_ord_id=cl_ord_id)

    def apply_report(self, report: ExecutionReport) -> bool:
        """Journal a report, its fill and the order's new state; False if already journaled.

        The order row follows the report only when its sequence is newer than the last one
        applied (a late, older report is kept but does not roll the state back). The report's
        ``fee`` is the order's cumulative fee, so a fill's own fee is the increase it brings.
        """
        cl_ord_id = report.client_order_id
        with self.transaction():
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO reports "
                "(cl_ord_id, sequence, signal_id, status, engine_time, body) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    cl_ord_id,
                    report.sequence,
                    report.signal_id,
                    report.status,
                    report.engine_time,
                    encode(report).decode(),
                ),
            )
            if cursor.rowcount == 0:
                return False
            row = self._conn.execute(
                "SELECT status, fee, last_sequence FROM orders WHERE cl_ord_id = ?", (cl_ord_id,)
            ).fetchone()
            fresh = row is not None and (row[2] is None or report.sequence > row[2])
            if report.trade_id and report.last_fill_quantity:
                fee = report.fee - Decimal(row[1]) if fresh else None
                self._insert_fill(
                    FillRecord(
                        cl_ord_id=cl_ord_id,
                        trade_id=report.trade_id,
                        quantity=report.last_fill_quantity,
                        price=report.last_fill_price,
                        fee=fee,
                        fee_asset=report.fee_asset,
                        time=report.exchange_time or report.engine_time,
                    )
                )
            if row is None:
                self._event("orphan_report", f"sequence {report.sequence}", cl_ord_id=cl_ord_id)
                return True
            if not fresh:
                self._event("stale_report", f"sequence {report.sequence}", cl_ord_id=cl_ord_id)
                return True
            self._conn.execute(
                "UPDATE orders SET status = ?, quantity = ?, txid = COALESCE(?, txid), "
                "limit_price = COALESCE(?, limit_price), "
                "trigger_price = COALESCE(?, trigger_price), filled_quantity = ?, "
                "average_price = COALESCE(?, average_price), fee = ?, "
                "fee_asset = COALESCE(?, fee_asset), reason = ?, last_sequence = ?, "
                "updated_at = ? WHERE cl_ord_id = ?",
                (
                    report.status,
                    rec.decimal_text("quantity", report.quantity),
                    report.exchange_order_id,
                    rec.decimal_text("limit_price", report.limit_price),
                    rec.decimal_text("trigger_price", report.trigger_price),
                    rec.decimal_text("filled_quantity", report.filled_quantity),
                    rec.decimal_text("average_price", report.average_price),
                    rec.decimal_text("fee", report.fee),
                    report.fee_asset,
                    report.reason,
                    report.sequence,
                    report.engine_time or self._clock.time(),
                    cl_ord_id,
                ),
            )
            if row[0] != report.status:
                detail = f"{row[0]} -> {report.status}"
                if report.reason:
                    detail += f": {report.reason}"
                self._event("status", detail, cl_ord_id=cl_ord_id, signal_id=report.signal_id)
            return True

    def mark_delivered(self, cl_ord_id: str, sequence: int) -> None:
        """Remember that this report (and every one journaled before it) reached the sinks."""
        with self.transaction():
            self._conn.execute(
                "INSERT INTO meta (key, value) "
                "SELECT 'delivered_rowid', rowid FROM reports WHERE cl_ord_id = ? AND sequence = ? "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value "
                "WHERE CAST(excluded.value AS INTEGER) > CAST(meta.value AS INTEGER)",
                (cl_ord_id, sequence),
            )

    def record_fill(self, fill: FillRecord) -> bool:
        """Journal one fill directly (e.g. found by recovery); False if (order, trade) is known."""
        with self.transaction():
            return self._insert_fill(fill)

    def _insert_fill(self, fill: FillRecord) -> bool:
        cursor = self._conn.execute(_INSERT_FILL, rec.fill_values(fill))
        return cursor.rowcount == 1

    def record_event(
        self,
        kind: str,
        detail: str = "",
        *,
        cl_ord_id: str | None = None,
        signal_id: str | None = None,
    ) -> None:
        """Append an audit event (an error, a recovery decision...)."""
        with self.transaction():
            self._event(kind, detail, cl_ord_id=cl_ord_id, signal_id=signal_id)
