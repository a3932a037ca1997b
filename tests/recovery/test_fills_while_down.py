"""Fills the exchange made while the engine was down are accounted like live ones after the
restart: each with its trade id and fee asset (QueryTrades), journaled as fills, summed in fees."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from harness import EngineProcess, SimProcess, wait_until
from scenario import write_signals
from steps import RUN_TIMEOUT_S, XBT_BASE, reported, set_faults, set_price, signal


@pytest.mark.timeout(60)
def test_fills_made_while_the_engine_was_down_carry_trade_ids_and_fees(tmp_path: Path) -> None:
    resting = XBT_BASE - Decimal("1000.0")
    signals = [
        signal(
            "rest-then-fill",
            order_type="limit",
            quantity="0.05",
            limit_price=str(resting),
            timeout_s=3600,
        )
    ]
    signals_path = tmp_path / "signals.jsonl"
    write_signals(signals_path, signals)
    with SimProcess(tmp_path, seed=31, rate_limits=False) as sim:
        set_price(sim, "XBTUSD", XBT_BASE)
        engine = EngineProcess(tmp_path, sim, signals_path)
        try:
            engine.start()
            assert wait_until(lambda: reported(engine, "entry", "open"), 10)
            engine.kill()
            set_price(sim, "XBTUSD", resting - Decimal("500.0"))  # the limit fills while down
            assert wait_until(lambda: sim.orders()[0]["status"] == "closed", 10), sim.orders()
            # Keep the stream down after the restart, so the fills can only be learnt by REST.
            set_faults(sim, {"endpoint": "GetWebSocketsToken", "kind": "unavailable"})
            engine.start()
            failure = engine.wait_for_end(RUN_TIMEOUT_S)
        finally:
            engine.kill()
        trades = sim.control("GET", "trades")["trades"]
    assert failure is None, failure
    reports = [json.loads(line) for line in engine.reports.read_bytes().splitlines()]
    fills = [r for r in reports if r["last_fill_quantity"] is not None]
    assert fills, reports
    assert {r["trade_id"] for r in fills} == {str(t["trade_id"]) for t in trades}
    assert all(r["fee_asset"] == "USD" for r in fills)
    assert sum(Decimal(r["last_fill_quantity"]) for r in fills) == Decimal("0.05")
    assert reports[-1]["status"] == "filled"
    assert Decimal(reports[-1]["fee"]) == sum(Decimal(t["fee"]) for t in trades)
    connection = sqlite3.connect(engine.journal)
    try:
        journaled = connection.execute("SELECT trade_id, fee_asset FROM fills").fetchall()
    finally:
        connection.close()
    assert sorted(journaled) == sorted((str(t["trade_id"]), "USD") for t in trades)
