"""Opening a journal file: the ownership lock, the checks before any write, WAL setup, migration.

Order matters: lock first (another engine's file is never touched), then validate the existing
file through a read-only connection (a corrupt, foreign or newer file is refused before anything
could write it), and only then open read-write, switch to WAL and migrate.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from gal_exec.journal._schema import (
    READ_FAILURES,
    JournalError,
    Migration,
    check_header,
    check_migrations,
    describe_sqlite_error,
    migrate,
    read_only_uri,
    read_version,
    validate,
)

__all__ = ["open_read_only", "open_writable", "release_lock"]


def open_writable(
    path: Path, synchronous: str, migrations: Sequence[Migration]
) -> tuple[sqlite3.Connection, int, int]:
    """Own, validate, open and migrate `path`: (connection, lock descriptor, schema version)."""
    if synchronous not in ("normal", "full"):
        raise ValueError(f"synchronous must be 'normal' or 'full', not {synchronous!r}")
    target = check_migrations(migrations)
    if path.is_dir():
        raise JournalError(f"{path}: is a directory, not a journal file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise JournalError(f"{path}: cannot create its folder: {exc.strerror or exc}") from None
    lock_fd = _acquire_lock(path)
    conn: sqlite3.Connection | None = None
    try:
        if path.exists() and check_header(path):
            validate(path, target, read_only=False)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise JournalError(f"{path}: cannot switch to WAL mode (got {mode})")
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        version = migrate(conn, path, migrations)
    except BaseException as exc:
        if conn is not None:
            conn.close()
        release_lock(lock_fd)
        if isinstance(exc, READ_FAILURES):
            raise describe_sqlite_error(path, exc) from None
        raise
    return conn, lock_fd, version


def open_read_only(path: Path, migrations: Sequence[Migration]) -> tuple[sqlite3.Connection, int]:
    """Open `path` for reading only, without the ownership lock: (connection, schema version)."""
    target = check_migrations(migrations)
    if path.is_dir():
        raise JournalError(f"{path}: is a directory, not a journal file")
    if not path.exists():
        raise JournalError(f"{path}: no such journal")
    if not check_header(path):
        raise JournalError(f"{path}: empty file, not a journal")
    validate(path, target, read_only=True)
    try:
        conn = sqlite3.connect(
            read_only_uri(path), uri=True, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA busy_timeout = 2000")
            conn.execute("PRAGMA query_only = 1")
            version = read_version(conn, path)
        except BaseException:
            conn.close()
            raise
    except READ_FAILURES as exc:
        raise describe_sqlite_error(path, exc) from None
    return conn, version


def _acquire_lock(path: Path) -> int:
    """Take the exclusive ownership lock of `path` (an flock on ``<path>.lock``).

    The kernel drops an flock when its holder dies, so a killed engine leaves no stale lock;
    the holder's pid is written into the file only to name it in the error.
    """
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise JournalError(f"{path}: cannot open {lock_path.name}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise JournalError(
            f"{path}: locked by another engine (pid {holder}); one engine per journal"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def release_lock(fd: int) -> None:
    """Give up ownership. The lock file stays, so no two processes race to recreate it."""
    os.close(fd)
