"""Live mode protects by default: against the simulator in exchange.mode = "kraken" (URLs pointed
at it, credentials from the environment), a fat-fingered order is refused with no [risk] set."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from gal_exec.config import load_config
from gal_exec.engine import Engine
from gal_exec.messages import ExecutionReport, TradeSignalApproved
from gal_exec.sim.server import Simulator

pytestmark = pytest.mark.timeout(60)
D = Decimal


def test_default_live_config_refuses_a_5000_xbt_market_order(tmp_path, monkeypatch):
    reports: list[ExecutionReport] = []
    changed = threading.Condition()

    def collect(report: ExecutionReport) -> None:
        with changed:
            reports.append(report)
            changed.notify_all()

    def final(signal_id: str) -> ExecutionReport:
        terminal = {"filled", "rejected", "canceled"}
        with changed:
            assert changed.wait_for(
                lambda: any(r.signal_id == signal_id and r.status in terminal for r in reports),
                20,
            ), reports
        return [r for r in reports if r.signal_id == signal_id][-1]

    with Simulator() as sim:
        path = tmp_path / "live.toml"
        path.write_text(
            "[exchange]\n"
            'mode = "kraken"\n'
            f'rest_url = "{sim.rest_url}"\n'
            f'ws_url = "{sim.ws_url}"\n'
            f'ws_auth_url = "{sim.ws_auth_url}"\n'
            'api_key_env = "GAL_LIVE_TEST_KEY"\n'
            'api_secret_env = "GAL_LIVE_TEST_SECRET"\n'
            "[engine]\n"
            'dead_man_switch = "off"\n'
            "[market_data]\n"
            'pairs = ["XBT/USD"]\n'
            "[journal]\n"
            f'path = "{tmp_path / "live.sqlite"}"\n'
        )
        monkeypatch.setenv("GAL_LIVE_TEST_KEY", sim.api_key)
        monkeypatch.setenv("GAL_LIVE_TEST_SECRET", sim.api_secret)
        engine = Engine.start(load_config(path), callbacks=[collect])
        try:
            for signal_id, order_type, quantity, limit in (
                ("fat-finger", "market", "5000", None),
                ("normal", "market", "0.01", None),
                ("too-much-resting", "limit", "0.5", "60000.0"),
            ):
                engine.submit(
                    TradeSignalApproved(
                        signal_id=signal_id,
                        pair="XBT/USD",
                        side="buy",
                        order_type=order_type,
                        quantity=D(quantity),
                        limit_price=D(limit) if limit else None,
                    )
                )
            fat = final("fat-finger")
            assert fat.status == "rejected"
            assert fat.reason.startswith("market notional cap: 5000 x ")
            assert "exceeds the cap 5000 for BTC/USD" in fat.reason
            assert final("normal").status == "filled"
            resting = final("too-much-resting")
            assert resting.status == "rejected"
            assert resting.reason.startswith("exposure per pair: BTC/USD open ")
            assert "+ this order 30000.00 = " in resting.reason
            assert resting.reason.endswith("exceeds 25000")
        finally:
            engine.stop()
        assert [o["vol"] for o in sim.exchange.dump_orders()] == ["0.01000000"]
