"""The main job behind ``gal-exec run``: start the engine, feed it signals, write reports, summarise.

Signals are JSON lines (a file or standard input). A malformed line becomes a rejected report naming
the line number and the problem, and the rest go on. SIGINT or SIGTERM stops cleanly (open orders are
cancelled or left per engine.on_stop); a second signal forces the exit.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import msgspec

from gal_exec.config import Config
from gal_exec.core.ids import new_client_order_id
from gal_exec.engine import Engine, EngineError
from gal_exec.logs import setup_logging
from gal_exec.messages import ExecutionReport, MessageDecodeError, OrderStatus, decode_inbound

__all__ = ["run_main"]

_PROGRESS_INTERVAL_S = 0.5


def run_main(config: Config, args: argparse.Namespace) -> int:
    """Run the engine per ``config`` and the command-line options; returns the exit status."""
    if getattr(args, "intake", None):
        from gal_exec.scaleout.commands import run_intake

        return run_intake(config, args)
    redaction = setup_logging(
        level=config.logging.level,
        json_lines=args.log_json or config.logging.json,
        file=config.logging.file,
    )
    source = _open_signals(args.signals)
    if isinstance(source, str):
        print(source, file=sys.stderr)
        return 2
    stop = threading.Event()
    signals_seen = [0]

    def on_signal(signum: int, _frame: Any) -> None:
        signals_seen[0] += 1
        if signals_seen[0] > 1:
            print("gal-exec: second signal, exiting now", file=sys.stderr)
            os._exit(1)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            engine = Engine.start(
                config,
                reports_path=args.reports,
                journal_path=args.journal,
            )
        except EngineError as exc:
            print(f"gal-exec: {exc}", file=sys.stderr)
            return 2
        redaction.add(engine.endpoints.api_key, engine.endpoints.api_secret)
        try:
            return _run(engine, config, source, stop, until_done=args.until_done)
        finally:
            engine.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if source is not None and source is not sys.stdin:
            source.close()


def _open_signals(path: str | None) -> IO[str] | str | None:
    if path is None:
        return None
    if path == "-":
        return sys.stdin
    try:
        return Path(path).open(encoding="utf-8")
    except OSError as exc:
        return f"gal-exec: cannot read signals from {path}: {exc.strerror or exc}"


def _run(
    engine: Engine,
    config: Config,
    source: IO[str] | None,
    stop: threading.Event,
    *,
    until_done: bool,
) -> int:
    reader_done = threading.Event()
    if source is None:
        reader_done.set()
    else:
        threading.Thread(
            target=_feed, args=(engine, source, stop, reader_done), name="signals", daemon=True
        ).start()
    progress = _Progress(engine) if sys.stderr.isatty() else None
    started = time.monotonic()
    while not stop.is_set():
        if until_done and reader_done.is_set() and engine.idle():
            break
        if progress is not None:
            progress.show()
        stop.wait(_PROGRESS_INTERVAL_S if progress is not None else 0.1)
    if progress is not None:
        progress.clear()
    interrupted = stop.is_set()
    if interrupted:
        print("gal-exec: stopping", file=sys.stderr)
    print(_summary(engine, time.monotonic() - started), file=sys.stderr)
    return 0


def _feed(engine: Engine, source: IO[str], stop: threading.Event, done: threading.Event) -> None:
    """Read JSON lines; every line either reaches the supervisor or becomes a rejected report."""
    try:
        for number, line in enumerate(source, start=1):
            if stop.is_set():
                break
            text = line.strip()
            if not text:
                continue
            try:
                message = decode_inbound(text)
            except MessageDecodeError as exc:
                engine.report(_line_rejected(engine, number, text, str(exc)))
                continue
            engine.submit(message)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"gal-exec: stopped reading signals: {exc}", file=sys.stderr)
    finally:
        done.set()


def _line_rejected(engine: Engine, number: int, text: str, problem: str) -> ExecutionReport:
    signal_id = ""
    try:
        raw = msgspec.json.decode(text)
        if isinstance(raw, dict) and isinstance(raw.get("signal_id"), str):
            signal_id = raw["signal_id"]
    except msgspec.DecodeError:
        pass
    return ExecutionReport(
        signal_id=signal_id,
        client_order_id=new_client_order_id(clock=engine.clock),
        status=OrderStatus.REJECTED,
        reason=f"line {number}: {problem}",
        engine_time=engine.clock.time(),
        sequence=1,
    )


class _Progress:
    """A live one-line status on a terminal."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.width = 0

    def show(self) -> None:
        try:
            state = self.engine.desk()
            stats = self.engine.stats()
        except Exception:
            return
        line = (
            f"live {state.live_orders} · queued {state.queued_orders} · "
            f"done {state.finished} · fills {stats.fills} · reports {stats.reports}"
            + (" · HALTED" if state.halted else "")
            + ("" if state.stream_up else " · stream down")
        )
        self.width = max(self.width, len(line))
        sys.stderr.write("\r" + line.ljust(self.width))
        sys.stderr.flush()

    def clear(self) -> None:
        sys.stderr.write("\r" + " " * self.width + "\r")
        sys.stderr.flush()


def _summary(engine: Engine, elapsed: float) -> str:
    """Orders by status and role, fills, fees, errors by category, rate-limit headroom."""
    stats = engine.stats()
    health = engine.health()
    lines = [f"gal-exec summary ({elapsed:.1f} s)"]
    roles = ("entry", "stop_loss", "take_profit")
    statuses = ("filled", "canceled", "expired", "rejected")
    lines.append(f"  {'status':<10}" + "".join(f"{role:>13}" for role in roles))
    for status in statuses:
        counts = [stats.final_by_status_role.get(f"{status}/{role}", 0) for role in roles]
        lines.append(f"  {status:<10}" + "".join(f"{count:>13}" for count in counts))
    supervisor = health["supervisor"]
    lines.append(
        f"  still live: {supervisor['live_orders']}, queued: {supervisor['queued_orders']}"
    )
    fees = ", ".join(f"{total} {asset}" for asset, total in stats.fees.items()) or "none"
    lines.append(f"  fills: {stats.fills}   fees: {fees}   reports: {stats.reports}")
    errors = health.get("errors") or {}
    by_category = errors.get("by_category") or {}
    lines.append(
        "  errors: " + (", ".join(f"{k} {v}" for k, v in sorted(by_category.items())) or "none")
    )
    headroom = _headroom(health.get("gateway"))
    if headroom:
        lines.append(f"  rate-limit headroom: {headroom}")
    if stats.journal_errors:
        lines.append(f"  journal errors: {stats.journal_errors}")
    return "\n".join(lines)


def _headroom(gateway: Any) -> str:
    """REST counter and per-pair trading counter headroom, from the gateway's health."""
    if not isinstance(gateway, dict):
        return ""
    parts = []
    level, maximum = gateway.get("rest_level"), gateway.get("rest_max")
    if isinstance(level, int | float) and isinstance(maximum, int | float):
        parts.append(f"REST {maximum - level:.1f}/{maximum:g}")
    for pair, headroom in sorted((gateway.get("trading_headroom") or {}).items()):
        parts.append(f"{pair} {headroom:.1f}")
    return ", ".join(parts)
