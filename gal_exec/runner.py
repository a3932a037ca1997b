"""The main job behind ``gal-exec run``: start the engine, feed it signals, write reports, summarise.

Signals are JSON lines (a file or standard input), read by :mod:`gal_exec.signal_lines`: a bad
line becomes one rejected report and one warning naming the line number and the problem, and the
rest go on. SIGINT or SIGTERM stops cleanly: the stop policy runs (engine.on_stop: cancel the open
orders or leave them), then the summary says what became of each order open at the stop. A
second Ctrl-C forces the exit; a repeated SIGTERM (``timeout`` sends two) within a short grace
does not. The exit status is 0 after a clean run, 1 if the signals could not all be read,
128 + the signal's number after an interruption, 2 if the engine cannot start.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from gal_exec.actors.report_sink import SinkStats
from gal_exec.config import Config
from gal_exec.console import Console
from gal_exec.engine import Engine, EngineError
from gal_exec.logs import setup_logging
from gal_exec.run_report import Snapshot, SummaryInput, summary_fields, summary_text, waiting_line
from gal_exec.signal_reader import SignalReader

__all__ = ["run_main"]

log = logging.getLogger("gal_exec.run")

_PROGRESS_INTERVAL_S = 0.5
_POLL_INTERVAL_S = 0.1
_WAIT_NOTICE_AFTER_S = 5.0
_WAIT_NOTICE_EVERY_S = 5.0
_SECOND_SIGNAL_GRACE_S = 2.0


def run_main(config: Config, args: argparse.Namespace) -> int:
    """Run the engine per ``config`` and the command-line options; returns the exit status."""
    if getattr(args, "intake", None):
        from gal_exec.scaleout.commands import run_intake

        return run_intake(config, args)
    console = Console(sys.stderr, json_lines=bool(args.log_json or config.logging.json))
    try:
        redaction = setup_logging(
            level=config.logging.level,
            json_lines=console.json_lines,
            file=config.logging.file,
            console=console,
        )
    except OSError as exc:
        print(
            f"gal-exec: logging.file: cannot open {config.logging.file}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    source = _open_signals(args.signals)
    if isinstance(source, str):
        console.notice(source, level=logging.ERROR)
        return 2
    reader = SignalReader(source) if source is not None else None
    stopper = _Stopper(console)
    previous = {sig: signal.signal(sig, stopper.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if reader is not None:
            reader.start()  # before the engine: its stack is its own, not the actors' small one
        try:
            engine = Engine.start(config, reports_path=args.reports, journal_path=args.journal)
        except EngineError as exc:
            console.notice(f"gal-exec: {exc}", level=logging.ERROR)
            return 2
        redaction.add(engine.endpoints.api_key, engine.endpoints.api_secret)
        try:
            return _run(engine, config, args, reader, stopper, console)
        finally:
            engine.stop()
    finally:
        if reader is not None:
            reader.cancel()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if source is not None and source is not sys.stdin.buffer:
            source.close()


def _open_signals(path: str | None) -> BinaryIO | str | None:
    if path is None:
        return None
    if path == "-":
        return sys.stdin.buffer
    try:
        return Path(path).open("rb")
    except OSError as exc:
        return f"gal-exec: cannot read signals from {path}: {exc.strerror or exc}"


def _where(engine: Engine, args: argparse.Namespace, config: Config) -> tuple[str, str]:
    journal = str(engine.journal.path) if engine.journal is not None else "off"
    reports = args.reports or config.reports.path or ""
    if config.reports.stdout:
        reports = f"{reports} and standard output" if reports else "standard output"
    return journal, reports


def _run(
    engine: Engine,
    config: Config,
    args: argparse.Namespace,
    reader: SignalReader | None,
    stopper: _Stopper,
    console: Console,
) -> int:
    journal, reports = _where(engine, args, config)
    console.notice(
        f"gal-exec: journal {journal}; reports {reports or 'not written to a file (--reports)'}",
        fields={"journal": journal, "reports": reports or None},
    )
    if reader is not None:
        reader.begin(engine, stopper.event)
    started = time.monotonic()
    watch = _Watch(engine, started)
    until_done = bool(args.until_done)
    reading_done = reader.done if reader is not None else _always_done()
    while not stopper.event.is_set():
        if until_done and reading_done.is_set() and engine.idle():
            break
        snapshot = watch.refresh()
        if snapshot is not None:
            stopper.snapshot = snapshot
            console.status(snapshot.status_line())
        if until_done and reading_done.is_set():
            line = watch.waiting_notice()
            if line:
                console.notice(line)
        stopper.event.wait(_POLL_INTERVAL_S)
    console.clear_status()
    stopper.snapshot = watch.refresh(force=True) or stopper.snapshot  # as the stop begins
    interrupted = stopper.signum
    if interrupted is not None:
        policy = (
            "cancelling open orders" if config.engine.on_stop == "cancel" else "leaving open orders"
        )
        console.notice(f"gal-exec: stopping on {signal.Signals(interrupted).name} ({policy})")
    outcome = engine.stop_trading()
    stopper.stopping_done()
    read = reader.result() if reader is not None else None
    summary = SummaryInput(
        elapsed=time.monotonic() - started,
        stats=_safe_stats(engine),
        health=_safe_health(engine),
        outcome=outcome,
        read=read,
        journal=journal,
        reports=reports,
        interrupted=signal.Signals(interrupted).name if interrupted is not None else None,
    )
    console.notice(summary_text(summary), fields={"summary": summary_fields(summary)})
    if interrupted is not None:
        return 128 + int(interrupted)
    if read is not None and read.failed:
        return 1
    return 0


def _always_done() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


def _safe_stats(engine: Engine) -> SinkStats:
    try:
        return engine.stats()
    except Exception as exc:  # the figures are worth less than the rest of the summary
        log.warning("report figures unavailable for the summary: %s", exc)
        return SinkStats()


def _safe_health(engine: Engine) -> dict[str, Any]:
    try:
        return engine.health()
    except Exception as exc:  # an actor that stopped answering must not cost the summary
        log.warning("health unavailable for the summary: %s", exc)
        return {}


class _Watch:
    """Snapshots of the engine for the status line, the forced-exit line and the waiting notice."""

    def __init__(self, engine: Engine, started: float) -> None:
        self.engine = engine
        self.started = started
        self.last_refresh = 0.0
        self.last_notice = 0.0
        self.idle_since: float | None = None
        self.snapshot: Snapshot | None = None

    def refresh(self, *, force: bool = False) -> Snapshot | None:
        """A fresh snapshot at most every _PROGRESS_INTERVAL_S (None in between) or now."""
        now = time.monotonic()
        if not force and now - self.last_refresh < _PROGRESS_INTERVAL_S:
            return None
        self.last_refresh = now
        try:
            state = self.engine.desk()
            stats = self.engine.stats()
        except Exception:
            return None
        self.snapshot = Snapshot(
            live=state.live_orders,
            queued=state.queued_orders,
            finished=state.finished,
            fills=stats.fills,
            reports=stats.reports,
            halted=state.halted is not None,
            stream_up=state.stream_up,
        )
        return self.snapshot

    def waiting_notice(self) -> str | None:
        """After the input ended: what --until-done still waits for, every few seconds."""
        now = time.monotonic()
        if self.idle_since is None:
            self.idle_since = now
            self.last_notice = now
            return None
        if now - self.idle_since < _WAIT_NOTICE_AFTER_S or now - self.last_notice < (
            _WAIT_NOTICE_EVERY_S
        ):
            return None
        self.last_notice = now
        return waiting_line(self._open_orders(), self.snapshot, clock_now=self.engine.clock.time())

    def _open_orders(self) -> list[Any] | None:
        writer = self.engine.writer
        if writer is None:
            return None
        try:
            records: list[Any] = writer.call(lambda journal: journal.live_orders(), timeout=2.0)
        except Exception:
            return None
        return records


class _Stopper:
    """SIGINT/SIGTERM: the first stops cleanly; a second Ctrl-C forces the exit.

    Process supervisors repeat themselves (GNU ``timeout`` signals the child and then its whole
    group, so SIGTERM arrives twice): within a short grace, a second signal forces the exit only
    when it is a person's second Ctrl-C. After the grace any second signal does.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.event = threading.Event()
        self.signum: int | None = None
        self.first_at = 0.0
        self.snapshot: Snapshot | None = None
        self.done = False

    def handle(self, signum: int, _frame: Any) -> None:
        now = time.monotonic()
        if self.signum is None:
            self.signum = signum
            self.first_at = now
            self.event.set()
            return
        person = signum == signal.SIGINT and self.signum == signal.SIGINT
        if not person and now - self.first_at <= _SECOND_SIGNAL_GRACE_S:
            return  # the same stop, said twice
        self.console.clear_status()
        last = self.snapshot.forced_line() if self.snapshot is not None else "no figures yet"
        unfinished = "teardown" if self.done else "stop policy; open orders stay on the exchange"
        self.console.notice(
            f"gal-exec: second {signal.Signals(signum).name}, exiting now without the "
            f"{unfinished}. Last seen: {last}",
            level=logging.WARNING,
        )
        logging.shutdown()
        os._exit(128 + signum)

    def stopping_done(self) -> None:
        """The stop policy has run: a forced exit now only skips the teardown."""
        self.done = True
