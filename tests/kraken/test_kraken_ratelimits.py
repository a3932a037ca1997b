"""Rate-limit models: each tier's numbers, REST costs, trading penalties and Kraken's examples."""

from __future__ import annotations

import pytest

from gal_exec.core.clock import ManualClock
from gal_exec.kraken.ratelimits import (
    TIER_LIMITS,
    UNCONFIRMED_REST_COSTS,
    OpenOrderCounter,
    RestCallCounter,
    Tier,
    TierLimits,
    TradingAction,
    TradingCounter,
    trading_cost,
)


def test_tier_numbers_pinned() -> None:
    assert TIER_LIMITS[Tier.STARTER] == TierLimits(
        rest_max=15,
        rest_decay=0.33,
        trading_threshold=60,
        trading_decay=1.0,
        max_open_orders_per_pair=60,
    )
    assert TIER_LIMITS[Tier.INTERMEDIATE] == TierLimits(
        rest_max=20,
        rest_decay=0.5,
        trading_threshold=125,
        trading_decay=2.34,
        max_open_orders_per_pair=80,
    )
    assert TIER_LIMITS[Tier.PRO] == TierLimits(
        rest_max=20,
        rest_decay=1.0,
        trading_threshold=180,
        trading_decay=3.75,
        max_open_orders_per_pair=225,
    )


# --- REST counter --------------------------------------------------------------------------------


def test_rest_costs() -> None:
    counter = RestCallCounter(Tier.PRO, ManualClock())
    assert counter.cost("AddOrder") == 0
    assert counter.cost("CancelOrder") == 0
    assert counter.cost("TradesHistory") == 2
    assert counter.cost("Ledgers") == 2
    assert counter.cost("OpenOrders") == 1
    assert counter.cost("QueryOrders") == 1
    assert counter.cost("Balance") == 1
    assert counter.cost("Ticker") == 0
    assert RestCallCounter(Tier.PRO, ManualClock(), ledger_cost=4).cost("TradesHistory") == 4


def test_unconfirmed_costs_are_charged_not_free() -> None:
    counter = RestCallCounter(Tier.PRO, ManualClock())
    assert {"AmendOrder", "AddOrderBatch", "CancelAll"} <= UNCONFIRMED_REST_COSTS
    assert all(counter.cost(endpoint) >= 1 for endpoint in UNCONFIRMED_REST_COSTS)


def test_rest_counter_fills_and_decays_starter() -> None:
    clock = ManualClock()
    counter = RestCallCounter(Tier.STARTER, clock)
    for _ in range(15):
        assert counter.wait_for("OpenOrders") == 0.0
        counter.record("OpenOrders")
    assert counter.level() == 15
    assert counter.wait_for("OpenOrders") == pytest.approx(1 / 0.33)
    assert counter.wait_for("TradesHistory") == pytest.approx(2 / 0.33)
    assert counter.wait_for("AddOrder") == 0.0  # not on this counter
    clock.advance(1 / 0.33)
    assert counter.wait_for("OpenOrders") == 0.0
    assert counter.level() == pytest.approx(14)
    assert counter.headroom() == pytest.approx(1)


def test_rest_counter_never_below_zero_and_correctable() -> None:
    clock = ManualClock()
    counter = RestCallCounter(Tier.INTERMEDIATE, clock)
    counter.record("Balance")
    clock.advance(100)
    assert counter.level() == 0
    counter.correct(20)  # e.g. after EAPI:Rate limit exceeded
    assert counter.wait_for("Balance") == pytest.approx(1 / 0.5)


# --- trading counter -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "amend", "edit", "cancel"),
    [
        (0.0, 4, 7, 8),
        (4.99, 4, 7, 8),
        (5.0, 3, 6, 6),
        (9.99, 3, 6, 6),
        (10.0, 2, 5, 5),
        (14.99, 2, 5, 5),
        (15.0, 1, 3, 4),
        (44.99, 1, 3, 4),
        (45.0, 1, 2, 2),
        (89.99, 1, 2, 2),
        (90.0, 1, 1, 1),
        (299.99, 1, 1, 1),
        (300.0, 1, 1, 0),
        (10_000.0, 1, 1, 0),
    ],
)
def test_penalties_by_age(age: float, amend: int, edit: int, cancel: int) -> None:
    assert trading_cost(TradingAction.AMEND, age) == amend
    assert trading_cost(TradingAction.EDIT, age) == edit
    assert trading_cost(TradingAction.CANCEL, age) == cancel


def test_add_and_batches() -> None:
    assert trading_cost("add") == 1
    assert trading_cost("batch_add", count=10) == 5
    assert trading_cost("batch_add", count=3) == 1.5
    assert trading_cost("batch_cancel", 1.0, 7.0, 400.0) == 8 + 6 + 0


@pytest.mark.parametrize(
    ("action", "ages", "count"),
    [
        ("add", (1.0,), None),
        ("amend", (), None),
        ("cancel", (1.0, 2.0), None),
        ("batch_add", (), None),
        ("batch_cancel", (), None),
        ("cancel", (-1.0,), None),
        ("cancel", (float("nan"),), None),
        ("teleport", (), None),
    ],
)
def test_bad_cost_questions_raise(action: str, ages: tuple[float, ...], count: int | None) -> None:
    with pytest.raises(ValueError):
        trading_cost(action, *ages, count=count)


def test_documented_example_add_amend_cancel_is_8() -> None:
    # Add (+1), amend 7 s later (+1 fixed, +2 decaying), cancel 36 s after the amend (+4).
    cost = trading_cost("add") + trading_cost("amend", 7.0) + trading_cost("cancel", 36.0)
    assert cost == 8
    counter = TradingCounter(Tier.INTERMEDIATE, ManualClock())
    for step in (trading_cost("add"), trading_cost("amend", 7.0), trading_cost("cancel", 36.0)):
        counter.record("BTC/USD", step)
    assert counter.level("BTC/USD") == 8


def test_documented_example_intermediate_50_adds_then_10s_is_26_6() -> None:
    clock = ManualClock()
    counter = TradingCounter(Tier.INTERMEDIATE, clock)
    for _ in range(50):
        counter.record("BTC/USD", counter.cost_of(TradingAction.ADD))
    clock.advance(10.0)
    assert counter.level("BTC/USD") == pytest.approx(26.6)


def test_trading_counter_is_per_pair_and_answers_when_it_fits() -> None:
    clock = ManualClock()
    counter = TradingCounter(Tier.STARTER, clock)
    counter.record("BTC/USD", 60)
    assert counter.fits("ETH/USD", 1)
    assert counter.wait_for("ETH/USD", 8) == 0.0
    assert not counter.fits("BTC/USD", 1)
    assert counter.wait_for("BTC/USD", 8) == pytest.approx(8.0)  # Starter decays 1 per second
    clock.advance(8.0)
    assert counter.fits("BTC/USD", 8)
    assert counter.headroom("BTC/USD") == pytest.approx(8.0)


def test_cost_above_threshold_fits_from_empty() -> None:
    clock = ManualClock()
    counter = TradingCounter(Tier.STARTER, clock)
    counter.record("BTC/USD", 10)
    assert counter.wait_for("BTC/USD", 400) == pytest.approx(10.0)


def test_trading_counter_correction_from_exchange() -> None:
    counter = TradingCounter(Tier.PRO, ManualClock())
    counter.record("BTC/USD", 5)
    counter.correct("BTC/USD", 170)
    assert counter.level("BTC/USD") == 170
    assert counter.wait_for("BTC/USD", 20) == pytest.approx(10 / 3.75)
    assert counter.threshold == 180


# --- open orders ---------------------------------------------------------------------------------


def test_open_order_counter_uses_tier_maximum() -> None:
    assert OpenOrderCounter(Tier.STARTER).maximum == 60
    assert OpenOrderCounter(Tier.INTERMEDIATE).maximum == 80
    counter = OpenOrderCounter(Tier.PRO)
    assert counter.maximum == 225
    counter.opened("BTC/USD", 224)
    assert counter.can_open("BTC/USD") and not counter.can_open("BTC/USD", 2)
    assert counter.remaining("BTC/USD") == 1
    counter.opened("BTC/USD")
    assert not counter.can_open("BTC/USD") and counter.can_open("ETH/USD")
    counter.closed("BTC/USD", 300)
    assert counter.count("BTC/USD") == 0
    counter.reset("BTC/USD", 7)
    assert counter.count("BTC/USD") == 7
    with pytest.raises(ValueError):
        counter.reset("BTC/USD", -1)
