"""Shared pieces of the scale-out tests: engine settings against a simulator, nodes run in this
process or as real ``gal-exec run --intake`` processes, and what the exchange and streams hold."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
import requests

from gal_exec.config import Config, decode_config
from gal_exec.core.fencing import epoch_of
from gal_exec.journal import Journal
from gal_exec.messages import ExecutionReport
from gal_exec.scaleout.keys import AccountKeys
from gal_exec.scaleout.node import AccountNode, epoch_journals
from tests.recovery.harness import wait_until

__all__ = [
    "ACCOUNT",
    "KEY_ENV",
    "SECRET_ENV",
    "NodeProcess",
    "exchange_orders",
    "market",
    "node_in_thread",
    "orders_by_signal",
    "reports_in_stream",
    "settings",
    "wait_until",
]

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "acct"
KEY_ENV = "GAL_SCALEOUT_API_KEY"
SECRET_ENV = "GAL_SCALEOUT_API_SECRET"
WAIT_S = 30.0


def settings(
    endpoints: dict[str, Any], prefix: str, journal_dir: Path, **redis_settings: Any
) -> dict[str, dict[str, Any]]:
    """Config sections: kraken mode against the simulator, quick resolution, a short lease."""
    return {
        "exchange": {
            "mode": "kraken",
            "rest_url": endpoints["rest_url"],
            "ws_url": endpoints["ws_url"],
            "ws_auth_url": endpoints["ws_auth_url"],
            "api_key_env": KEY_ENV,
            "api_secret_env": SECRET_ENV,
            "tier": "pro",
        },
        "engine": {"dead_man_switch": "off"},
        # These runs exercise failover, not pre-trade risk: the live-mode limits are off.
        "risk": {
            "market_notional_cap": "0",
            "max_exposure_per_pair": "0",
            "max_exposure_total": "0",
        },
        "orders": {
            "resolve_delay_s": 0.2,
            "resolve_attempts": 2,
            "poll_interval_s": 0.5,
            "stream_up_poll_interval_s": 2.0,
            "cancel_retry_s": 0.5,
        },
        "redis": {
            "key_prefix": prefix,
            "account": ACCOUNT,
            "journal_dir": str(journal_dir),
            "lease_ttl_s": 2.0,
            "lease_renew_s": 0.3,
            "lease_margin_s": 0.5,
            "block_ms": 200,
            "claim_idle_s": 2.0,
            "ready_timeout_s": 20.0,
        }
        | redis_settings,
        "logging": {"level": "INFO"},
    }


def config_of(sections: dict[str, dict[str, Any]]) -> Config:
    return decode_config(sections)


def market(signal_id: str, quantity: str = "0.01", **fields: Any) -> dict[str, Any]:
    return {
        "type": "TradeSignalApproved",
        "signal_id": signal_id,
        "pair": "XBTUSD",
        "side": "buy",
        "order_type": "market",
        "quantity": quantity,
    } | fields


@contextmanager
def node_in_thread(
    config: Config, redis_url: str, endpoints: dict[str, Any]
) -> Iterator[AccountNode]:
    """An AccountNode running in this process until the block ends (then stopped cleanly)."""
    os.environ[KEY_ENV] = endpoints["api_key"]
    os.environ[SECRET_ENV] = endpoints["api_secret"]
    stop = threading.Event()
    node = AccountNode(config, url=redis_url, account=ACCOUNT, stop=stop)
    outcome: list[int] = []
    thread = threading.Thread(target=lambda: outcome.append(node.run()), daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: node.state == "leader" or not thread.is_alive(), WAIT_S)
        assert node.state == "leader", f"node did not lead (exited {outcome})"
        yield node
    finally:
        stop.set()
        thread.join(WAIT_S)


def exchange_orders(endpoints: dict[str, Any]) -> list[dict[str, Any]]:
    """The simulator's orders of our API key."""
    url = f"{endpoints['control_url']}/orders"
    session = requests.Session()
    session.trust_env = False
    try:
        orders = session.get(url, timeout=10).json()["orders"]
    finally:
        session.close()
    return [order for order in orders if order["api_key"] == endpoints["api_key"]]


def orders_by_signal(journal_dir: Path) -> dict[str, str]:
    """cl_ord_id -> signal_id from every epoch's journal of the account."""
    found: dict[str, str] = {}
    for path in epoch_journals(journal_dir / ACCOUNT).values():
        with Journal.open(path, read_only=True) as journal:
            found.update({order.cl_ord_id: order.signal_id for order in journal.orders()})
    return found


def reports_in_stream(client: redis.Redis, keys: AccountKeys) -> list[ExecutionReport]:
    """Every report entry of the stream, in stream order (duplicates kept)."""
    import msgspec

    decoder = msgspec.json.Decoder(ExecutionReport)
    return [decoder.decode(fields[b"msg"]) for _id, fields in client.xrange(keys.reports)]


class NodeProcess:
    """``python -m gal_exec run --intake redis://...?account=acct`` in a process of its own."""

    def __init__(
        self, workdir: Path, name: str, sections: dict[str, dict[str, Any]], redis_url: str
    ):
        self.workdir = workdir
        self.name = name
        self.redis_url = redis_url
        self.config = workdir / f"{name}.toml"
        lines = []
        for section, values in sections.items():
            lines.append(f"[{section}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        self.config.write_text("\n".join(lines) + "\n")
        self.stderr = workdir / f"{name}.err"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, endpoints: dict[str, Any]) -> NodeProcess:
        env = dict(os.environ)
        env[KEY_ENV] = endpoints["api_key"]
        env[SECRET_ENV] = endpoints["api_secret"]
        with self.stderr.open("ab") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gal_exec", "run", "--config", str(self.config)]
                + ["--intake", f"{self.redis_url}?account={ACCOUNT}"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def leads(self, client: redis.Redis, keys: AccountKeys) -> bool:
        """True once the lease names this process (it may still be starting its engine)."""
        holder = client.get(keys.lease)
        return holder is not None and f":{self.pid}:" in holder.decode()

    def epoch(self, client: redis.Redis, keys: AccountKeys) -> int | None:
        holder = client.get(keys.lease)
        if holder is None or f":{self.pid}:" not in holder.decode():
            return None
        return int(holder.decode().split(":", 1)[0])

    def taking_signals(self) -> bool:
        return "leader, epoch" in self.log()

    def log(self) -> str:
        return self.stderr.read_text(errors="replace") if self.stderr.exists() else ""

    def signal(self, signum: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signum)

    def wait(self, timeout: float) -> int | None:
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """SIGKILL (after SIGCONT, in case it is stopped) and reap; safe to call twice."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        for signum in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(process.pid, signum)
            except ProcessLookupError:
                break
        process.wait(timeout=10)


def epochs_of(orders: list[dict[str, Any]]) -> dict[str, int | None]:
    return {order["cl_ord_id"]: epoch_of(order["cl_ord_id"] or "") for order in orders}
