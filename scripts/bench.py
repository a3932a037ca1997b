"""Benchmarks side by side: gal_exec against the simulator, beside other ways of calling Kraken.

    .venv/bin/python scripts/bench.py [--quick] [--cases signal_to_wire,scale] [--no-write]
                                      [--output docs/benchmarks.md] [--note "busy machine"]

Cases (each in its own child process, the simulator in another; faults off):

1. signal_to_wire  TradeSignalApproved -> the simulator takes the order, p50/p99, the engine with
                   WebSocket and with REST order entry, beside a raw websocket-client add_order
                   (the WS floor), a raw http.client POST (the REST floor), requests.Session,
                   python-kraken-sdk and ccxt, with where the engine's time goes
2. fill_to_report  a fill on the executions channel -> ExecutionReport at a callback
3. throughput      5,000 IOC orders over 10 pairs, limits off, coalescing on and off
4. utilisation     a sustained burst on one pair at each tier against Kraken's enforced limits
5. scale           1,000 and 10,000 live orders: memory, spawn rate, status calls per minute
6. scaleout        signal through Redis Streams -> wire beside Engine.submit, intake rate,
                   failover time after a SIGKILL (needs Redis: GAL_BENCH_REDIS_URL)

A benchmark, not a test: it prints tables of medians, p99s and ratios and writes them, with the
machine, to docs/benchmarks.md. It never fails on a number; it exits 1 only if a case could not
run. ``--quick`` (fewer rounds and orders, shorter windows) finishes in about two minutes.
Optional clients (python-kraken-sdk, ccxt) are skipped with a line when not installed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import shlex
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_report import RENDERERS, markdown
from bench_support import ROOT, log, machine

CASES: dict[str, tuple[str, str]] = {
    "signal_to_wire": ("bench_latency", "case_signal_to_wire"),
    "fill_to_report": ("bench_latency", "case_fill_to_report"),
    "throughput": ("bench_load", "case_throughput"),
    "utilisation": ("bench_load", "case_utilisation"),
    "scale": ("bench_scale", "case_scale"),
    "scaleout": ("bench_scaleout", "case_scaleout"),
}
_RESULT = "BENCH-RESULT "
_CHILD_TIMEOUT_S = {True: 300, False: 1800}

SETTINGS = [
    "simulator: `gal-exec sim --clock real` in its own process on 127.0.0.1 (own GIL), "
    "faults off; a quiet market (volatility 0 bps, a step every 30 s, deep liquidity) so "
    "orders far from it never fill by chance; tier and rate limits per case",
    "engine: `Engine.start(config, endpoints=...)` in the bench's process, each run on a fresh "
    "simulator account and a fresh journal under var/bench/ (ext4 here, not tmpfs)",
    "engine config: defaults unless a case says otherwise: journal on, synchronous normal; "
    "exchange.order_entry ws (orders over the authenticated WebSocket; case 1 also runs the "
    "engine with rest), exchange.http_client stdlib, http_workers 2, nonce_window 0 (so one "
    "private REST call in flight at a time); engine.coalesce_batches on; exchange.tier pro "
    "(case 4: each tier); dead man's switch off (auto: only against real Kraken)",
    "requests.Session baseline: keep-alive, trust_env off, signed with "
    "gal_exec.kraken.auth.sign_with_key; http.client floor: the same signing, one keep-alive "
    "connection; WS floor: websocket-client on one authenticated connection sending the "
    "engine's add_order frame (built before the clock starts) and reading its answer",
    "python-kraken-sdk: Trade(key, secret, url=simulator); ccxt: kraken with "
    "urls['api'] = {'public': simulator, 'private': simulator}, enableRateLimit off",
]


def _child(name: str, quick: bool) -> int:
    """Run one case here and print its result as the last stdout line."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    module, function = CASES[name]
    status = 0
    try:
        result = getattr(importlib.import_module(module), function)(quick)
        sys.stdout.write(_RESULT + json.dumps(result) + "\n")
    except Exception:
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # Actor threads the engine failed to stop must not hold the process open.
    os._exit(status)


def _run_case(name: str, quick: bool) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", name]
    if quick:
        command.append("--quick")
    started = time.monotonic()
    try:
        completed = subprocess.run(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            timeout=_CHILD_TIMEOUT_S[quick],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {_CHILD_TIMEOUT_S[quick]} s"}
    lines = [line for line in completed.stdout.splitlines() if line.startswith(_RESULT)]
    if completed.returncode != 0 or not lines:
        return {"error": f"the case exited with status {completed.returncode} (see stderr)"}
    result = json.loads(lines[-1][len(_RESULT) :])
    result["seconds"] = time.monotonic() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmarks side by side (prints figures; never fails on a number)."
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds: about two minutes")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--note", action="append", default=[], help="a line for the page")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.quick)
    names = [name.strip() for name in args.cases.split(",") if name.strip()]
    unknown = [name for name in names if name not in CASES]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; choose from {', '.join(CASES)}")

    started = time.monotonic()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    host = machine()
    sections = []
    failed = False
    for name in names:
        log(f"{name} ...")
        result = _run_case(name, args.quick)
        failed = failed or "error" in result
        seconds = result.get("seconds")
        log(
            f"{name}: {'error: ' + result['error'] if 'error' in result else 'done'}"
            + (f" in {seconds:.0f} s" if seconds else "")
        )
        sections.append(RENDERERS[name](result))
    load_end = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    header = {
        "intro": (
            "Written by `scripts/bench.py`; figures from one run on one machine. A benchmark, "
            "not a test: nothing here fails CI."
        ),
        "run": {
            "when": when,
            "command": shlex.join(
                ["scripts/bench.py", *(argv if argv is not None else sys.argv[1:])]
            ),
            "mode": "quick (fewer rounds and orders, shorter windows)" if args.quick else "full",
            "duration": f"{time.monotonic() - started:.0f} s",
            "load average at end": load_end,
            **{f"note {i + 1}": note for i, note in enumerate(args.note)},
        },
        "machine": host,
        "settings": SETTINGS,
    }
    page = markdown(sections, header)
    print(page)
    if not args.no_write:
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(page, encoding="utf-8")
        log(f"wrote {output}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
