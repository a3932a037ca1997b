"""exchange.mode = "paper" end to end: the engine's embedded simulator follows another
simulator's public WS v2 ticker (standing in for Kraken's) and fills orders at its prices."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import requests

from gal_exec.config import (
    Config,
    ExchangeConfig,
    JournalConfig,
    MarketDataConfig,
    PaperConfig,
    SimConfig,
)
from gal_exec.core.clock import ManualClock
from gal_exec.engine import Engine, EngineError
from gal_exec.messages import ExecutionReport, TradeSignalApproved
from gal_exec.sim.server import Simulator

pytestmark = pytest.mark.timeout(60)
D = Decimal


class Reports:
    def __init__(self) -> None:
        self.items: list[ExecutionReport] = []
        self.changed = threading.Condition()

    def __call__(self, report: ExecutionReport) -> None:
        with self.changed:
            self.items.append(report)
            self.changed.notify_all()

    def final(self, signal_id: str, timeout: float = 20.0) -> ExecutionReport:
        terminal = {"filled", "canceled", "expired", "rejected"}

        def done() -> bool:
            return any(r.signal_id == signal_id and r.status in terminal for r in self.items)

        with self.changed:
            assert self.changed.wait_for(done, timeout), self.items
        return [r for r in self.items if r.signal_id == signal_id][-1]


def paper_config(feed_url: str, tmp_path) -> Config:
    return Config(
        exchange=ExchangeConfig(mode="paper"),
        paper=PaperConfig(feed_url=feed_url, liveness_timeout_s=5.0),
        market_data=MarketDataConfig(pairs=["XBT/USD"]),
        journal=JournalConfig(path=str(tmp_path / "paper.sqlite")),
    )


def wait_for_last(engine: Engine, price: Decimal) -> None:
    pause = threading.Event()
    for _ in range(400):
        info = engine.health()["market_data"]["pairs"]["BTC/USD"]
        if info["last"] is not None and D(info["last"]) == price:
            return
        pause.wait(0.05)
    raise AssertionError(engine.health()["market_data"])


def test_paper_engine_fills_at_the_feeds_prices_and_keeps_the_live_risk_defaults(tmp_path):
    source_config = SimConfig(clock="manual", volatility_bps=0.0, spread_bps=10.0)
    with Simulator(source_config, clock=ManualClock(1_700_000_000.0)) as source:
        reports = Reports()
        engine = Engine.start(paper_config(source.ws_url, tmp_path), callbacks=[reports])
        try:
            assert engine.config.risk.market_notional_cap == "5000"
            moved = requests.post(
                f"{source.control_url}/price",
                json={"pair": "XBTUSD", "price": "71000.0"},
                timeout=5,
            ).json()
            wait_for_last(engine, D("71000.0"))
            engine.submit(
                TradeSignalApproved(
                    signal_id="paper-buy",
                    pair="XBT/USD",
                    side="buy",
                    order_type="market",
                    quantity=D("0.01"),
                )
            )
            filled = reports.final("paper-buy")
            assert filled.status == "filled" and filled.average_price == D(moved["ask"])
            engine.submit(
                TradeSignalApproved(
                    signal_id="fat-finger",
                    pair="XBT/USD",
                    side="buy",
                    order_type="market",
                    quantity=D("5000"),
                )
            )
            refused = reports.final("fat-finger")
            assert refused.status == "rejected"
            assert refused.reason.startswith("market notional cap: 5000 x ")
            assert "exceeds the cap 5000" in refused.reason
        finally:
            engine.stop()
        assert source.exchange.dump_orders() == []  # paper orders never reach the feed's exchange


def test_paper_mode_names_an_unknown_pair(tmp_path):
    config = Config(
        exchange=ExchangeConfig(mode="paper"),
        paper=PaperConfig(feed_url="ws://127.0.0.1:9", pairs=["NOPE/USD"]),
        market_data=MarketDataConfig(pairs=["XBT/USD"]),
        journal=JournalConfig(path=str(tmp_path / "paper.sqlite")),
    )
    with pytest.raises(EngineError, match=r"^paper\.pairs: unknown pair 'NOPE/USD'$"):
        Engine.start(config)
