"""The scale-out side of scripts/bench.py: signals through Redis Streams beside the in-process path,
the intake's sustained rate, and the time a standby takes to take over from a killed leader.

Needs a Redis server (GAL_BENCH_REDIS_URL, default redis://127.0.0.1:6379/0) and redis-py.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench_engine import EngineRun
from bench_engine import signal as far_signal
from bench_support import PRE_ACK, ROOT, SCRATCH, SimProcess, log, pairs_of, summary

from gal_exec.config import decode_config
from gal_exec.messages import encode

REDIS_URL = os.environ.get("GAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ACCOUNT = "bench"
_KEY_ENV, _SECRET_ENV = "GAL_BENCH_API_KEY", "GAL_BENCH_API_SECRET"


def _sections(sim: SimProcess, prefix: str, journal_dir: Path, **redis: Any) -> dict[str, Any]:
    return {
        "exchange": {
            "mode": "kraken",
            "rest_url": sim.rest_url,
            "ws_url": sim.endpoints["ws_url"],
            "ws_auth_url": sim.endpoints["ws_auth_url"],
            "api_key_env": _KEY_ENV,
            "api_secret_env": _SECRET_ENV,
            "tier": "pro",
        },
        "engine": {"dead_man_switch": "off"},
        # Far IOC buys without prices to value them: the live-mode risk limits are off.
        "risk": {
            "market_notional_cap": "0",
            "max_exposure_per_pair": "0",
            "max_exposure_total": "0",
        },
        "redis": {
            "url": REDIS_URL,
            "key_prefix": prefix,
            "account": ACCOUNT,
            "journal_dir": str(journal_dir),
            "lease_ttl_s": 2.0,
            "lease_renew_s": 0.3,
            "lease_margin_s": 0.5,
            "block_ms": 200,
        }
        | redis,
        "logging": {"level": "WARNING"},
    }


class NodeRun:
    """An AccountNode in this process on a fresh simulator account, journal folder and prefix;
    ``acks[signal_id]`` is the acknowledging report's cl_ord_id."""

    def __init__(self, sim: SimProcess, **redis: Any) -> None:
        from gal_exec.scaleout import SignalPublisher
        from gal_exec.scaleout.node import AccountNode

        key, secret = sim.new_account()
        os.environ[_KEY_ENV], os.environ[_SECRET_ENV] = key, secret
        SCRATCH.mkdir(parents=True, exist_ok=True)
        self.prefix = "bench-" + secrets.token_hex(4)
        directory = Path(tempfile.mkdtemp(prefix="node-", dir=SCRATCH))
        config = decode_config(_sections(sim, self.prefix, directory, **redis))
        self.acks: dict[str, str] = {}
        self.condition = threading.Condition()
        self.stop_event = threading.Event()
        self.node = AccountNode(
            config,
            url=REDIS_URL,
            account=ACCOUNT,
            callbacks=[self._on_report],
            stop=self.stop_event,
        )
        self.thread = threading.Thread(target=self.node.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while self.node.state != "leader" and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.node.state != "leader":
            raise RuntimeError("the node did not take the lease")
        self.publisher = SignalPublisher(f"{REDIS_URL}?account={ACCOUNT}", key_prefix=self.prefix)

    def _on_report(self, report: Any) -> None:
        if report.status not in PRE_ACK and report.signal_id not in self.acks:
            self.acks[report.signal_id] = report.client_order_id
        with self.condition:
            self.condition.notify_all()

    def wait(self, predicate: Any, timeout: float) -> bool:
        with self.condition:
            return self.condition.wait_for(predicate, timeout)

    def stop(self) -> None:
        import redis

        self.stop_event.set()
        self.thread.join(30)
        self.publisher.close()
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{self.prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def _latency(sim: SimProcess, rounds: int, per_round: int) -> dict[str, Any]:
    """Closed loop, one order at a time, far IOC buys: start (before submit / publish) to the
    simulator's opentm, for the in-process path and through Redis, rounds interleaved."""
    pairs = pairs_of(sim)
    records: dict[str, list[tuple[str, float]]] = {"in-process": [], "redis": []}
    for round_index in range(rounds):
        order = ("in-process", "redis") if round_index % 2 == 0 else ("redis", "in-process")
        for path in order:
            run: Any = EngineRun(sim, tier="pro") if path == "in-process" else NodeRun(sim)
            try:
                for index in range(-20, per_round):  # 20 warm-up orders
                    pair = pairs[index % len(pairs)]
                    price, volume = pair.far_buy()
                    message = far_signal(f"{path}-{round_index}-{index}", pair, price, volume)
                    begin = time.time()
                    if path == "in-process":
                        run.engine.submit(message)
                    else:
                        run.publisher.publish(message)
                    if not run.wait(lambda m=message, r=run: m.signal_id in r.acks, 30):
                        raise RuntimeError(f"no acknowledgement for {message.signal_id}")
                    if index >= 0:
                        ack = run.acks[message.signal_id]
                        cl_ord_id = ack if isinstance(ack, str) else ack[1].client_order_id
                        records[path].append((cl_ord_id, begin))
            finally:
                run.stop()
            log(f"  latency round {round_index + 1}/{rounds}: {path} done")
    opened = {o["cl_ord_id"]: o["opentm"] for o in sim.orders() if o.get("cl_ord_id")}
    return {
        path: summary([opened[c] - begin for c, begin in items if c in opened])
        for path, items in records.items()
    }


def _intake_rate(sim: SimProcess, count: int) -> dict[str, Any]:
    """``count`` far IOC signals published in one pipeline: the time until the intake journaled
    and acknowledged all of them, and until the engine acknowledged every order."""
    pairs = pairs_of(sim)
    run = NodeRun(sim, read_count=500)
    try:
        messages = []
        for index in range(count):
            pair = pairs[index % len(pairs)]
            price, volume = pair.far_buy()
            messages.append(far_signal(f"rate-{index}", pair, price, volume))
        intake = run.node.intake
        assert intake is not None
        begin = time.monotonic()
        run.publisher.publish_many(messages)
        published = time.monotonic() - begin
        while intake.stats.journaled < count and time.monotonic() - begin < 300:
            time.sleep(0.002)
        journaled = time.monotonic() - begin
        run.wait(lambda: len(run.acks) >= count, 600)
        acknowledged = time.monotonic() - begin
    finally:
        run.stop()
    return {
        "signals": count,
        "publish_s": published,
        "journaled_s": journaled,
        "acknowledged_s": acknowledged,
    }


_NODE = """
import sys
from gal_exec.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _failover(sim: SimProcess, repeats: int) -> list[dict[str, float]]:
    """Two `gal-exec run --intake` processes; SIGKILL the leader, publish a signal at once: the
    time until the standby says it leads, and until that signal's order is on the exchange."""
    import redis

    from gal_exec.scaleout import SignalPublisher

    pairs = pairs_of(sim)
    results = []
    for repeat in range(repeats):
        key, secret = sim.new_account()
        prefix = "bench-" + secrets.token_hex(4)
        directory = Path(tempfile.mkdtemp(prefix="failover-", dir=SCRATCH))
        config = directory / "node.toml"
        lines = []
        for section, values in _sections(sim, prefix, directory / "journals").items():
            lines.append(f"[{section}]")
            lines += [f"{name} = {json.dumps(value)}" for name, value in values.items()]
        config.write_text("\n".join(lines) + "\n")
        env = {**os.environ, _KEY_ENV: key, _SECRET_ENV: secret, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-c", _NODE, "run", "--config", str(config)]
        command += ["--intake", f"{REDIS_URL}?account={ACCOUNT}"]
        processes = []
        logs = []
        try:
            for name in ("a", "b"):
                log_path = directory / f"{name}.err"
                logs.append(log_path)
                with log_path.open("wb") as stderr:
                    processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stderr=stderr))
                deadline = time.monotonic() + 60
                marker = "leader, epoch" if name == "a" else "standby on"
                while marker not in log_path.read_text() and time.monotonic() < deadline:
                    time.sleep(0.01)
            publisher = SignalPublisher(f"{REDIS_URL}?account={ACCOUNT}", key_prefix=prefix)
            pair = pairs[repeat % len(pairs)]
            price, volume = pair.far_buy()
            message = far_signal(f"failover-{repeat}", pair, price, volume)
            processes[0].send_signal(signal.SIGKILL)
            killed = time.time()
            publisher.publish(encode(message))
            publisher.close()
            deadline = time.monotonic() + 60
            leads = None
            while time.monotonic() < deadline:
                if leads is None and "leader, epoch" in logs[1].read_text():
                    leads = time.time() - killed
                placed = [
                    o["opentm"]
                    for o in sim.orders()
                    if o["api_key"] == key and o["opentm"] > killed
                ]
                if placed:
                    results.append(
                        {"leader_s": leads or float("nan"), "placed_s": placed[0] - killed}
                    )
                    break
                time.sleep(0.02)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)
            client = redis.Redis.from_url(REDIS_URL)
            stale = list(client.scan_iter(match=f"{prefix}:*"))
            if stale:
                client.delete(*stale)
            client.close()
        log(f"  failover {repeat + 1}/{repeats} done")
    return results


def case_scaleout(quick: bool) -> dict[str, Any]:
    """Case 6: through Redis beside in-process; intake rate; failover after a SIGKILL."""
    rounds, per_round, count, repeats = (2, 150, 1000, 2) if quick else (4, 500, 5000, 5)
    with SimProcess(tier="pro", rate_limits=False) as sim:
        latency = _latency(sim, rounds, per_round)
        rate = _intake_rate(sim, count)
        failover = _failover(sim, repeats)
    return {
        "latency": latency,
        "rate": rate,
        "failover": failover,
        "settings": {
            "rounds": rounds,
            "orders_per_round": per_round,
            "lease_ttl_s": 2.0,
            "lease_renew_s": 0.3,
            "lease_margin_s": 0.5,
        },
    }
