"""The optional Prometheus endpoint: counters and histograms from a real engine run."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import requests

from gal_exec.config import Config, JournalConfig, MetricsConfig
from gal_exec.engine import Engine
from gal_exec.messages import ExecutionReport, TradeSignalApproved

pytestmark = pytest.mark.timeout(60)


def test_metrics_count_orders_fills_and_latencies(tmp_path):
    done = threading.Event()

    def on_report(report: ExecutionReport) -> None:
        if report.status == "filled":
            done.set()

    config = Config(
        journal=JournalConfig(path=str(tmp_path / "j.sqlite")),
        metrics=MetricsConfig(enabled=True, port=0),
    )
    engine = Engine.start(config, callbacks=[on_report])
    try:
        engine.submit(
            TradeSignalApproved(
                signal_id="m1",
                pair="XBT/USD",
                side="buy",
                order_type="market",
                quantity=Decimal("0.01"),
            )
        )
        assert done.wait(20)
        assert engine.wait_until_idle(10)
        text = requests.get(f"http://127.0.0.1:{engine.metrics_port}/metrics", timeout=5).text
    finally:
        engine.stop()
    assert 'gal_exec_orders_total{role="entry",status="filled"} 1.0' in text
    assert 'gal_exec_fills_total{pair="XBT/USD"} 1.0' in text
    assert "gal_exec_signal_to_wire_seconds_count 1.0" in text
    assert "gal_exec_fill_to_report_seconds_count 1.0" in text
    assert "# TYPE gal_exec_errors_total counter" in text
