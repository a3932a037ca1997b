"""Bursts on one pair with the simulator enforcing Kraken's limits: the gateway must pace them.

The default suite runs bursts at the pro tier sized past its budgets: 200 single AddOrders against
the trading threshold (180 points, decay 3.75/s), and 330 coalesced orders, which need more than
the REST counter's 20 AddOrderBatch calls or (as singles) more than 180 trading points. The
full 500-order burst at the starter tier (threshold 60, decay 1/s) is marked slow.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal

import pytest

from gal_exec.core.clock import ManualClock
from gal_exec.messages import CancelSignal
from tests.e2e.invariants import assert_no_rate_limit_errors, assert_sequences_gap_free
from tests.e2e.support import TERMINAL, Harness, engine_config, preconditions, sim_config

log = logging.getLogger(__name__)

THRESHOLD = {"starter": 60, "intermediate": 125, "pro": 180}  # trading counter, per pair
REST_MAX = {"starter": 15, "intermediate": 20, "pro": 20}
QUANTITY = "0.0001"  # the pair's ordermin


def _burst(
    start_harness, *, tier: str, count: int, coalesce: bool, order_type: str = "market"
) -> tuple[Harness, float]:
    harness: Harness = start_harness(
        sim=sim_config(tier=tier, enforce_rate_limits=True),
        config=engine_config(tier=tier, coalesce_batches=coalesce),
    )
    extra = {"limit_price": "60000.0", "time_in_force": "IOC"} if order_type == "limit" else {}
    started = time.monotonic()
    signals = [
        harness.signal(order_type=order_type, quantity=QUANTITY, signal_id=f"burst-{n}", **extra)
        for n in range(count)
    ]
    wanted = set(signals)
    harness.reports.wait_for(
        lambda rs: wanted <= {r.signal_id for r in rs if r.status in TERMINAL},
        timeout=count * 2.0,
        what=f"all {count} orders to end",
    )
    elapsed = time.monotonic() - started
    return harness, elapsed


def _check(harness: Harness, *, tier: str, count: int, expect: str) -> dict:
    reports = harness.reports.all
    assert_no_rate_limit_errors(reports)
    finals = {r.signal_id: r for r in reports if r.status in TERMINAL}
    assert len(finals) == count
    assert {r.status for r in finals.values()} == {expect}, {r.status for r in finals.values()}
    assert_sequences_gap_free(reports)
    assert harness.engine is not None
    health = harness.engine.health()
    codes = health["errors"]["by_code"]
    assert not any("Rate limit" in code or "Orders limit" in code for code in codes), codes
    calls = health["gateway"]["calls"]
    single = calls.get("AddOrder", 0)
    trading_cost = single + (count - single) / 2
    rest_cost = sum(n for endpoint, n in calls.items() if endpoint != "AddOrder")
    # Sized so that whatever the gateway's batching policy, one of Kraken's budgets is overrun.
    assert trading_cost > THRESHOLD[tier] or rest_cost > REST_MAX[tier], (
        f"the burst (trading {trading_cost}, REST {rest_cost}) stayed inside both budgets"
    )
    on_exchange = harness.sim.orders()
    assert len(on_exchange) == count
    assert len({o["cl_ord_id"] for o in on_exchange}) == count
    return calls


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("count", "coalesce"), [(330, True), (200, False)], ids=["batched-330", "single-200"]
)
def test_burst_past_the_pro_threshold_is_paced_without_rate_limit_errors(
    start_harness, count: int, coalesce: bool
) -> None:
    harness, elapsed = _burst(start_harness, tier="pro", count=count, coalesce=coalesce)
    calls = _check(harness, tier="pro", count=count, expect="filled")
    filled = sum(Decimal(o["vol_exec"]) for o in harness.sim.orders())
    assert filled == count * Decimal(QUANTITY)
    log.warning(
        "burst of %d at pro (batches %s): %.1f s, calls %s", count, coalesce, elapsed, calls
    )


@pytest.mark.timeout(60)
def test_open_order_cap_holds_placements_until_orders_end(start_harness) -> None:
    """Starter allows 60 open orders per pair: the 10 beyond wait in the gateway, never refused."""
    harness: Harness = start_harness(
        sim=sim_config(tier="starter", liquidity_per_step=100.0),
        config=engine_config(tier="starter"),
    )
    count = 70
    signals = [
        harness.signal(order_type="limit", quantity=QUANTITY, limit_price="64990.0")
        for _ in range(count)
    ]
    ids = [harness.reports.entry_id(s) for s in signals]
    harness.reports.wait_for(
        lambda rs: sum(1 for r in rs if r.status == "open") >= 60, what="60 open orders"
    )
    assert harness.sim.state()["open_orders"] == 60
    gateway = harness.gateway_health()
    assert gateway["open_orders"]["XBTUSD"] == 60
    assert gateway["queued"]["place"] == 10

    harness.sim.price("64980.0")  # fills the 60; the 10 held go out and fill as they arrive
    for cl_ord_id in ids:
        assert harness.reports.wait_terminal(cl_ord_id).status == "filled"
    reports = harness.reports.all
    assert_no_rate_limit_errors(reports)
    assert not any("limit exceeded" in (r.error_code or "") for r in reports)
    assert len(harness.sim.orders()) == count
    assert_sequences_gap_free(reports)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_burst_of_500_at_starter_is_paced_without_rate_limit_errors(start_harness) -> None:
    harness, elapsed = _burst(start_harness, tier="starter", count=500, coalesce=True)
    calls = _check(harness, tier="starter", count=500, expect="filled")
    log.warning("burst of 500 at starter: %.1f s, calls %s", elapsed, calls)


@pytest.mark.timeout(60)
def test_cancel_of_an_order_still_queued_in_the_gateway_never_reaches_the_exchange(
    start_harness,
) -> None:
    # The engine's clock stands still, so its model of the trading counter never decays: once
    # 180 AddOrders are out (the pro counter's limit) the rest stay queued until the cancel.
    clock = ManualClock(start=time.time())
    harness: Harness = start_harness(config=engine_config(coalesce_batches=False), clock=clock)
    with preconditions():
        for n in range(200):
            harness.signal(order_type="market", quantity=QUANTITY, signal_id=f"filler-{n}")
        # Marketable: if it ever reaches the exchange, it fills at once.
        target = harness.signal(order_type="limit", quantity="0.01", limit_price="65100.0")
        cl_ord_id = harness.reports.entry_id(target)
        harness.reports.wait_status(cl_ord_id, {"submitted"})
        assert harness.sim.orders_by_cl_ord_id(cl_ord_id) == [], "it left before the cancel"
        harness.submit(CancelSignal(signal_id=target))

    final = harness.reports.wait_terminal(cl_ord_id, timeout=30)
    assert final.status == "canceled", final
    assert final.filled_quantity == 0
    assert harness.sim.orders_by_cl_ord_id(cl_ord_id) == []
