"""Where a journal lives when neither ``--journal`` nor ``journal.path`` names one.

Against the real exchange there is one journal, ``var/journal.sqlite``: a restart must find the
orders it left. Against the embedded simulator every run starts a fresh exchange that knows none
of a previous run's orders, so each run gets a fresh journal in its own run folder,
``var/runs/<UTC time>-<pid>/journal.sqlite``: replaying a signals file is not refused as
duplicates, and a restart never waits on orders the new simulator has never seen.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["DEFAULT_JOURNAL_PATH", "RUNS_DIR", "default_journal_path", "latest_run_journal"]

DEFAULT_JOURNAL_PATH = "var/journal.sqlite"
RUNS_DIR = "var/runs"
_JOURNAL_NAME = "journal.sqlite"


def default_journal_path(
    mode: str, *, now: float | None = None, pid: int | None = None, runs: str | Path = RUNS_DIR
) -> Path:
    """The journal for an exchange ``mode`` ("sim" or "kraken") when none is configured."""
    if mode != "sim":
        return Path(DEFAULT_JOURNAL_PATH)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return Path(runs) / f"{stamp}-{os.getpid() if pid is None else pid}" / _JOURNAL_NAME


def latest_run_journal(runs: str | Path = RUNS_DIR) -> Path | None:
    """The most recently started simulator run's journal, or None if there is none."""
    try:
        candidates = [path for path in Path(runs).glob(f"*/{_JOURNAL_NAME}") if path.is_file()]
    except OSError:
        return None
    if not candidates:
        return None
    return max(candidates, key=lambda path: (path.stat().st_mtime, path.parent.name))
