"""Processes for the crash-recovery tests: the simulator and the engine as real subprocesses.

``SimProcess`` runs ``gal-exec sim`` in its own process and talks to its control API;
``PriceDriver`` moves its markets along a seeded path; ``EngineProcess`` runs ``gal-exec run``
against it in kraken mode and SIGKILLs it at chosen instants.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import requests

__all__ = [
    "EngineProcess",
    "PriceDriver",
    "PricePath",
    "RunLog",
    "SimProcess",
    "wait_until",
]

ROOT = Path(__file__).resolve().parents[2]
KEY_ENV = "GAL_RECOVERY_API_KEY"
SECRET_ENV = "GAL_RECOVERY_API_SECRET"
_START_TIMEOUT_S = 20.0


def wait_until(predicate: Callable[[], bool], timeout: float, *, poll_s: float = 0.1) -> bool:
    """Poll another process's state until ``predicate()`` holds; False when ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        threading.Event().wait(poll_s)
    return predicate()


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


class SimProcess:
    """``python -m gal_exec sim --clock real`` in a process of its own; stop() always kills it."""

    def __init__(self, workdir: Path, *, seed: int, rate_limits: bool = True) -> None:
        self.workdir = workdir
        self.seed = seed
        self.rate_limits = rate_limits
        self.stderr_path = workdir / "sim.err"
        self.process: subprocess.Popen[str] | None = None
        self.endpoints: dict[str, str] = {}
        self.session = requests.Session()
        self.session.trust_env = False

    def __enter__(self) -> SimProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        with self.stderr_path.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gal_exec", "sim", "--clock", "real"]
                + ["--seed", str(self.seed)]
                + ([] if self.rate_limits else ["--no-rate-limits"]),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        stdout = self.process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], _START_TIMEOUT_S)
        line = stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise RuntimeError(f"simulator did not start: {_tail(self.stderr_path)}")
        self.endpoints = json.loads(line)

    def stop(self) -> None:
        self.session.close()
        process = self.process
        if process is None:
            return
        self.process = None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    def control(self, verb: str, route: str, body: dict[str, Any] | None = None) -> Any:
        """One call of the simulator's control API; raises on an HTTP error."""
        url = f"{self.endpoints['control_url']}/{route}"
        response = self.session.request(verb, url, json=body, timeout=10)
        if response.status_code != 200:
            raise RuntimeError(f"{verb} /sim/{route}: {response.status_code} {response.text}")
        return response.json()

    def orders(self) -> list[dict[str, Any]]:
        return self.control("GET", "orders")["orders"]

    def trades(self) -> list[dict[str, Any]]:
        return self.control("GET", "trades")["trades"]

    def prices(self) -> dict[str, Decimal]:
        """The last price of every pair, by Kraken pair key."""
        markets = self.control("GET", "state")["markets"]
        return {key: Decimal(market["last"]) for key, market in markets.items()}


def _triangle(x: float) -> float:
    """A triangle wave of period 1 between -1 and 1, 0 at x = 0, rising first."""
    return 1.0 - 4.0 * abs(((x + 0.25) % 1.0) - 0.5)


class PricePath:
    """A pair's seeded zigzag between ``base * (1 + low)`` and ``base * (1 + high)``."""

    def __init__(
        self, pair: str, base: Decimal, tick: Decimal, *, low: float, high: float, phase: float
    ) -> None:
        self.pair = pair
        self.base = base
        self.tick = tick
        self.low = low
        self.high = high
        self.phase = phase

    def price(self, cycles: float, hold: float | None = None) -> Decimal:
        """The price after ``cycles`` periods; ``hold`` (a fraction of base) overrides the path."""
        if hold is None:
            middle = (self.low + self.high) / 2
            half = (self.high - self.low) / 2
            hold = middle + half * _triangle(cycles + self.phase)
        return self.at(hold)

    def at(self, fraction: float) -> Decimal:
        """``base * (1 + fraction)`` on the pair's tick."""
        raw = self.base * (1 + Decimal(str(round(fraction, 6))))
        return (raw / self.tick).to_integral_value(ROUND_HALF_EVEN) * self.tick


class PriceDriver:
    """A thread posting each path's next price to /sim/price every ``interval_s`` until stopped.

    ``hold(fraction)`` pins every pair at ``base * (1 + fraction)`` (the final phase).
    """

    def __init__(
        self, sim: SimProcess, paths: list[PricePath], *, interval_s: float, period_s: float
    ) -> None:
        self.sim = sim
        self.paths = paths
        self.interval_s = interval_s
        self.period_s = period_s
        self.holding: float | None = None
        self.posts = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="price-driver", daemon=True)
        self._session = requests.Session()
        self._session.trust_env = False

    def __enter__(self) -> PriceDriver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._session.close()

    def hold(self, fraction: float | None) -> None:
        self.holding = fraction

    def _run(self) -> None:
        url = f"{self.sim.endpoints['control_url']}/price"
        step = 0
        while not self._stop.is_set():
            cycles = step * self.interval_s / self.period_s
            for path in self.paths:
                price = path.price(cycles, self.holding)
                try:
                    response = self._session.post(
                        url, json={"pair": path.pair, "price": str(price)}, timeout=5
                    )
                    if response.status_code != 200:
                        self.error = f"/sim/price {path.pair} {price}: {response.text}"
                except requests.RequestException as exc:
                    if not self._stop.is_set():
                        self.error = f"/sim/price: {exc}"
            self.posts += 1
            step += 1
            self._stop.wait(self.interval_s)


class RunLog:
    """What happened to each engine process: exit codes, kills, timings."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []

    @property
    def kills(self) -> int:
        return sum(1 for run in self.runs if run["killed"])

    def add(self, **fields: Any) -> None:
        self.runs.append(fields)


class EngineProcess:
    """Runs ``gal-exec run --until-done`` on one signals file and journal, again and again."""

    def __init__(
        self,
        workdir: Path,
        sim: SimProcess,
        signals: Path,
        *,
        settings: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.workdir = workdir
        self.sim = sim
        self.signals = signals
        self.journal = workdir / "journal.sqlite"
        self.reports = workdir / "reports.jsonl"
        self.config = workdir / "engine.toml"
        self.log = RunLog()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._write_config(settings or {})

    def _write_config(self, settings: dict[str, dict[str, Any]]) -> None:
        endpoints = self.sim.endpoints
        sections: dict[str, dict[str, Any]] = {
            "exchange": {
                "mode": "kraken",
                "rest_url": endpoints["rest_url"],
                "ws_url": endpoints["ws_url"],
                "ws_auth_url": endpoints["ws_auth_url"],
                "api_key_env": KEY_ENV,
                "api_secret_env": SECRET_ENV,
                # The simulator runs without rate limits (see the tests); pro keeps the
                # engine's own model of them from stretching recovery past the time bound.
                "tier": "pro",
                # The crash points are set with REST fault rules (AddOrder, AmendOrder).
                "order_entry": "rest",
            },
            "engine": {"dead_man_switch": "off"},
            # These runs exercise recovery, not pre-trade risk: the live-mode limits are off.
            "risk": {
                "market_notional_cap": "0",
                "max_exposure_per_pair": "0",
                "max_exposure_total": "0",
            },
            "orders": {
                "resolve_delay_s": 0.2,
                # After a restart the request that may have left was answered long ago: one
                # look-up by cl_ord_id decides.
                "resolve_attempts": 1,
                "poll_interval_s": 0.5,
                "stream_up_poll_interval_s": 2.0,
                "cancel_retry_s": 0.5,
            },
            "journal": {"path": str(self.journal)},
            "logging": {"level": os.environ.get("GAL_RECOVERY_LOG_LEVEL", "INFO")},
        }
        for section, values in settings.items():
            sections.setdefault(section, {}).update(values)
        lines = []
        for section, values in sections.items():
            lines.append(f"[{section}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> subprocess.Popen[bytes]:
        """Start one engine process (the previous one must have ended)."""
        assert self.process is None or self.process.poll() is not None
        number = self.starts
        self.starts += 1
        env = dict(os.environ)
        env[KEY_ENV] = self.sim.endpoints["api_key"]
        env[SECRET_ENV] = self.sim.endpoints["api_secret"]
        env.pop("KRAKEN_API_KEY", None)
        env.pop("KRAKEN_API_SECRET", None)
        with (self.workdir / f"engine-{number}.err").open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gal_exec", "run", "--config", str(self.config)]
                + ["--signals", str(self.signals), "--journal", str(self.journal)]
                + ["--reports", str(self.reports), "--until-done"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        return self.process

    def stderr_tail(self, number: int | None = None) -> str:
        """The end of a run's standard error (the last run's by default)."""
        number = self.starts - 1 if number is None else number
        return _tail(self.workdir / f"engine-{number}.err")

    def run_and_kill(self, delay_s: float) -> bool:
        """Start, SIGKILL after ``delay_s``; True if killed, False if it ended first (code 0)."""
        started = time.time()
        process = self.start()
        try:
            code = process.wait(timeout=delay_s)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            self.log.add(started=started, ended=time.time(), killed=True, delay=delay_s, code=-9)
            return True
        self.log.add(started=started, ended=time.time(), killed=False, delay=delay_s, code=code)
        if code != 0:
            raise AssertionError(f"engine run exited {code}:\n{self.stderr_tail()}")
        return False

    def run_to_end(self, timeout_s: float) -> str | None:
        """Start and wait for a clean exit (every order terminal): None, or what went wrong."""
        self.start()
        return self.wait_for_end(timeout_s)

    def wait_for_end(self, timeout_s: float) -> str | None:
        """Wait for the running engine's clean exit: None, or what went wrong (a non-zero exit,
        or no exit within ``timeout_s``: then it is killed)."""
        process = self.process
        assert process is not None
        started = time.time()
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            self.log.add(started=started, ended=time.time(), killed=False, delay=None, code=None)
            return f"engine did not finish within {timeout_s:g} s:\n{self.stderr_tail()}"
        self.log.add(started=started, ended=time.time(), killed=False, delay=None, code=code)
        if code != 0:
            return f"engine run exited {code}:\n{self.stderr_tail()}"
        return None

    def kill(self) -> None:
        """SIGKILL the running engine, if any, and reap it."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
