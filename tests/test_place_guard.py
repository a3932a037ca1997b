"""An engine that lost its account's lease sends no placement, by either order-entry path: the
guard is asked right before AddOrder leaves (REST worker or WebSocket frame)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from gal_exec.config import Config, ExchangeConfig, JournalConfig
from gal_exec.engine import Engine
from gal_exec.messages import ExecutionReport, TradeSignalApproved

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("order_entry", ["ws", "rest"])
def test_a_fenced_engine_places_nothing(tmp_path, order_entry: str) -> None:
    fenced = threading.Event()
    refusals: list[str] = []
    seen: list[ExecutionReport] = []
    reported = threading.Condition()

    def guard() -> str | None:
        if fenced.is_set():
            refusals.append("lease lost")
            return "lease lost (epoch 2 is owned by another engine)"
        return None

    def collect(report: ExecutionReport) -> None:
        with reported:
            seen.append(report)
            reported.notify_all()

    config = Config(
        exchange=ExchangeConfig(order_entry=order_entry),
        journal=JournalConfig(path=str(tmp_path / "j.sqlite")),
    )
    engine = Engine.start(config, callbacks=[collect], place_guard=guard)
    try:
        if order_entry == "ws":  # the trading channel comes up with the executions stream
            ready = threading.Event()
            for _ in range(200):
                if engine.health()["gateway"]["ws_order_entry"]:
                    break
                ready.wait(0.05)
            assert engine.health()["gateway"]["ws_order_entry"]
        fenced.set()
        engine.submit(
            TradeSignalApproved(
                signal_id="after-the-lease",
                pair="XBT/USD",
                side="buy",
                order_type="market",
                quantity=Decimal("0.01"),
            )
        )
        with reported:
            assert reported.wait_for(
                lambda: any(
                    "fenced" in (r.reason or "") or "lease lost" in (r.reason or "") for r in seen
                ),
                20,
            ), seen
        orders = engine.simulator.exchange.dump_orders()
    finally:
        engine.stop(cancel_open=False)
    assert orders == []
    assert refusals
    assert all(r.status in ("pending_submit", "submitted") for r in seen), seen
