"""A journal of an earlier run, open orders in it, against a fresh embedded simulator: one clear
error at start instead of a silent hang (the simulator starts empty and knows none of them)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from gal_exec.config import Config, JournalConfig
from gal_exec.engine import Engine, EngineError
from gal_exec.messages import ExecutionReport, TradeSignalApproved

pytestmark = pytest.mark.timeout(60)


def test_a_journal_with_open_orders_is_refused_by_a_fresh_embedded_simulator(tmp_path) -> None:
    journal = tmp_path / "journal.sqlite"
    config = Config(journal=JournalConfig(path=str(journal)))
    opened = threading.Event()

    def watch(report: ExecutionReport) -> None:
        if report.status == "open":
            opened.set()

    engine = Engine.start(config, callbacks=[watch])
    try:
        engine.submit(
            TradeSignalApproved(
                signal_id="resting",
                pair="XBT/USD",
                side="buy",
                order_type="limit",
                quantity=Decimal("0.01"),
                limit_price=Decimal("1000.0"),  # far below the market: it rests
                timeout_s=3600,
            )
        )
        assert opened.wait(10)
    finally:
        engine.stop(cancel_open=False)  # Ctrl-C with on_stop = "leave"

    with pytest.raises(EngineError) as raised:
        Engine.start(config)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{journal}: 1 open order of an earlier run, but")
    assert "the embedded simulator starts empty" in message
