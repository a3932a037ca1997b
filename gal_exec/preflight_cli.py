"""Running ``gal-exec check``: set up the exchange the config names (starting the embedded
simulator in sim and paper mode, loading the key in kraken mode), run the preflight, print one
line per check or JSON.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from gal_exec.config import Config
from gal_exec.kraken.auth import Credentials, load_credentials
from gal_exec.kraken.errors import CredentialsError
from gal_exec.preflight import CheckResult, Preflight

__all__ = ["check_command", "format_results", "run_checks"]


def run_checks(
    config: Config,
    *,
    pairs: Sequence[str] | None = None,
    journal_path: str | Path | None = None,
    environ: Mapping[str, str] = os.environ,
    clock_offset_warn_s: float = 2.0,
    feed_wait_s: float | None = None,
) -> list[CheckResult]:
    """Every check against the configured exchange; starts (and stops) the embedded simulator
    in sim and paper mode."""
    chosen = list(pairs) if pairs else list(config.market_data.pairs)
    journal_file = Path(journal_path or config.journal.path)
    mode = config.exchange.mode
    results: list[CheckResult] = []
    simulator: Any = None
    feed: Any = None
    try:
        if mode == "kraken":
            rest_url = config.exchange.rest_url
            try:
                credentials: Credentials | None = load_credentials(
                    config.exchange.api_key_env, config.exchange.api_secret_env, environ
                )
                results.append(
                    CheckResult(
                        name="credentials",
                        status="ok",
                        detail=f"key and secret from ${config.exchange.api_key_env} and "
                        f"${config.exchange.api_secret_env} (secret well formed)",
                    )
                )
            except CredentialsError as exc:
                credentials = None
                results.append(CheckResult(name="credentials", status="fail", detail=str(exc)))
        else:
            from gal_exec.paper import PaperSetupError, paper_feed, paper_simulator
            from gal_exec.sim.server import Simulator

            try:
                if mode == "paper":
                    feed = paper_feed(config)
                    simulator = paper_simulator(config, feed)
                else:
                    simulator = Simulator(config.sim)
            except PaperSetupError as exc:
                return [CheckResult(name="exchange", status="fail", detail=str(exc))]
            simulator.start()
            rest_url = simulator.rest_url
            credentials = Credentials(simulator.api_key, simulator.api_secret)
        results.insert(0, CheckResult(name="exchange", status="ok", detail=f"{mode}: {rest_url}"))
        if feed is not None:
            wait = feed_wait_s if feed_wait_s is not None else config.paper.liveness_timeout_s
            results.append(_feed_result(feed, wait))
        preflight = Preflight(
            config,
            rest_url=rest_url,
            credentials=credentials,
            journal_path=journal_file,
            pairs=chosen,
            clock_offset_warn_s=clock_offset_warn_s,
        )
        preflight.results = results
        return preflight.run()
    finally:
        if simulator is not None:
            simulator.stop()


def _feed_result(feed: Any, wait_s: float) -> CheckResult:
    """Paper mode: the public feed must quote every followed pair within ``wait_s``."""
    deadline = time.monotonic() + wait_s
    with feed.changed:
        while True:
            quoted = feed.quoted_symbols()
            if quoted >= set(feed.symbols) or time.monotonic() >= deadline:
                break
            feed.changed.wait(max(0.0, deadline - time.monotonic()))
    missing = [symbol for symbol in feed.symbols if symbol not in quoted]
    if missing:
        return CheckResult(
            name="price feed",
            status="fail",
            detail=f"no quote for {', '.join(missing)} from {feed.url} within {wait_s:g} s",
        )
    return CheckResult(
        name="price feed", status="ok", detail=f"{feed.url} quotes {', '.join(feed.symbols)}"
    )


# ---- the command ----------------------------------------------------------------------------

_MARK = {"ok": "ok", "warn": "warn", "fail": "FAIL"}


def format_results(results: Sequence[CheckResult]) -> str:
    """One line per check: ``ok``/``warn``/``FAIL``, the check's name, the detail."""
    width = max((len(result.name) for result in results), default=0)
    return "\n".join(
        f"{_MARK[result.status]:<4}  {result.name:<{width}}  {result.detail}" for result in results
    )


def check_command(argv: Sequence[str]) -> int:
    """``gal-exec check``: 0 when nothing failed (with --strict, nothing warned either), 1
    otherwise, 2 for a bad config or usage."""
    import argparse
    import sys

    from gal_exec.config import ConfigError, load_config

    parser = argparse.ArgumentParser(
        prog="gal-exec check",
        description="Check the key, its permissions, the clock, balances, the dead man's switch "
        "and the journal against the configured exchange before going live.",
    )
    parser.add_argument("--config", help="configuration file (default: ./config.toml if present)")
    parser.add_argument(
        "--pairs", help="comma-separated pairs whose balances to show (default: market_data.pairs)"
    )
    parser.add_argument("--journal", help="the SQLite journal (overrides journal.path)")
    parser.add_argument("--json", action="store_true", help="one JSON object for machines")
    parser.add_argument("--strict", action="store_true", help="exit 1 on a warning too")
    parser.add_argument(
        "--max-clock-offset",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="warn when the clock is further than this from the exchange's (default 2)",
    )
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    pairs = [name.strip() for name in args.pairs.split(",") if name.strip()] if args.pairs else None
    # The lines printed below are the report: a reconnecting feed or a retried call stays quiet.
    quiet = logging.getLogger("gal_exec")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        results = run_checks(
            config,
            pairs=pairs,
            journal_path=args.journal,
            clock_offset_warn_s=args.max_clock_offset,
        )
    finally:
        quiet.setLevel(level)
    failed = any(result.status == "fail" for result in results)
    warned = any(result.status == "warn" for result in results)
    if args.json:
        summary = {
            "ok": not failed and not (args.strict and warned),
            "mode": config.exchange.mode,
            "checks": [msgspec.to_builtins(result) for result in results],
        }
        print(msgspec.json.encode(summary).decode())
    else:
        print(format_results(results))
    return 1 if failed or (args.strict and warned) else 0
