"""The engine side of scripts/bench.py: an Engine on its own simulator account and journal that
records its reports, optionally with its Kraken rate models lifted, and signals to feed it.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import msgspec
from bench_support import PRE_ACK, SCRATCH, PairInfo, SimProcess, log

from gal_exec.actors import protocol
from gal_exec.actors.gateway import GatewayHealth
from gal_exec.config import Config, EngineConfig, ExchangeConfig
from gal_exec.core.desk import DeskHealth
from gal_exec.engine import Endpoints, Engine
from gal_exec.kraken import ratelimits
from gal_exec.messages import TradeSignalApproved


@contextlib.contextmanager
def lifted_engine_limits(tier: str, *, rest: bool, trading: bool) -> Iterator[None]:
    """While an Engine starts, give its rate models (built once, at start) a tier with no
    trading-counter, open-order or (with ``rest``) REST-counter limit: the engine has no such
    setting, and some cases measure the engine, not Kraken's budget."""
    original = ratelimits.TIER_LIMITS
    limits = original[ratelimits.Tier(tier)]
    huge = 1e12
    lifted = msgspec.structs.replace(
        limits,
        rest_max=huge if rest else limits.rest_max,
        trading_threshold=huge if trading else limits.trading_threshold,
        max_open_orders_per_pair=10**9 if trading else limits.max_open_orders_per_pair,
    )
    ratelimits.TIER_LIMITS = MappingProxyType({**original, ratelimits.Tier(tier): lifted})
    try:
        yield
    finally:
        ratelimits.TIER_LIMITS = original


class EngineRun:
    """An Engine on a fresh simulator account and a fresh journal, recording its reports.

    ``acks[signal_id]`` is (time, report) of the first report past submission, the time being
    ``time.time()`` on the sink's thread; ``on_report`` sees every report there too.
    """

    def __init__(
        self,
        sim: SimProcess,
        *,
        tier: str = "pro",
        coalesce: bool = True,
        stack_kib: int | None = None,
        lift_rest: bool = False,
        lift_trading: bool = False,
        ws_auth_url: str | None = None,
        on_report: Callable[[Any], None] | None = None,
        order_entry: str = "ws",
    ) -> None:
        key, secret = sim.new_account()
        SCRATCH.mkdir(parents=True, exist_ok=True)
        self.directory = Path(tempfile.mkdtemp(prefix="run-", dir=SCRATCH))
        engine_settings: dict[str, Any] = {"coalesce_batches": coalesce}
        if stack_kib is not None:
            engine_settings["actor_stack_kib"] = stack_kib
        self.config = Config(
            exchange=ExchangeConfig(tier=tier, order_entry=order_entry),  # type: ignore[arg-type]
            engine=EngineConfig(**engine_settings),
        )
        self.stop_seconds = math.nan
        self.acks: dict[str, tuple[float, Any]] = {}
        self.condition = threading.Condition()
        self._extra = on_report
        endpoints = Endpoints(
            rest_url=sim.rest_url,
            ws_url=sim.endpoints["ws_url"],
            ws_auth_url=ws_auth_url or sim.endpoints["ws_auth_url"],
            api_key=key,
            api_secret=secret,
        )
        lifting = lifted_engine_limits(tier, rest=lift_rest, trading=lift_trading)
        with lifting if (lift_rest or lift_trading) else contextlib.nullcontext():
            self.engine = Engine.start(
                self.config,
                endpoints=endpoints,
                callbacks=[self._on_report],
                journal_path=self.directory / "journal.sqlite",
            )
        self.wait_stream(True)
        if order_entry == "ws":
            self.wait_ws_order_entry()

    def _on_report(self, report: Any) -> None:
        now = time.time()
        if report.status not in PRE_ACK and report.signal_id not in self.acks:
            self.acks[report.signal_id] = (now, report)
        if self._extra is not None:
            self._extra(report)
        with self.condition:
            self.condition.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds (checked after each report); False on timeout."""
        deadline = time.monotonic() + timeout
        with self.condition:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.condition.wait(min(left, 0.5))
        return True

    def wait_acks(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` orders are acknowledged (or ended); False on timeout."""
        return self.wait(lambda: len(self.acks) >= count, timeout)

    def wait_stream(self, up: bool, timeout: float = 15.0) -> None:
        """Wait until the supervisor sees the executions stream up (or down)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.supervisor_health().stream_up == up:
                return
            time.sleep(0.02)
        raise RuntimeError(f"the executions stream did not go {'up' if up else 'down'}")

    def wait_ws_order_entry(self, timeout: float = 15.0) -> None:
        """Wait until the gateway may send orders over the authenticated WebSocket."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.gateway_health().ws_order_entry:
                return
            time.sleep(0.02)
        raise RuntimeError("the gateway never got the WebSocket for order entry")

    def supervisor_health(self, timeout: float = 30.0) -> DeskHealth:
        health: DeskHealth = self.engine.supervisor.ask(protocol.GetHealth(), timeout=timeout)
        return health

    def gateway_health(self) -> GatewayHealth:
        health: GatewayHealth = self.engine.gateway.ask(protocol.GetHealth(), timeout=30)
        return health

    def stop(self) -> None:
        """Stop without cancelling (the simulator is thrown away) and remove the journal.

        Errors the engine logs while it tears down are counted and summed up in one line, so a
        run's output stays readable; they are reported, not hidden.
        """
        counter = _ErrorCounter()
        root = logging.getLogger()
        root.addFilter(counter)
        for handler in root.handlers:
            handler.addFilter(counter)
        started = time.monotonic()
        try:
            self.engine.stop(cancel_open=False)
        finally:
            for handler in root.handlers:
                handler.removeFilter(counter)
            root.removeFilter(counter)
            shutil.rmtree(self.directory, ignore_errors=True)
        self.stop_seconds = time.monotonic() - started
        if counter.counts:
            summary_line = ", ".join(f"{n} x {text}" for text, n in counter.counts.most_common(3))
            log(f"  engine stop ({self.stop_seconds:.1f} s) logged errors: {summary_line}")


class _ErrorCounter(logging.Filter):
    """Swallows ERROR records, counting them by their first line."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter[str] = collections.Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        text = record.getMessage().splitlines()[0][:120]
        if record.exc_info and record.exc_info[1] is not None:
            text = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"[:120]
        self.counts[text] += 1
        return False


def signal(
    signal_id: str,
    pair: PairInfo,
    price: Decimal,
    volume: Decimal,
    *,
    time_in_force: str = "IOC",
) -> Any:
    """A buy limit signal; resting ones get a day's timeout so the engine never cancels them."""
    return TradeSignalApproved(
        signal_id=signal_id,
        pair=pair.altname,
        side="buy",
        order_type="limit",
        quantity=volume,
        limit_price=price,
        time_in_force=time_in_force,  # type: ignore[arg-type]
        timeout_s=None if time_in_force == "IOC" else 86_400.0,
    )
