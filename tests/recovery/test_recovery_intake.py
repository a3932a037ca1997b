"""Crash points of intake and delivery, replayed deterministically: the journal or the reports
file is left exactly as a kill in a window too narrow to aim at leaves it, then a real engine
process restarts on it against the simulator process."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from checks import collect, problems
from harness import EngineProcess, SimProcess
from scenario import write_signals
from steps import RUN_TIMEOUT_S, signal

from gal_exec.journal import Journal


@pytest.mark.timeout(60)
def test_signal_journaled_without_its_intent_is_still_placed(tmp_path: Path) -> None:
    """The journal as a kill between the signal's commit and the intent's commit leaves it."""
    seen = signal("seen-not-placed")
    signals_path = tmp_path / "signals.jsonl"
    write_signals(signals_path, [seen])
    with SimProcess(tmp_path, seed=23, rate_limits=False) as sim:
        engine = EngineProcess(tmp_path, sim, signals_path)
        with Journal.open(engine.journal) as journal:
            journal.record_signal(seen["signal_id"], json.dumps(seen).encode(), time.time())
        try:
            failure = engine.run_to_end(RUN_TIMEOUT_S)
            evidence = collect([seen], sim, engine.journal, engine.reports)
        finally:
            engine.kill()
    found = ([failure] if failure else []) + problems(evidence)
    assert not found, "\n".join(found)


@pytest.mark.timeout(60)
def test_report_journaled_but_not_delivered_reaches_the_reports_file_after_restart(
    tmp_path: Path,
) -> None:
    """The reports file and the journal's delivery marker as a kill between the journal's commit
    of the last report and its delivery leaves them: one line short of the journal. The restart
    delivers it (at least once)."""
    market = signal("undelivered")
    signals_path = tmp_path / "signals.jsonl"
    write_signals(signals_path, [market])
    with SimProcess(tmp_path, seed=24, rate_limits=False) as sim:
        engine = EngineProcess(tmp_path, sim, signals_path)
        try:
            assert engine.run_to_end(RUN_TIMEOUT_S) is None
            lines = engine.reports.read_bytes().splitlines(keepends=True)
            assert json.loads(lines[-1])["status"] == "filled"
            engine.reports.write_bytes(b"".join(lines[:-1]))
            # ...and the journal's delivery marker as the kill left it: before that report.
            with sqlite3.connect(engine.journal) as db:
                db.execute(
                    "UPDATE meta SET value = (SELECT max(rowid) - 1 FROM reports) "
                    "WHERE key = 'delivered_rowid'"
                )
            failure = engine.run_to_end(RUN_TIMEOUT_S)
            evidence = collect([market], sim, engine.journal, engine.reports)
        finally:
            engine.kill()
    found = ([failure] if failure else []) + problems(evidence)
    assert not found, "\n".join(found)
