"""Pre-trade risk and batches through a real engine and simulator (issue: market data and risk)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from gal_exec.batch import BatchReport
from gal_exec.config import Config, JournalConfig, MarketDataConfig, RiskConfig
from gal_exec.engine import Endpoints, Engine
from gal_exec.messages import BatchSubmit, ExecutionReport, TradeSignalApproved
from gal_exec.sim.server import Simulator

pytestmark = pytest.mark.timeout(90)
D = Decimal


class Collector:
    def __init__(self) -> None:
        self.items: list = []
        self.changed = threading.Condition()

    def __call__(self, item) -> None:
        with self.changed:
            self.items.append(item)
            self.changed.notify_all()

    def wait(self, predicate, timeout: float = 20.0):
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self.items), timeout), self.items
        return self.items


def final(items, signal_id: str) -> ExecutionReport:
    mine = [r for r in items if isinstance(r, ExecutionReport) and r.signal_id == signal_id]
    return mine[-1]


def signal(signal_id: str, **fields) -> TradeSignalApproved:
    base = dict(
        signal_id=signal_id, pair="XBT/USD", side="buy", order_type="limit", quantity=D("0.01")
    )
    base.update(fields)
    return TradeSignalApproved(**base)


@pytest.fixture
def engine(tmp_path):
    with Simulator() as sim:
        config = Config(
            journal=JournalConfig(path=str(tmp_path / "j.sqlite")),
            market_data=MarketDataConfig(enabled=True, pairs=["XBT/USD", "ETH/USD"]),
            risk=RiskConfig(
                price_band_pct=2.0, market_notional_cap="1000", batch_mode="best_effort"
            ),
        )
        endpoints = Endpoints(
            rest_url=sim.rest_url,
            ws_url=sim.ws_url,
            ws_auth_url=sim.ws_auth_url,
            api_key=sim.api_key,
            api_secret=sim.api_secret,
        )
        reports = Collector()
        started = Engine.start(config, endpoints=endpoints, callbacks=[reports])
        started.subscribe(reports, batches=True)
        try:
            yield started, reports
        finally:
            started.stop(cancel_open=True)


def wait_for_prices(engine: Engine) -> None:
    deadline = threading.Event()
    for _ in range(200):
        pairs = engine.health()["market_data"]["pairs"]
        if all(not info.get("stale", True) for info in pairs.values()) and len(pairs) == 2:
            return
        deadline.wait(0.05)
    raise AssertionError(engine.health()["market_data"])


def test_price_band_and_notional_cap_reject_with_the_numbers(engine):
    eng, reports = engine
    wait_for_prices(eng)
    eng.submit(signal("far", limit_price=D("50000.0")))
    eng.submit(signal("big-market", order_type="market", quantity=D("0.5")))
    eng.submit(signal("near", limit_price=D("64000.0")))
    reports.wait(
        lambda items: (
            {"far", "big-market", "near"}
            <= {
                r.signal_id
                for r in items
                if isinstance(r, ExecutionReport) and r.status in ("rejected", "open")
            }
        )
    )
    far = final(reports.items, "far")
    assert far.status == "rejected" and far.reason.startswith("price band: limit 50000.0 is ")
    assert "the band is 2%" in far.reason
    big = final(reports.items, "big-market")
    assert big.status == "rejected" and big.reason.startswith("market notional cap: 0.5 x ")
    assert final(reports.items, "near").status != "rejected"


def test_batch_best_effort_places_the_good_and_reports_once(engine):
    eng, reports = engine
    wait_for_prices(eng)
    batch = BatchSubmit(
        batch_id="b-1",
        signals=[
            signal("b-ok-1", limit_price=D("64500.0")),
            signal("b-bad-pair", pair="NOPE/USD", limit_price=D("1.0")),
            signal("b-ok-2", pair="ETH/USD", quantity=D("0.1"), limit_price=D("3190.00")),
        ],
    )
    eng.submit(batch)
    items = reports.wait(lambda items: any(isinstance(i, BatchReport) for i in items))
    (batch_report,) = [i for i in items if isinstance(i, BatchReport)]
    assert batch_report.batch_id == "b-1" and batch_report.status == "partial"
    assert batch_report.placed == 2 and batch_report.rejected == 1
    assert "unknown pair 'NOPE/USD'" in final(items, "b-bad-pair").reason
