"""The Grafana dashboard and the alerting rules only query metrics the engine exports: every
gal_exec_* name in their PromQL is in the /metrics output of an engine running on the simulator."""

from __future__ import annotations

import json
import re
import threading
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from gal_exec.config import Config, EngineConfig, JournalConfig, MarketDataConfig, MetricsConfig
from gal_exec.engine import Engine
from gal_exec.messages import ExecutionReport, TradeSignalApproved

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "docs" / "grafana" / "gal-exec.json"
ALERTS = ROOT / "deploy" / "prometheus" / "gal-exec-alerts.yml"
_NAME = re.compile(r"\bgal_exec_[a-zA-Z0-9_]+")
_SUFFIXES = ("_bucket", "_count", "_sum", "_created")


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the dashboard's panels and of the alerting rules."""
    board = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]
    queries += [
        line.split("expr:", 1)[1] for line in ALERTS.read_text().splitlines() if "expr:" in line
    ]
    return queries


def exported_names(text: str) -> set[str]:
    """Sample names, and the names each ``# TYPE`` line promises (a family without samples yet,
    a histogram's series)."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names.update(name + suffix for suffix in _SUFFIXES)
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def test_every_metric_the_dashboard_queries_is_exported(tmp_path):
    queries = dashboard_queries()
    used = {name for expr in queries for name in _NAME.findall(expr)}
    assert len(used) >= 15, used
    done = threading.Event()

    def on_report(report: ExecutionReport) -> None:
        if report.status == "filled":
            done.set()

    config = Config(
        engine=EngineConfig(dead_man_switch="on"),
        journal=JournalConfig(path=str(tmp_path / "j.sqlite")),
        market_data=MarketDataConfig(enabled=True, pairs=["XBT/USD"]),
        metrics=MetricsConfig(enabled=True, port=0),
    )
    engine = Engine.start(config, callbacks=[on_report])
    try:
        engine.submit(
            TradeSignalApproved(
                signal_id="d1",
                pair="XBT/USD",
                side="buy",
                order_type="market",
                quantity=Decimal("0.01"),
            )
        )
        assert done.wait(20)
        text = requests.get(f"http://127.0.0.1:{engine.metrics_port}/metrics", timeout=10).text
    finally:
        engine.stop()
    missing = sorted(used - exported_names(text))
    assert missing == [], f"dashboard or alerts query metrics the engine does not export: {missing}"


def test_the_dashboard_is_importable_json_with_a_datasource_variable():
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "gal-exec"
    variables = {item["name"]: item for item in board["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
