"""Outbox: every ExecutionReport published to the account's report stream, from the journal.

The journal's ``reports`` table holds every report before anything delivers it, so publishing is a
cursor over it: reports are XADDed in rowid order (through a script that checks the lease), and the
last published rowid is remembered in the journal afterwards. A crash between the two publishes a
few reports again; consumers de-duplicate on (client_order_id, sequence), which has no gaps per
order. The stream is trimmed approximately (``MAXLEN ~`` or ``MINID ~``) as it grows. If the broker
restarted (its run id changed) the cursor is rewound by one stream's worth, so what the stream held
is published again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import redis

from gal_exec.journal import (
    Journal,
    JournalWriter,
    OutboxCursor,
    outbox_cursor,
    report_rowid_since,
    reports_after,
    set_outbox_cursor,
)
from gal_exec.scaleout.broker import FENCED, Broker
from gal_exec.scaleout.keys import AccountKeys
from gal_exec.scaleout.lease import Lease

__all__ = ["Outbox", "OutboxStats"]

log = logging.getLogger("gal_exec.scaleout.outbox")

_IDLE_WAKE_S = 0.5


class OutboxStats(msgspec.Struct, kw_only=True):
    published: int = 0
    rounds: int = 0
    cursor: int = 0
    rewound: int = 0


class Outbox:
    """The publishing thread of one account's report stream."""

    def __init__(
        self,
        *,
        broker: Broker,
        keys: AccountKeys,
        lease: Lease,
        writer: JournalWriter,
        journal_path: Path,
        batch: int = 500,
        maxlen: int = 1_000_000,
        max_age_s: float = 0.0,
        clock: Any = time,
    ) -> None:
        self.broker = broker
        self.keys = keys
        self.lease = lease
        self.writer = writer
        self.journal_path = journal_path
        self.batch = batch
        self.maxlen = maxlen
        self.max_age_s = max_age_s
        self.clock = clock
        self.stats = OutboxStats()
        self.error: str | None = None
        self._cursor = OutboxCursor()
        self._reader: Journal | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Load the cursor (rewinding it after a broker restart), then publish as reports come."""
        self._reader = Journal.open(self.journal_path, read_only=True)
        stream = self.keys.reports
        cursor = self.writer.call(lambda journal: outbox_cursor(journal, stream))
        run_id = self.broker.run_id()
        if cursor.broker_run_id is not None and cursor.broker_run_id != run_id:
            rewound = self._rewind(cursor.published_rowid)
            log.warning(
                "the broker restarted since reports were last published: publishing again "
                "from report %d (was %d)",
                rewound,
                cursor.published_rowid,
            )
            self.stats.rewound += 1
            cursor = OutboxCursor(published_rowid=rewound, broker_run_id=run_id)
        else:
            cursor = OutboxCursor(published_rowid=cursor.published_rowid, broker_run_id=run_id)
        self._cursor = cursor
        self.stats.cursor = cursor.published_rowid
        self._thread = threading.Thread(
            target=self._run, name=f"outbox-{self.keys.account}", daemon=True
        )
        self._thread.start()

    def _rewind(self, rowid: int) -> int:
        reader = self._reader
        assert reader is not None
        if self.max_age_s:
            since = self.clock.time() - self.max_age_s
            return min(rowid, report_rowid_since(reader, since))
        return max(0, rowid - self.maxlen) if self.maxlen else 0

    def wake(self, _report: object = None) -> None:
        """New reports were journaled (an Engine.subscribe callback)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Publish what is journaled (while the lease holds), then stop."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(_IDLE_WAKE_S)
                self._wake.clear()
                stopping = self._stop.is_set()
                self.publish_pending()
                if stopping:
                    return
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("outbox of account %s stopped", self.keys.account)

    def publish_pending(self) -> int:
        """Publish every journaled report after the cursor; the number published."""
        reader = self._reader
        if reader is None:
            return 0
        total = 0
        while self.lease.valid():
            rows = reports_after(reader, self._cursor.published_rowid, self.batch)
            if not rows:
                break
            try:
                result = self.broker.publish(
                    self.keys.lease,
                    self.lease.token,
                    self.keys.reports,
                    [row.body for row in rows],
                    self._trim(),
                )
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("outbox: broker unreachable (%s); will publish again", exc)
                self._stop.wait(min(1.0, self.lease.remaining()))
                continue
            if result == FENCED:
                self.lease.check()
                log.error("outbox: lease lost; %d reports left to the next owner", len(rows))
                break
            self._cursor = OutboxCursor(
                published_rowid=rows[-1].rowid, broker_run_id=self._cursor.broker_run_id
            )
            try:
                self.writer.submit(_cursor_writer(self.keys.reports, self._cursor))
            except RuntimeError:
                pass  # the engine stopped: the next start publishes these again (de-duplicated)
            total += len(rows)
            self.stats.published += len(rows)
            self.stats.rounds += 1
            self.stats.cursor = self._cursor.published_rowid
        return total

    def _trim(self) -> tuple[str, str]:
        if self.maxlen:
            return ("MAXLEN", str(self.maxlen))
        if self.max_age_s:
            oldest_ms = int((self.clock.time() - self.max_age_s) * 1000)
            return ("MINID", f"{max(0, oldest_ms)}-0")
        return ("", "")


def _cursor_writer(stream: str, cursor: OutboxCursor) -> Callable[[Journal], None]:
    return lambda journal: set_outbox_cursor(journal, stream, cursor)
