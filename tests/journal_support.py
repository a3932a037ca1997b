"""Builders shared by the journal tests: orders, reports, and a look at a file from outside."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from decimal import Decimal
from pathlib import Path

from gal_exec.journal import OrderRecord
from gal_exec.messages import ExecutionReport


def order(cl_ord_id: str = "c-1", **overrides) -> OrderRecord:
    fields = dict(
        cl_ord_id=cl_ord_id,
        signal_id="s-1",
        pair="XBT/USD",
        side="buy",
        order_type="limit",
        quantity=Decimal("0.5"),
        limit_price=Decimal("30000.1"),
        created_at=1_700_000_000.0,
    )
    fields.update(overrides)
    return OrderRecord(**fields)


def report(cl_ord_id: str = "c-1", sequence: int = 1, **overrides) -> ExecutionReport:
    fields = dict(
        signal_id="s-1",
        client_order_id=cl_ord_id,
        pair="XBT/USD",
        side="buy",
        order_type="limit",
        quantity=Decimal("0.5"),
        status="open",
        sequence=sequence,
        engine_time=1_700_000_000.0 + sequence,
    )
    fields.update(overrides)
    return ExecutionReport(**fields)


def fingerprint(path: Path) -> tuple[str, int, int, tuple[str, ...]]:
    """Content hash, size, mtime and the sidecar files present: all must stay as they were."""
    data = path.read_bytes()
    sidecars = tuple(
        sorted(
            name
            for name in os.listdir(path.parent)
            if name.startswith(path.name) and name != path.name and not name.endswith(".lock")
        )
    )
    return hashlib.sha256(data).hexdigest(), len(data), path.stat().st_mtime_ns, sidecars


def outside(path: Path) -> sqlite3.Connection:
    """A second, independent connection: it sees only what was committed."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
