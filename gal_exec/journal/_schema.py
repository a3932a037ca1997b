"""The journal's schema, its versioned migrations, and the checks run before a file is touched.

The tables are documented in docs/journal.md. The ``meta`` table holds ``schema_version``; a
database with no tables at all is version 0. Opening runs every migration newer than the
file's version, in order, inside one transaction, so a failed migration leaves the file as it was.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "DuplicateOrderError",
    "JournalError",
    "Migration",
    "UnknownOrderError",
]

APPLICATION = "gal_exec journal"
SQLITE_HEADER = b"SQLite format 3\x00"


class JournalError(Exception):
    """A journal that cannot be used as asked; the message is one line naming the path.

    One line by construction: any run of whitespace in the message (SQLite's multi-line
    integrity reports, a path with a newline) becomes one space.
    """

    def __init__(self, message: object = "") -> None:
        super().__init__(" ".join(str(message).split()))


class DuplicateOrderError(JournalError):
    """An order intent whose cl_ord_id is already journaled."""


class UnknownOrderError(JournalError):
    """An operation on a cl_ord_id the journal has no order for."""


class Migration(NamedTuple):
    """One schema step: the version it produces, what it does, and its SQL statements."""

    version: int
    description: str
    statements: tuple[str, ...]


_V1 = (
    """CREATE TABLE signals (
        signal_id TEXT PRIMARY KEY,
        raw BLOB NOT NULL,
        received_at REAL NOT NULL,
        outcome TEXT
    )""",
    """CREATE TABLE orders (
        cl_ord_id TEXT PRIMARY KEY,
        signal_id TEXT NOT NULL,
        role TEXT NOT NULL,
        parent_cl_ord_id TEXT,
        pair TEXT NOT NULL,
        side TEXT NOT NULL,
        order_type TEXT NOT NULL,
        quantity TEXT NOT NULL,
        limit_price TEXT,
        trigger_price TEXT,
        sl_price TEXT,
        tp_price TEXT,
        time_in_force TEXT NOT NULL,
        expire_at REAL,
        post_only INTEGER NOT NULL,
        reduce_only INTEGER NOT NULL,
        timeout_s REAL,
        deadline_at REAL,
        status TEXT NOT NULL,
        txid TEXT,
        filled_quantity TEXT NOT NULL,
        average_price TEXT,
        fee TEXT NOT NULL,
        fee_asset TEXT,
        sent INTEGER NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        last_sequence INTEGER,
        reason TEXT
    )""",
    "CREATE INDEX orders_by_signal ON orders (signal_id)",
    "CREATE INDEX orders_by_parent ON orders (parent_cl_ord_id)",
    "CREATE INDEX orders_by_status ON orders (status)",
    """CREATE TABLE fills (
        id INTEGER PRIMARY KEY,
        cl_ord_id TEXT NOT NULL,
        trade_id TEXT NOT NULL,
        quantity TEXT NOT NULL,
        price TEXT,
        fee TEXT,
        fee_asset TEXT,
        time REAL,
        liquidity TEXT,
        synthetic INTEGER NOT NULL DEFAULT 0,
        UNIQUE (cl_ord_id, trade_id)
    )""",
    """CREATE TABLE reports (
        cl_ord_id TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        signal_id TEXT NOT NULL,
        status TEXT NOT NULL,
        engine_time REAL NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (cl_ord_id, sequence)
    )""",
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time REAL NOT NULL,
        kind TEXT NOT NULL,
        cl_ord_id TEXT,
        signal_id TEXT,
        detail TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX events_by_order ON events (cl_ord_id)",
    f"INSERT OR REPLACE INTO meta (key, value) VALUES ('application', '{APPLICATION}')",
)

_V2 = (
    """CREATE TABLE inbox (
        entry_id TEXT PRIMARY KEY,
        stream TEXT NOT NULL,
        kind TEXT NOT NULL,
        dedupe_key TEXT,
        duplicate_of TEXT,
        raw BLOB NOT NULL,
        received_at REAL NOT NULL,
        status TEXT NOT NULL
    )""",
    "CREATE UNIQUE INDEX inbox_by_key ON inbox (dedupe_key) WHERE dedupe_key IS NOT NULL",
    "CREATE INDEX reports_by_signal ON reports (signal_id)",
    """CREATE TABLE outbox (
        stream TEXT PRIMARY KEY,
        published_rowid INTEGER NOT NULL,
        broker_run_id TEXT
    )""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "signals, orders, fills, reports and events", _V1),
    Migration(2, "inbox of broker messages, outbox cursors", _V2),
)
"""Every schema step ever shipped, oldest first; append, never edit a shipped one."""

SCHEMA_VERSION = MIGRATIONS[-1].version
"""The schema version this code reads and writes."""

_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


def check_migrations(migrations: Sequence[Migration]) -> int:
    """The target version of `migrations`, which must number 1, 2, 3... with no gap."""
    if not migrations:
        raise ValueError("migrations must not be empty")
    for index, migration in enumerate(migrations, start=1):
        if migration.version != index:
            raise ValueError(f"migration {index} is numbered {migration.version}")
    return migrations[-1].version


def check_header(path: Path) -> bool:
    """True if `path` holds a database, False if it is empty; JournalError if it is not SQLite."""
    try:
        with path.open("rb") as file:
            header = file.read(100)
    except OSError as exc:
        raise JournalError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not header:
        return False
    if len(header) < 100 or not header.startswith(SQLITE_HEADER):
        raise JournalError(f"{path}: not a SQLite database (corrupt or a different kind of file)")
    return True


def read_only_uri(path: Path, *, immutable: bool = False) -> str:
    """The URI that opens `path` strictly read-only (SQLite never writes the database file).

    ``immutable`` also skips locking and the -wal/-shm sidecars: only for a file nobody writes.
    """
    return "file:" + quote(str(path.resolve())) + "?mode=ro" + ("&immutable=1" if immutable else "")


READ_FAILURES = (sqlite3.Error, UnicodeDecodeError)
"""What reading a damaged file can raise from SQLite (text cells that are not UTF-8 included)."""


def describe_sqlite_error(path: Path, exc: Exception) -> JournalError:
    """A one-line JournalError for a SQLite failure (one of READ_FAILURES) on `path`."""
    if isinstance(exc, UnicodeDecodeError):
        return JournalError(f"{path}: database is corrupt (text that is not UTF-8)")
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return JournalError(f"{path}: database is locked by another process ({text})")
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return JournalError(f"{path}: database is corrupt ({text})")
    return JournalError(f"{path}: cannot use the journal ({text})")


def read_version(conn: sqlite3.Connection, path: Path) -> int:
    """The file's schema version: 0 for a database with no tables; JournalError if foreign."""
    names = [
        name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    ]
    if not all(isinstance(name, str) for name in names):
        raise JournalError(f"{path}: database is corrupt (its schema table is damaged)")
    tables = {name for name in names if not name.startswith("sqlite_")}
    if "meta" not in tables:
        if tables:
            shown = ", ".join(sorted(tables)[:5])
            raise JournalError(
                f"{path}: a SQLite database but not a gal_exec journal (tables: {shown})"
            )
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        return 0
    try:
        return int(row[0])
    except (TypeError, ValueError):
        raise JournalError(f"{path}: meta.schema_version is not a number: {row[0]!r}") from None


_TABLES = frozenset(
    {"meta"}
    | {
        match.group(1)
        for migration in MIGRATIONS
        for statement in migration.statements
        if (match := re.match(r"\s*CREATE TABLE (\w+)", statement))
    }
)


def check_tables(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a journal at the current version that lacks one of the schema's tables."""
    present = {
        name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    missing = sorted(_TABLES - present)
    if missing:
        raise JournalError(
            f"{path}: damaged journal: table{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} missing; it was not written by this gal_exec, or was altered"
        )


def check_version(version: int, target: int, path: Path, *, read_only: bool) -> None:
    """Refuse a file newer than this code, or (read-only) one that still needs migrating."""
    if version > target:
        raise JournalError(
            f"{path}: schema version {version} is newer than this gal_exec supports "
            f"({target}); upgrade gal_exec to use it"
        )
    if read_only and version < target:
        raise JournalError(
            f"{path}: schema version {version} is older than {target}; "
            "start the engine once to migrate it"
        )


def validate(path: Path, target: int, *, read_only: bool) -> None:
    """Check an existing database without writing it: header, schema version, integrity.

    Without a -wal file every committed page is in the main file and (the caller holding the
    ownership lock, or at worst racing a starting engine) nobody is writing it, so the check
    reads it as immutable and leaves no -wal/-shm behind on a refused file.
    """
    immutable = not path.with_name(path.name + "-wal").exists()
    try:
        conn = sqlite3.connect(
            read_only_uri(path, immutable=immutable), uri=True, isolation_level=None
        )
    except sqlite3.Error as exc:
        raise describe_sqlite_error(path, exc) from None
    try:
        conn.execute("PRAGMA busy_timeout = 2000")
        version = read_version(conn, path)
        check_version(version, target, path, read_only=read_only)
        if version == target:
            check_tables(conn, path)
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            raise JournalError(f"{path}: database is corrupt ({'; '.join(problems)})")
    except READ_FAILURES as exc:
        raise describe_sqlite_error(path, exc) from None
    finally:
        conn.close()


def migrate(conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration]) -> int:
    """Run the migrations the file lacks, in order, in one transaction; returns the version."""
    target = check_migrations(migrations)
    current = read_version(conn, path)
    check_version(current, target, path, read_only=False)
    if current == target:
        return current
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_META)
        for migration in migrations[current:]:
            try:
                for statement in migration.statements:
                    conn.execute(statement)
            except sqlite3.Error as exc:
                raise JournalError(
                    f"{path}: migration to schema version {migration.version} "
                    f"({migration.description}) failed: {exc}"
                ) from None
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(migration.version),),
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return target
