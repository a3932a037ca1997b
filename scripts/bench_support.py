"""Shared parts of scripts/bench.py: the simulator in its own process, its control API, its
pairs, figures, and the machine's description.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import math
import os
import platform
import secrets
import subprocess
import sys
import threading
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / "var" / "bench"  # a real disk, not tmpfs: journal commits cost what they cost

# Reports before the exchange's answer: anything else means the order was acknowledged (or ended).
PRE_ACK = frozenset({"pending_submit", "submitted"})


def log(text: str) -> None:
    """Progress goes to stderr, so a case's stdout carries only its result."""
    print(text, file=sys.stderr, flush=True)


# --- figures -----------------------------------------------------------------------------------


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` 0..1) of a non-empty list."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summary(samples: list[float]) -> dict[str, float]:
    """Count, median, p99 and mean (inputs and outputs in seconds)."""
    if not samples:
        return {"n": 0, "p50": math.nan, "p99": math.nan, "mean": math.nan}
    return {
        "n": len(samples),
        "p50": percentile(samples, 0.5),
        "p99": percentile(samples, 0.99),
        "mean": sum(samples) / len(samples),
    }


def resident_mib(pid: int | str = "self") -> float:
    """Resident set size of a process in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def thread_count() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return threading.active_count()


def machine() -> dict[str, str]:
    """What the figures ran on: CPU, cores, memory, OS, Python, load at the start."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load_average_at_start": load,
    }


# --- the simulator in its own process ----------------------------------------------------------

# The watchdog ends the simulator if the bench dies without stopping it.
_SIM_LAUNCHER = """
import json, os, sys, threading, time
import msgspec
from gal_exec.config import SimConfig
from gal_exec.sim.server import run_standalone

def watch(parent):
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)

threading.Thread(target=watch, args=(os.getppid(),), daemon=True).start()
base = msgspec.convert(json.loads(sys.argv[1]), SimConfig)
sys.exit(run_standalone(sys.argv[2:], base=base))
"""

# A quiet market: no drift (orders far from it never fill by chance), deep liquidity (a price
# move fills a whole order), and rare automatic steps (they cost the simulator CPU per order).
QUIET_MARKET = {"volatility_bps": 0.0, "step_interval_s": 30.0, "liquidity_per_step": 1e6}


class SimProcess:
    """``gal-exec sim`` in a child process (its own GIL), with a keep-alive control connection."""

    def __init__(self, *, tier: str = "pro", rate_limits: bool = False, **config: Any) -> None:
        self.tier = tier
        self.rate_limits = rate_limits
        self.config = {**QUIET_MARKET, **config}
        self.process: subprocess.Popen[str] | None = None
        self.endpoints: dict[str, str] = {}
        self._control: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def start(self) -> SimProcess:
        argv = [json.dumps(self.config), "--tier", self.tier, "--clock", "real"]
        if not self.rate_limits:
            argv.append("--no-rate-limits")
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SIM_LAUNCHER, *argv],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("the simulator did not start (see its stderr above)")
        self.endpoints = json.loads(line)
        url = urlsplit(self.endpoints["rest_url"])
        self._control = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        return self

    def stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def rest_url(self) -> str:
        return self.endpoints["rest_url"]

    # -- control API --

    def control(self, verb: str, path: str, body: Any = None) -> Any:
        """One /sim/ call on the keep-alive connection; raises on a non-200 answer."""
        payload = json.dumps(body).encode() if body is not None else b""
        with self._lock:
            assert self._control is not None
            self._control.request(
                verb, "/sim/" + path, payload, {"Content-Type": "application/json"}
            )
            response = self._control.getresponse()
            data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{verb} /sim/{path}: HTTP {response.status} {data[:200]!r}")
        return json.loads(data)

    def new_account(self) -> tuple[str, str]:
        """A fresh API key: its own nonces and rate counters (the engine adopts the simulator's
        counter readings, so runs must not share a key)."""
        key = "bench-" + secrets.token_hex(8)
        secret = base64.b64encode(os.urandom(64)).decode()
        self.control("POST", "accounts", {"api_key": key, "api_secret": secret})
        return key, secret

    def orders(self) -> list[dict[str, Any]]:
        return self.control("GET", "orders")["orders"]

    def state(self) -> dict[str, Any]:
        return self.control("GET", "state")

    def set_price(self, pair: str, price: Decimal) -> None:
        self.control("POST", "price", {"pair": pair, "price": str(price)})

    def public(self, method: str) -> Any:
        """A public Kraken call on the control connection (setup only, never timed)."""
        with self._lock:
            assert self._control is not None
            self._control.request("GET", f"/0/public/{method}")
            data = self._control.getresponse().read()
        return json.loads(data)["result"]


# --- pairs and far-from-market orders ----------------------------------------------------------


class PairInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One simulator pair, with the figures to build orders that never fill by chance."""

    key: str
    altname: str
    symbol: str
    ordermin: Decimal
    costmin: Decimal
    tick: Decimal
    lot_decimals: int
    mid: Decimal

    def price_at(self, fraction: Decimal) -> Decimal:
        """``fraction`` of the market price, on the tick."""
        return (self.mid * fraction / self.tick).to_integral_value(ROUND_FLOOR) * self.tick

    def volume_for(self, price: Decimal) -> Decimal:
        """The smallest volume that meets ordermin and twice costmin at ``price``."""
        lot = Decimal(1).scaleb(-self.lot_decimals)
        wanted = max(self.ordermin, self.costmin * 2 / price)
        return (wanted / lot).to_integral_value(ROUND_CEILING) * lot

    def far_buy(self) -> tuple[Decimal, Decimal]:
        """(price, volume) of a buy at half the market: it rests, or expires at once as IOC."""
        price = self.price_at(Decimal("0.5"))
        return price, self.volume_for(price)


def pairs_of(sim: SimProcess) -> list[PairInfo]:
    """Every simulator pair, in the simulator's order, with its current mid price."""
    markets = sim.state()["markets"]
    pairs = []
    for key, info in sim.public("AssetPairs").items():
        market = markets[key]
        mid = (Decimal(market["bid"]) + Decimal(market["ask"])) / 2
        pairs.append(
            PairInfo(
                key=key,
                altname=info["altname"],
                symbol=market["symbol"],
                ordermin=Decimal(info["ordermin"]),
                costmin=Decimal(info["costmin"]),
                tick=Decimal(info["tick_size"]),
                lot_decimals=int(info["lot_decimals"]),
                mid=mid,
            )
        )
    return pairs
