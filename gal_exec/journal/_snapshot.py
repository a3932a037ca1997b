"""A consistent copy of a journal that another process may still hold (or be frozen holding).

The owner's ``flock`` on ``<path>.lock`` lives as long as its process, even a stopped (SIGSTOP)
one, so a successor never opens the owner's file read-write. It copies the last committed state
through a read-only connection (no ownership lock; SQLite's WAL lets a reader in beside a writer,
even one frozen mid-transaction) with SQLite's online backup, into a new file it then owns.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from gal_exec.journal._schema import (
    JournalError,
    check_header,
    describe_sqlite_error,
    read_only_uri,
)

__all__ = ["copy_journal"]


def copy_journal(source: Path, target: Path) -> None:
    """Copy the committed state of `source` into the new file `target` (atomically, by rename).

    `source` is read without its ownership lock and never written. JournalError (one line) if it
    is not a journal or `target` exists.
    """
    source, target = Path(source), Path(target)
    if not source.exists():
        raise JournalError(f"{source}: no such journal")
    if not check_header(source):
        raise JournalError(f"{source}: empty file, not a journal")
    if target.exists():
        raise JournalError(f"{target}: exists already; a copy never overwrites a journal")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        reader = sqlite3.connect(read_only_uri(source), uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise describe_sqlite_error(source, exc) from None
    try:
        reader.execute("PRAGMA busy_timeout = 5000")
        writer = sqlite3.connect(partial, isolation_level=None)
        try:
            reader.backup(writer)
        finally:
            writer.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise describe_sqlite_error(source, exc) from None
    finally:
        reader.close()
    with partial.open("rb") as file:
        os.fsync(file.fileno())
    os.replace(partial, target)
