"""Kraken's rate limits per tier: the REST call counter and the per-pair trading counter."""

from __future__ import annotations

import pytest
from sim_testkit import Client, exchange, simulator

from gal_exec.sim import DEMO_API_KEY as KEY
from gal_exec.sim import SimError
from gal_exec.sim.limits import TIERS, amend_cost, cancel_cost

LIMIT = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "50000", "volume": "0.01"}


@pytest.mark.parametrize(
    ("tier", "maximum", "decay"),
    [("starter", 15, 0.33), ("intermediate", 20, 0.5), ("pro", 20, 1.0)],
)
def test_rest_counter_per_tier(tier: str, maximum: int, decay: float) -> None:
    with simulator(tier=tier) as sim:
        client = Client(sim.rest_url)
        for _ in range(maximum):
            client.ok("Balance")
        assert client.error("Balance") == "EAPI:Rate limit exceeded"
        # Refused calls are not counted: after decay for one call, exactly one more fits.
        sim.exchange.advance(1.0 / decay + 0.01)
        client.ok("Balance")
        assert client.error("OpenOrders") == "EAPI:Rate limit exceeded"


def test_history_costs_two_and_order_entry_is_not_counted() -> None:
    with simulator(tier="pro") as sim:
        client = Client(sim.rest_url)
        for _ in range(16):  # 32 order-entry calls: past the REST max, under the trading one
            txid = client.ok("AddOrder", LIMIT)["txid"][0]
            client.ok("CancelOrder", {"txid": txid})
        assert sim.exchange.limits.rest_level(KEY) == pytest.approx(0, abs=0.01)
        for _ in range(10):
            client.ok("TradesHistory")
        assert client.error("Balance") == "EAPI:Rate limit exceeded"


@pytest.mark.parametrize("tier", ["starter", "intermediate", "pro"])
def test_trading_counter_threshold_per_tier(tier: str) -> None:
    ex, _ = exchange(tier=tier)
    threshold = int(TIERS[tier].trading_max)
    ex.add_account(
        "other",
        "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==",
        {"ZUSD": 10**9},
    )
    limits = ex.limits
    # Fill the counter without open orders in the way: count adds as Kraken would.
    limits.charge_trading(KEY, "XXBTZUSD", threshold - 1)
    ex.add_order(KEY, LIMIT)
    with pytest.raises(SimError, match="EOrder:Rate limit exceeded"):
        ex.add_order(KEY, LIMIT)
    ex.add_order(KEY, {**LIMIT, "pair": "ETHUSD", "price": "3000"})  # counters are per pair
    ex.add_order("other", LIMIT)  # and per key
    ex.advance(1.0 / TIERS[tier].trading_decay + 0.01)
    ex.add_order(KEY, LIMIT)


def test_cancel_and_amend_penalties_fall_with_age() -> None:
    assert [cancel_cost(age) for age in (0, 5, 10, 15, 45, 90, 300)] == [8, 6, 5, 4, 2, 1, 0]
    assert [amend_cost(age) for age in (0, 5, 10, 15)] == [4, 3, 2, 1]
    ex, _ = exchange(tier="starter", liquidity_per_step=1.0)
    txid = ex.add_order(KEY, LIMIT)["txid"][0]
    assert ex.rate_counter(KEY) == {"BTC/USD": 1}
    ex.cancel_order(KEY, txid=txid)
    assert ex.rate_counter(KEY)["BTC/USD"] == 9
    txid = ex.add_order(KEY, LIMIT)["txid"][0]
    ex.advance(7)  # decays 7; the amend at age 7 costs 1 + 2
    ex.amend_order(KEY, {"txid": txid, "order_qty": "0.02"})
    ex.advance(36)  # decays the rest; the cancel 36 s after the amend costs 4
    ex.cancel_order(KEY, txid=txid)
    assert ex.rate_counter(KEY)["BTC/USD"] == 4


def test_batch_add_and_batch_cancel_costs() -> None:
    ex, _ = exchange(tier="starter")
    orders = [dict(LIMIT, pair=None) for _ in range(4)]
    result = ex.add_order_batch(KEY, "XBTUSD", [{k: v for k, v in o.items() if v} for o in orders])
    assert ex.rate_counter(KEY)["BTC/USD"] == 2
    txids = [entry["txid"] for entry in result["orders"]]
    ex.limits.charge_trading(KEY, "XXBTZUSD", 50)
    # A batch cancel is accepted even past the threshold, and counted.
    assert ex.cancel_order_batch(KEY, txids, []) == {"count": 4}
    assert ex.rate_counter(KEY)["BTC/USD"] == 2 + 50 + 32


def test_limits_off() -> None:
    ex, _ = exchange(tier="starter", enforce_rate_limits=False)
    for _ in range(70):
        ex.add_order(KEY, LIMIT)
    assert len(ex.open_orders(KEY)["open"]) == 70
    assert ex.rate_counter(KEY)["BTC/USD"] == 70
