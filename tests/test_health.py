"""/healthz and /readyz end to end against the simulator: readiness follows the executions
stream (held down by a fault on its token), the exchange's status, Halt and Resume, and the dead
man's switch; health is served without prometheus-client; the operator gauges follow too."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
import requests

from gal_exec.config import (
    Config,
    EngineConfig,
    ExchangeConfig,
    JournalConfig,
    MetricsConfig,
    OrdersConfig,
    SimConfig,
)
from gal_exec.engine import Engine
from gal_exec.health import HealthServer
from gal_exec.messages import Halt, Resume, TradeSignalApproved

pytestmark = pytest.mark.timeout(90)


def config(tmp_path, **engine) -> Config:
    settings = {"status_poll_s": 0.2, "dead_man_switch": "on", "dead_man_refresh_s": 0.5}
    settings.update(engine)
    return Config(
        engine=EngineConfig(**settings),
        journal=JournalConfig(path=str(tmp_path / "j.sqlite")),
        metrics=MetricsConfig(enabled=True, port=0),
    )


class Probe:
    def __init__(self, engine: Engine) -> None:
        self.base = f"http://127.0.0.1:{engine.metrics_port}"
        self.control = engine.simulator.control_url
        self.session = requests.Session()
        self.session.trust_env = False

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.base + path, timeout=10)

    def until(self, path: str, check: Callable[[requests.Response], bool]) -> requests.Response:
        pause = threading.Event()
        for _ in range(600):
            answer = self.get(path)
            if check(answer):
                return answer
            pause.wait(0.05)
        raise AssertionError(f"{path}: {answer.status_code} {answer.text}")

    def ready(self) -> dict:
        return self.until("/readyz", lambda r: r.status_code == 200).json()

    def not_ready(self, reason: str) -> dict:
        answer = self.until(
            "/readyz",
            lambda r: (
                r.status_code == 503 and any(x.startswith(reason) for x in r.json()["reasons"])
            ),
        )
        return answer.json()

    def sim(self, route: str, body: dict, verb: str = "post") -> None:
        answer = getattr(self.session, verb)(f"{self.control}/{route}", json=body, timeout=5)
        assert answer.status_code == 200, answer.text

    def metric(self, line_start: str) -> str:
        text = self.get("/metrics").text
        return next(line for line in text.splitlines() if line.startswith(line_start))


@pytest.fixture
def engine(tmp_path):
    started = Engine.start(config(tmp_path))
    try:
        yield started
    finally:
        started.stop()


def test_readiness_follows_the_stream_the_exchange_and_halt(engine):
    probe = Probe(engine)
    assert probe.ready() == {"ready": True, "reasons": []}
    assert probe.get("/healthz").json()["alive"] is True
    assert probe.metric("gal_exec_ready ") == "gal_exec_ready 1.0"
    assert probe.metric("gal_exec_stream_up ") == "gal_exec_stream_up 1.0"

    # The stream drops and cannot come back while its token is refused.
    probe.sim(
        "faults", {"rules": [{"endpoint": "GetWebSocketsToken", "kind": "unavailable"}]}, "put"
    )
    probe.sim("ws/disconnect", {})
    down = probe.not_ready("executions stream: not subscribed")
    assert len(down["reasons"]) == 1
    assert probe.get("/healthz").status_code == 200  # not ready is not dead
    assert probe.metric("gal_exec_stream_up ") == "gal_exec_stream_up 0.0"
    probe.sim("faults", {"rules": []}, "put")
    probe.ready()
    assert probe.metric('gal_exec_stream_reconnects_total{stream="executions"}').endswith(" 1.0")

    probe.sim("status", {"status": "maintenance"})
    probe.not_ready("exchange status: maintenance")
    assert probe.metric("gal_exec_exchange_online ") == "gal_exec_exchange_online 0.0"
    probe.sim("status", {"status": "online"})
    probe.ready()

    engine.submit(Halt(reason="operator says stop", cancel_open=False))
    assert probe.not_ready("halted: operator says stop")["reasons"] == [
        "halted: operator says stop"
    ]
    assert probe.metric("gal_exec_halted ") == "gal_exec_halted 1.0"
    engine.submit(Resume())
    probe.ready()
    assert probe.metric("gal_exec_halted ") == "gal_exec_halted 0.0"
    left = float(probe.metric("gal_exec_dead_man_seconds_left ").split()[1])
    assert 0 < left <= 60


def test_not_ready_until_the_dead_mans_switch_is_armed(tmp_path):
    faults = tmp_path / "faults.json"
    faults.write_text('{"rules": [{"endpoint": "CancelAllOrdersAfter", "kind": "unavailable"}]}')
    settings = config(tmp_path)
    engine = Engine.start(
        Config(
            engine=settings.engine,
            journal=settings.journal,
            metrics=settings.metrics,
            sim=SimConfig(faults=str(faults)),
        )
    )
    try:
        probe = Probe(engine)
        assert probe.not_ready("dead man's switch: not armed yet")["ready"] is False
        assert probe.metric("gal_exec_dead_man_seconds_left ").endswith(" 0.0")
        probe.sim("faults", {"rules": []}, "put")
        probe.ready()
    finally:
        engine.stop()


def test_an_order_whose_outcome_is_unknown_is_counted_by_age(tmp_path):
    settings = config(tmp_path)
    settings = Config(
        engine=settings.engine,
        journal=settings.journal,
        metrics=settings.metrics,
        orders=OrdersConfig(resolve_delay_s=60.0),
        exchange=ExchangeConfig(order_entry="rest"),  # the fault below is on REST's AddOrder
    )
    engine = Engine.start(settings)
    try:
        probe = Probe(engine)
        probe.ready()
        probe.sim(
            "faults",
            {"rules": [{"endpoint": "AddOrder", "kind": "drop", "when": "before", "next": 1}]},
            "put",
        )
        engine.submit(
            TradeSignalApproved(
                signal_id="lost-answer",
                pair="XBT/USD",
                side="buy",
                order_type="limit",
                quantity=Decimal("0.01"),
                limit_price=Decimal("50000.0"),
            )
        )
        line = probe.until(
            "/metrics", lambda r: 'gal_exec_outcome_unknown_orders{age_s="0"} 1.0' in r.text
        )
        assert 'gal_exec_outcome_unknown_orders{age_s="300"} 0.0' in line.text
        assert engine.health()["outcome_unknown"]["count"] == 1
    finally:
        engine.stop(cancel_open=False)


def test_health_is_served_without_prometheus_client(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails as if absent
    engine = Engine.start(config(tmp_path))
    try:
        probe = Probe(engine)
        assert engine.metrics is None
        assert probe.ready()["ready"] is True
        missing = probe.get("/metrics")
        assert missing.status_code == 404 and "pip install 'gal-exec[metrics]'" in missing.text
    finally:
        engine.stop()


def test_a_probe_that_raises_fails_and_unknown_paths_are_404():
    def broken() -> tuple[bool, dict]:
        raise RuntimeError("engine gone")

    server = HealthServer("127.0.0.1", 0, live=broken, ready=lambda: (True, {"ready": True}))
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        dead = requests.get(base + "/healthz", timeout=5)
        assert dead.status_code == 503 and dead.json() == {"error": "RuntimeError: engine gone"}
        assert requests.get(base + "/readyz", timeout=5).status_code == 200
        assert requests.get(base + "/nope", timeout=5).status_code == 404
    finally:
        server.stop()
