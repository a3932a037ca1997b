"""Case 5 of scripts/bench.py: many simultaneously live orders: resident memory, spawn rate, and
REST calls per minute spent on order status while the executions stream is up and while it is
down.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench_engine import EngineRun, signal
from bench_support import SimProcess, log, pairs_of, resident_mib, thread_count

from gal_exec.actors.gateway import GatewayHealth

STACK_KIB = 128
STATUS_ENDPOINTS = ("QueryOrders", "OpenOrders", "ClosedOrders")


class ProxyProcess:
    """scripts/bench_proxy.py in front of the simulator's authenticated WS port."""

    def __init__(self, ws_url: str) -> None:
        self.target = urlsplit(ws_url)
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> ProxyProcess:
        script = Path(__file__).with_name("bench_proxy.py")
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(self.target.hostname), str(self.target.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        port = int(self.process.stdout.readline())
        self.url = f"{self.target.scheme}://127.0.0.1:{port}{self.target.path}"
        return self

    def _command(self, word: str) -> None:
        assert self.process is not None and self.process.stdin and self.process.stdout
        self.process.stdin.write(word + "\n")
        self.process.stdin.flush()
        self.process.stdout.readline()

    def down(self) -> None:
        self._command("down")

    def up(self) -> None:
        self._command("up")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _status_calls(run: EngineRun) -> tuple[int, GatewayHealth]:
    health = run.gateway_health()
    return sum(health.calls.get(name, 0) for name in STATUS_ENDPOINTS), health


def _one_size(size: int, window: float) -> dict[str, Any]:
    with (
        SimProcess(tier="pro", rate_limits=False) as sim,
        ProxyProcess(sim.endpoints["ws_auth_url"]) as proxy,
    ):
        pairs = pairs_of(sim)
        rss_start = resident_mib()
        run = EngineRun(
            sim, tier="pro", stack_kib=STACK_KIB, lift_trading=True, ws_auth_url=proxy.url
        )
        try:
            rss_engine = resident_mib()
            signals = []
            for index in range(size):
                pair = pairs[index % len(pairs)]
                price, volume = pair.far_buy()
                signals.append(signal(f"sc-{index}", pair, price, volume, time_in_force="GTC"))
            started = time.time()
            for message in signals:
                run.engine.submit(message)
            # The answer queues behind every signal: it comes once all of them are spawned.
            spawned_orders = run.supervisor_health(timeout=900).orders
            spawned = time.time()
            if not run.wait_acks(size, timeout=900):
                raise RuntimeError(f"only {len(run.acks)} of {size} orders acknowledged")
            acked = time.time()
            live = run.supervisor_health().live_orders
            time.sleep(2.0)  # let the acknowledgement traffic settle
            rss_live = resident_mib()
            threads = thread_count()
            log(f"  {size}: {live} live, {rss_live:.0f} MiB, {threads} threads; stream up window")

            up_before, _ = _status_calls(run)
            time.sleep(window)
            up_after, _ = _status_calls(run)

            proxy.down()
            down_at = time.time()
            run.wait_stream(False, timeout=30)
            down_before, _ = _status_calls(run)
            log(f"  {size}: stream down after {time.time() - down_at:.1f} s; stream down window")
            time.sleep(window)
            down_after, health = _status_calls(run)
            rss_down = resident_mib()
            up_at = time.time()
            proxy.up()
            # Stopping while every order polls is far slower (see the report): reconnect first.
            run.wait_stream(True, timeout=120)
            reconnected = time.time() - up_at
        finally:
            run.stop()
    return {
        "orders": size,
        "spawned_orders": spawned_orders,
        "live_orders": live,
        "spawn_seconds": spawned - started,
        "spawn_rate": size / (spawned - started),
        "ack_seconds": acked - started,
        "ack_rate": size / (acked - started),
        "rss_start_mib": rss_start,
        "rss_engine_mib": rss_engine,
        "rss_live_mib": rss_live,
        "rss_after_down_mib": rss_down,
        "threads": threads,
        "window_s": window,
        "status_calls_up": up_after - up_before,
        "status_calls_down": down_after - down_before,
        "status_per_min_up": (up_after - up_before) * 60 / window,
        "status_per_min_down": (down_after - down_before) * 60 / window,
        "queued_after_down": health.queued,
        "reconnect_seconds": reconnected,
        "stop_seconds": run.stop_seconds,
    }


def case_scale(quick: bool) -> dict[str, Any]:
    """Case 5: resting buys far from the market over every pair, GTC with a day's timeout.

    The simulator runs with ``--no-rate-limits`` (Kraken's 225 open orders per pair would cap a
    key at 2,700 over the simulator's 12 pairs) and the engine's trading-counter and open-order
    models are lifted; its REST-counter model stays Kraken's pro tier, which is what paces
    status queries. "Stream down": a proxy in front of the WS endpoint refuses connections.
    """
    sizes, window = ((500, 1000), 8.0) if quick else ((1000, 10_000), 60.0)
    rows = []
    for size in sizes:
        rows.append(_one_size(size, window))
        row = rows[-1]
        log(
            f"  {size}: spawn {row['spawn_rate']:.0f}/s, {row['rss_live_mib']:.0f} MiB, "
            f"status/min up {row['status_per_min_up']:.1f} down {row['status_per_min_down']:.1f}"
        )
    return {
        "rows": rows,
        "notes": [],
        "settings": {"stack_kib": STACK_KIB, "window_s": window},
    }
