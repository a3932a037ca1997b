"""`Checkpointer`: WAL checkpoints on a thread of their own, off the path of every commit.

SQLite's automatic checkpoint runs inside the commit that crosses its threshold (every 1,000
pages), so one commit in every hundred orders or so also copies the WAL into the database and
fsyncs it: several milliseconds on that order's path, the tail of the signal-to-wire and
fill-to-report latencies. While a JournalWriter runs, its connection checkpoints nothing by
itself and this thread checkpoints (PASSIVE: it never blocks a writer or a reader) from its own
connection every ``interval_s``; when it stops, the journal's own automatic checkpoint is back
and a last checkpoint runs. A checkpoint that fails is logged and tried again at the next tick;
what is committed never depends on it (the WAL holds it until a checkpoint copies it).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

__all__ = ["Checkpointer"]

log = logging.getLogger("gal_exec.journal")

DEFAULT_INTERVAL_S = 0.5
_AUTO_PAGES = 1000  # SQLite's default wal_autocheckpoint


class Checkpointer:
    """Checkpoints the WAL of the journal at ``path`` every ``interval_s`` on its own thread."""

    def __init__(self, path: Path, *, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.path = path
        self.interval_s = interval_s
        self.checkpoints = 0
        """Checkpoints run so far (including those that found nothing to copy)."""
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one checkpoint at a time (the thread's or run_once's)

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("checkpointer already started")
        self._thread = threading.Thread(
            target=self._run, name="gal_exec-journal-checkpoint", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the thread, run a last checkpoint and close the connection."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self.run_once()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def run_once(self) -> bool:
        """One PASSIVE checkpoint now; False if it failed (logged)."""
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = sqlite3.connect(
                        self.path, isolation_level=None, check_same_thread=False
                    )
                    self._conn.execute("PRAGMA busy_timeout = 1000")
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as exc:
                self.failures += 1
                if self.failures == 1 or self.failures % 100 == 0:
                    log.warning("journal checkpoint of %s failed: %s", self.path, exc)
                return False
            self.checkpoints += 1
            return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.run_once()


def automatic_checkpoints(conn: sqlite3.Connection, on: bool) -> None:
    """Turn the connection's own automatic checkpoints on (SQLite's default) or off."""
    conn.execute(f"PRAGMA wal_autocheckpoint = {_AUTO_PAGES if on else 0}")
