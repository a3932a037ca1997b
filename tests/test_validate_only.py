"""exchange.validate_only = true (the first live run): Kraken checks each order and places none;
each order ends in its own terminal status, validated, with a reason saying so (it used to crash
its OrderActor, which restarted, resolved and sent again in a loop)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from gal_exec.config import Config, ExchangeConfig, JournalConfig
from gal_exec.engine import Engine
from gal_exec.messages import ExecutionReport, TradeSignalApproved

pytestmark = pytest.mark.timeout(60)


def test_validate_only_orders_end_validated_and_nothing_is_placed(tmp_path):
    finals: dict[str, ExecutionReport] = {}
    statuses: list[str] = []
    changed = threading.Condition()

    def collect(report: ExecutionReport) -> None:
        with changed:
            statuses.append(report.status)
            if report.status in ("filled", "canceled", "rejected", "expired", "validated"):
                finals[report.signal_id] = report
            changed.notify_all()

    config = Config(
        exchange=ExchangeConfig(validate_only=True),
        journal=JournalConfig(path=str(tmp_path / "j.sqlite")),
    )
    engine = Engine.start(config, callbacks=[collect])
    try:
        names = ["limit-1", "limit-2", "market"]
        for name in names:
            engine.submit(
                TradeSignalApproved(
                    signal_id=name,
                    pair="XBT/USD",
                    side="buy",
                    order_type="market" if name == "market" else "limit",
                    quantity=Decimal("0.01"),
                    limit_price=None if name == "market" else Decimal("60000.0"),
                )
            )
        with changed:
            assert changed.wait_for(lambda: set(finals) == set(names), 20), finals
        assert engine.wait_until_idle(10)
        orders = engine.simulator.exchange.dump_orders()
    finally:
        engine.stop()
    for name in names:
        assert finals[name].status == "validated"
        assert finals[name].reason == "validated by the exchange; not placed"
        assert finals[name].exchange_order_id is None
    assert "submit_unknown" not in statuses
    assert orders == []
