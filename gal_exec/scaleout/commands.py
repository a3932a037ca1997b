"""Commands: ``gal-exec run --intake redis://...``, ``gal-exec send`` and ``gal-exec reports``.

Imported only when one of them is used, so the main job needs neither Redis nor redis-py.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from gal_exec.config import Config, ConfigError, load_config

__all__ = ["reports_command", "run_intake", "send_command"]

_MISSING = "gal-exec: this needs the redis package: pip install 'gal-exec[redis]'"


def _redis_available() -> bool:
    try:
        import redis  # noqa: F401
    except ImportError:
        return False
    return True


def run_intake(config: Config, args: argparse.Namespace) -> int:
    """``gal-exec run --intake redis://host:port/db?account=NAME``: standby, then owner."""
    from gal_exec.logs import setup_logging

    if args.signals is not None or args.journal is not None or args.until_done:
        print(
            "gal-exec: --intake takes signals from the broker and keeps its journals under "
            "redis.journal_dir: drop --signals, --journal and --until-done",
            file=sys.stderr,
        )
        return 2
    if not _redis_available():
        print(_MISSING, file=sys.stderr)
        return 2
    from gal_exec.engine import EngineError
    from gal_exec.journal import JournalError
    from gal_exec.scaleout.keys import parse_address
    from gal_exec.scaleout.node import EXIT_FENCED, AccountNode

    try:
        address = parse_address(args.intake)
    except ValueError as exc:
        print(f"gal-exec: --intake: {exc}", file=sys.stderr)
        return 2
    account = address.account or config.redis.account
    redaction = setup_logging(
        level=config.logging.level,
        json_lines=args.log_json or config.logging.json,
        file=config.logging.file,
    )
    stop = threading.Event()
    signals_seen = [0]

    def on_signal(_signum: int, _frame: Any) -> None:
        signals_seen[0] += 1
        if signals_seen[0] > 1:
            print("gal-exec: second signal, exiting now", file=sys.stderr)
            os._exit(1)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    import redis

    def on_leader(node: AccountNode) -> None:
        engine = node.engine
        assert engine is not None
        redaction.add(engine.endpoints.api_key, engine.endpoints.api_secret)
        print(
            f"gal-exec: account {account}: leader, epoch {node.lease.epoch}, "
            f"journal {node.journal_path}",
            file=sys.stderr,
        )

    try:
        node = AccountNode(
            config,
            url=address.url,
            account=account,
            reports_path=args.reports,
            stop=stop,
            on_leader=on_leader,
        )
        print(
            f"gal-exec: account {account}: standby on {address.url} (owner {node.owner})",
            file=sys.stderr,
        )
        code = node.run()
    except (EngineError, JournalError) as exc:
        print(f"gal-exec: {exc}", file=sys.stderr)
        return 2
    except redis.RedisError as exc:
        print(f"gal-exec: redis {address.url}: {exc}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code == EXIT_FENCED:
        print(
            f"gal-exec: account {account}: fenced (lease lost: {node.lease.lost_reason}); "
            "stopped without touching the orders",
            file=sys.stderr,
        )
    return code


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    from gal_exec.cli import _Parser

    return _Parser(prog=prog, description=description)


def send_command(argv: Sequence[str]) -> int:
    """``gal-exec send --to redis://... [--account A] FILE|-``: publish JSON lines."""
    parser = _parser("gal-exec send", "Publish signals (JSON lines) to an account's stream.")
    parser.add_argument("source", metavar="FILE|-", help="JSON-lines file, or - for stdin")
    parser.add_argument("--to", required=True, help="redis://host:port/db[?account=NAME]")
    parser.add_argument("--account", help="the account (overrides ?account=)")
    parser.add_argument("--config", help="configuration file (for redis.key_prefix)")
    args = parser.parse_args(list(argv))
    config = _config(args.config)
    if config is None:
        return 2
    if not _redis_available():
        print(_MISSING, file=sys.stderr)
        return 2
    import redis

    from gal_exec.messages import MessageDecodeError
    from gal_exec.scaleout.publisher import SignalPublisher

    try:
        publisher = SignalPublisher(
            args.to, account=args.account or None, key_prefix=config.redis.key_prefix
        )
    except ValueError as exc:
        print(f"gal-exec send: {exc}", file=sys.stderr)
        return 2
    try:
        source = sys.stdin if args.source == "-" else open(args.source, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        print(f"gal-exec send: cannot read {args.source}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    sent = bad = 0
    try:
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            try:
                publisher.publish(line)
            except MessageDecodeError as exc:
                bad += 1
                print(f"gal-exec send: line {number}: {exc} (not sent)", file=sys.stderr)
                continue
            sent += 1
    except redis.RedisError as exc:
        print(f"gal-exec send: redis: {exc} (after {sent} sent)", file=sys.stderr)
        return 1
    finally:
        if source is not sys.stdin:
            source.close()
        publisher.close()
    print(f"gal-exec send: {sent} sent to {publisher.keys.signals}", file=sys.stderr)
    return 1 if bad else 0


def reports_command(argv: Sequence[str]) -> int:
    """``gal-exec reports --from redis://... [--account A] [--follow]``: print the report stream."""
    parser = _parser("gal-exec reports", "Print an account's report stream as JSON lines.")
    parser.add_argument("--from", dest="source", required=True, help="redis://host:port/db")
    parser.add_argument("--account", help="the account (overrides ?account=)")
    parser.add_argument("--config", help="configuration file (for redis.key_prefix)")
    parser.add_argument("--follow", action="store_true", help="keep waiting for new reports")
    parser.add_argument("--new", action="store_true", help="only reports published from now on")
    args = parser.parse_args(list(argv))
    config = _config(args.config)
    if config is None:
        return 2
    if not _redis_available():
        print(_MISSING, file=sys.stderr)
        return 2
    import redis

    from gal_exec.messages import encode
    from gal_exec.scaleout.publisher import ReportReader

    try:
        reader = ReportReader(
            args.source,
            account=args.account or None,
            key_prefix=config.redis.key_prefix,
            start="$" if args.new else "0-0",
        )
    except ValueError as exc:
        print(f"gal-exec reports: {exc}", file=sys.stderr)
        return 2
    try:
        while True:
            reports = reader.read(block_ms=1000 if args.follow or args.new else None)
            for report in reports:
                sys.stdout.write(encode(report).decode() + "\n")
            sys.stdout.flush()
            if not reports and not (args.follow or args.new):
                return 0
    except redis.RedisError as exc:
        print(f"gal-exec reports: redis: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, BrokenPipeError):
        return 0
    finally:
        reader.close()


def _config(path: str | None) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None
