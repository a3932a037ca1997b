"""End-to-end harness: the engine against the in-process simulator, driven over the control API.

A ``Harness`` owns one Simulator and one Engine. Reports arrive in a ``ReportLog`` (thread-safe;
tests wait on it with ``wait_for``, never with sleeps). ``SimControl`` speaks the simulator's
/sim/ API over HTTP, the way an operator or a CI script would.

The simulator runs on the real clock with automatic steps pushed an hour apart: nothing moves
unless a test moves it (/sim/step, /sim/price), yet Kraken's rate counters decay in real time on
both sides. A manual simulator clock would freeze the simulator's counters while the engine's
models (on the system clock) decay, and the two would disagree about the rate budget.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
import requests

from gal_exec.config import (
    Config,
    EngineConfig,
    ExchangeConfig,
    JournalConfig,
    OrdersConfig,
    SimConfig,
)
from gal_exec.core.clock import Clock
from gal_exec.engine import Endpoints, Engine
from gal_exec.messages import TradeSignalApproved
from gal_exec.sim.server import Simulator
from tests.e2e.report_log import TERMINAL, WAIT_S, ReportLog

__all__ = [
    "PAIR",
    "SIM_PAIR",
    "TERMINAL",
    "WAIT_S",
    "Harness",
    "ReportLog",
    "SimControl",
    "engine_config",
    "preconditions",
    "sim_config",
    "wait_until",
]

PAIR = "XBT/USD"
SIM_PAIR = "XBTUSD"
_POLL_S = 0.02
_PRICE_FIELDS = frozenset({"limit_price", "trigger_price", "sl_price", "tp_price"})


def sim_config(**changes: Any) -> SimConfig:
    """A quiet simulator: real clock, no automatic steps, a flat price, Kraken's limits on."""
    base = SimConfig(
        clock="real",
        step_interval_s=3600.0,
        volatility_bps=0.0,
        tier="pro",
        seed=11,
    )
    return msgspec.structs.replace(base, **changes)


def engine_config(
    *,
    tier: str = "pro",
    nonce_window: int = 0,
    coalesce_batches: bool = True,
    limit_timeout_s: float = 300.0,
    poll_interval_s: float = 0.2,
    order_entry: str = "ws",
    ws_request_timeout_s: float = 5.0,
    **orders: Any,
) -> Config:
    """Engine settings with short timers, so waits in tests stay short."""
    order_settings = {
        "limit_timeout_s": limit_timeout_s,
        "poll_interval_s": poll_interval_s,
        "resolve_delay_s": 0.1,
        "cancel_retry_s": 0.2,
        **orders,
    }
    return Config(
        exchange=ExchangeConfig(
            tier=tier,  # type: ignore[arg-type]
            nonce_window=nonce_window,
            order_entry=order_entry,  # type: ignore[arg-type]
            ws_request_timeout_s=ws_request_timeout_s,
        ),
        engine=EngineConfig(dead_man_switch="off", coalesce_batches=coalesce_batches),
        orders=OrdersConfig(**order_settings),
        journal=JournalConfig(enabled=True),
    )


@contextmanager
def preconditions() -> Iterator[None]:
    """Set-up checks of an xfail test: their failure is a plain failure, never the expected one.

    Known-bug tests are marked ``xfail(strict=True, raises=AssertionError)``; a set-up step that
    fails here raises pytest's Failed instead, so it cannot pass for the bug being present.
    """
    try:
        yield
    except AssertionError as exc:
        pytest.fail(f"precondition failed: {exc}")


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Check ``condition`` until it is truthy (returns it) or fail naming ``what``.

    For state that offers no event to wait on (the simulator's books, the engine's health).
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        pause.wait(_POLL_S)


class SimControl:
    """The simulator's /sim/ control API over HTTP."""

    def __init__(self, simulator: Simulator) -> None:
        self.url = simulator.control_url
        self.session = requests.Session()
        self.session.trust_env = False

    def _post(self, route: str, body: Any, *, verb: str = "POST") -> dict[str, Any]:
        response = self.session.request(verb, f"{self.url}/{route}", json=body, timeout=10)
        assert response.status_code == 200, f"{verb} /sim/{route}: {response.text}"
        return response.json()

    def _get(self, route: str) -> dict[str, Any]:
        response = self.session.get(f"{self.url}/{route}", timeout=10)
        assert response.status_code == 200, f"GET /sim/{route}: {response.text}"
        return response.json()

    def price(self, price: str, pair: str = SIM_PAIR) -> dict[str, Any]:
        return self._post("price", {"pair": pair, "price": price})

    def step(self, n: int = 1) -> None:
        self._post("step", {"n": n})

    def liquidity(self, per_step: str, pair: str | None = SIM_PAIR) -> None:
        body: dict[str, Any] = {"per_step": per_step}
        if pair is not None:
            body["pair"] = pair
        self._post("liquidity", body)

    def faults(self, *rules: dict[str, Any]) -> None:
        self._post("faults", {"rules": list(rules)}, verb="PUT")

    def fault_rules(self) -> list[dict[str, Any]]:
        return self._get("faults")["rules"]

    def disconnect_ws(self) -> int:
        return self._post("ws/disconnect", {})["connections"]

    def state(self) -> dict[str, Any]:
        return self._get("state")

    def add_account(self, api_key: str, api_secret: str, *, nonce_window: int = 0) -> None:
        self._post(
            "accounts", {"api_key": api_key, "api_secret": api_secret, "nonce_window": nonce_window}
        )

    def orders(self) -> list[dict[str, Any]]:
        return self._get("orders")["orders"]

    def trades(self) -> list[dict[str, Any]]:
        return self._get("trades")["trades"]

    def orders_by_cl_ord_id(self, cl_ord_id: str) -> list[dict[str, Any]]:
        return [o for o in self.orders() if o["cl_ord_id"] == cl_ord_id]

    def order(self, cl_ord_id: str) -> dict[str, Any]:
        found = self.orders_by_cl_ord_id(cl_ord_id)
        assert len(found) == 1, f"expected one exchange order for {cl_ord_id}, found {found}"
        return found[0]

    def trades_of(self, txid: str) -> list[dict[str, Any]]:
        return [t for t in self.trades() if t["ordertxid"] == txid]


class Harness:
    """One simulator and one engine wired to it; ``close()`` stops both."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.reports = ReportLog()
        self.simulator: Simulator | None = None
        self.engine: Engine | None = None
        self.sim: SimControl
        self._signals = 0
        self.api_key = ""

    def start(
        self,
        *,
        sim: SimConfig | None = None,
        config: Config | None = None,
        stream: bool = True,
        clock: Clock | None = None,
    ) -> Harness:
        self.simulator = Simulator(sim or sim_config()).start()
        self.sim = SimControl(self.simulator)
        simulator = self.simulator
        config = config or engine_config()
        self.api_key, api_secret = simulator.api_key, simulator.api_secret
        window = config.exchange.nonce_window
        if window:
            # The demo key has no nonce window; the engine's overlapping calls need one.
            self.api_key, api_secret = "e2e-window-key", base64.b64encode(bytes(range(64))).decode()
            self.sim.add_account(self.api_key, api_secret, nonce_window=window)
        endpoints = Endpoints(
            rest_url=simulator.rest_url,
            ws_url=simulator.ws_url or "",
            ws_auth_url=simulator.ws_auth_url or "",
            api_key=self.api_key,
            api_secret=api_secret,
        )
        self.engine = Engine.start(
            config,
            endpoints=endpoints,
            journal_path=self.tmp_path / "journal.sqlite",
            reports_path=self.tmp_path / "reports.jsonl",
            callbacks=[self.reports],
            stream=stream,
            clock=clock,
        )
        if stream:
            self.wait_stream_subscribed()
        return self

    def close(self) -> None:
        try:
            if self.engine is not None:
                self.engine.stop(cancel_open=False)
        finally:
            self.engine = None
            if self.simulator is not None:
                self.simulator.stop()
                self.simulator = None

    # -- helpers ------------------------------------------------------------------------------

    @property
    def exchange(self) -> Any:
        assert self.simulator is not None
        return self.simulator.exchange

    def stream_subscribed(self) -> bool:
        """The simulator delivers our executions and the engine believes the stream is up."""
        assert self.simulator is not None and self.engine is not None
        listening = self.api_key in self.exchange.engine.listening
        return listening and self.supervisor_health()["stream_up"]

    def stream_up(self) -> bool:
        return bool(self.supervisor_health()["stream_up"])

    def wait_stream_subscribed(self, timeout: float = WAIT_S) -> None:
        wait_until(self.stream_subscribed, timeout, "the executions stream to be subscribed")

    def supervisor_health(self) -> dict[str, Any]:
        assert self.engine is not None
        return self.engine.health()["supervisor"]

    def gateway_health(self) -> dict[str, Any]:
        assert self.engine is not None
        return self.engine.health()["gateway"]

    def new_signal_id(self, prefix: str = "sig") -> str:
        self._signals += 1
        return f"{prefix}-{self._signals}"

    def submit(self, message: Any) -> None:
        assert self.engine is not None
        self.engine.submit(message)

    def signal(
        self,
        *,
        side: str = "buy",
        order_type: str = "market",
        quantity: str = "0.01",
        signal_id: str | None = None,
        pair: str = PAIR,
        **fields: Any,
    ) -> str:
        """Submit a TradeSignalApproved; returns its signal_id."""
        signal_id = signal_id or self.new_signal_id()
        decimals = {
            name: Decimal(value) if name in _PRICE_FIELDS else value
            for name, value in fields.items()
        }
        self.submit(
            TradeSignalApproved(
                signal_id=signal_id,
                pair=pair,
                side=side,  # type: ignore[arg-type]
                order_type=order_type,  # type: ignore[arg-type]
                quantity=Decimal(quantity),
                **decimals,
            )
        )
        return signal_id
