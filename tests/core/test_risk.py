"""Pre-trade checks: quantization, pair minimums, price band, market cap, exposure, batches."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gal_exec.core.clock import ManualClock
from gal_exec.core.market import PriceCache, Quote, Stale
from gal_exec.core.risk import (
    BatchEntry,
    Exposure,
    PairLimits,
    RiskLimits,
    check_batch,
    check_signal,
    order_notional,
    quantize_fields,
)
from gal_exec.messages import TradeSignalApproved

D = Decimal
START = 1_700_000_000.0
BTC = PairLimits(
    pair="BTC/USD",
    tick_size=D("0.1"),
    lot_step=D("0.00000001"),
    ordermin=D("0.0001"),
    costmin=D("0.5"),
)


def signal(**changes: object) -> TradeSignalApproved:
    values: dict[str, object] = {
        "signal_id": "s1",
        "pair": "BTC/USD",
        "side": "buy",
        "order_type": "limit",
        "quantity": D("0.01"),
        "limit_price": D("65000.0"),
    }
    values.update(changes)
    return TradeSignalApproved(**values)  # type: ignore[arg-type]


def quote(
    last: str = "65000.0", *, bid: str | None = None, ask: str | None = None, **vol: float
) -> Quote:
    return Quote(
        pair="BTC/USD",
        last=D(last),
        bid=D(bid) if bid else None,
        ask=D(ask) if ask else None,
        time=START,
        checked_at=START,
        volatility=dict(vol),
    )


def check(
    order: TradeSignalApproved, price: Quote | Stale | None = None, **limits: object
) -> list[str]:
    return check_signal(
        order,
        rules=BTC,
        quote=price if price is not None else quote(),
        exposure=Exposure(),
        limits=RiskLimits(**limits),  # type: ignore[arg-type]
    )


# ---- quantization -----------------------------------------------------------------------------


def test_quantize_rounds_quantity_down_and_a_buy_limit_down() -> None:
    order = signal(quantity=D("0.123456789"), limit_price=D("65000.07"))
    changes, notes = quantize_fields(order, BTC)
    assert changes == {"quantity": D("0.12345678"), "limit_price": D("65000.0")}
    assert notes == [
        "quantity 0.123456789 rounded down to 0.12345678 (lot step 0.00000001 for BTC/USD)",
        "limit_price 65000.07 rounded down to 65000.0 (tick size 0.1 for BTC/USD)",
    ]
    placed = msgspec.structs.replace(order, **changes)
    assert check(placed) == []


def test_quantize_rounds_a_sell_limit_up_and_triggers_to_the_nearest_tick() -> None:
    changes, _ = quantize_fields(
        signal(
            side="sell", limit_price=D("65000.01"), sl_price=D("66000.06"), tp_price=D("64000.04")
        ),
        BTC,
    )
    assert changes == {
        "limit_price": D("65000.1"),
        "sl_price": D("66000.1"),
        "tp_price": D("64000.0"),
    }
    stop, _ = quantize_fields(
        signal(
            order_type="stop-loss-limit", limit_price=D("64000.04"), trigger_price=D("64100.05")
        ),
        BTC,
    )
    assert stop == {"limit_price": D("64000.0"), "trigger_price": D("64100.0")}


def test_quantize_leaves_on_grid_values_and_trailing_offsets_alone() -> None:
    assert quantize_fields(signal(), BTC) == ({}, [])
    changes, _ = quantize_fields(
        signal(order_type="trailing-stop", limit_price=None, trigger_price=D("1.23")), BTC
    )
    assert changes == {}


@settings(max_examples=150, deadline=None)
@given(
    quantity=st.decimals(min_value=D("0.00000001"), max_value=D(1000), places=12),
    price=st.decimals(min_value=D("0.1"), max_value=D(200000), places=6),
    side=st.sampled_from(["buy", "sell"]),
)
def test_quantized_orders_are_on_the_grid_and_never_bigger_or_more_aggressive(
    quantity: Decimal, price: Decimal, side: str
) -> None:
    order = signal(side=side, quantity=quantity, limit_price=price)
    changes, notes = quantize_fields(order, BTC)
    placed = msgspec.structs.replace(order, **changes)
    assert placed.quantity % BTC.lot_step == 0
    assert placed.limit_price is not None and placed.limit_price % BTC.tick_size == 0
    assert placed.quantity <= quantity
    assert quantity - placed.quantity < BTC.lot_step
    if side == "buy":
        assert placed.limit_price <= price
    else:
        assert placed.limit_price >= price
    assert abs(placed.limit_price - price) < BTC.tick_size
    assert len(notes) == len(changes)


# ---- pair rules -------------------------------------------------------------------------------


def test_off_grid_values_and_minimums_name_the_rule_and_numbers() -> None:
    found = check(signal(quantity=D("0.000051234"), limit_price=D("65000.05")))
    assert found == [
        "lot: quantity 0.000051234 is not a multiple of the lot step 0.00000001 for BTC/USD",
        "ordermin: quantity 0.000051234 below ordermin 0.0001 for BTC/USD",
        "tick: limit_price 65000.05 is not a multiple of the tick size 0.1 for BTC/USD",
    ]
    cheap = check(signal(limit_price=D("10.0"), quantity=D("0.001")))
    assert cheap == ["costmin: cost 0.0100 below costmin 0.5 for BTC/USD"]


def test_a_market_order_is_costed_at_the_touch_price() -> None:
    price = quote("100.0", bid="99.0", ask="101.0")
    order = signal(order_type="market", limit_price=None, quantity=D("0.0049"))
    assert order_notional(order, price) == D("0.49490")
    assert check(order, price) == ["costmin: cost 0.49490 below costmin 0.5 for BTC/USD"]
    assert order_notional(signal(order_type="market", limit_price=None, side="sell"), price) == D(
        "0.990"
    )


# ---- price band -------------------------------------------------------------------------------


def test_price_band_in_percent() -> None:
    far = signal(limit_price=D("70000.0"))
    assert check(far, price_band_pct=5) == [
        "price band: limit 70000.0 is 7.7% from last 65000.0; the band is 5%"
    ]
    assert check(signal(limit_price=D("68250.0")), price_band_pct=5) == []  # exactly 5 %
    below = check(signal(side="sell", limit_price=D("61000.0")), price_band_pct=5)
    assert below == ["price band: limit 61000.0 is 6.2% from last 65000.0; the band is 5%"]


def test_price_band_in_volatility_units() -> None:
    price = quote(**{"5m": 0.01})  # a 1 % typical 5-minute move
    inside = signal(limit_price=D("66300.0"))  # 2.0 % away: exactly 2 units
    assert check(inside, price, price_band_vol_units=2) == []
    outside = signal(limit_price=D("67000.0"))
    assert check(outside, price, price_band_vol_units=2) == [
        "price band: limit 67000.0 is 3.1% from last 65000.0, 3.1 volatility units "
        "(5m volatility 1.00%); the band is 2 units"
    ]
    # An explicit estimate overrides the quote's; without any, only the percent band applies.
    assert (
        check_signal(
            outside,
            rules=BTC,
            quote=price,
            exposure=Exposure(),
            limits=RiskLimits(price_band_vol_units=2),
            volatility=0.02,
        )
        == []
    )
    assert check(outside, quote(), price_band_vol_units=2) == []


def test_price_band_does_not_apply_to_stop_orders() -> None:
    stop = signal(order_type="stop-loss", limit_price=None, trigger_price=D("50000.0"))
    assert check(stop, price_band_pct=1) == []


# ---- stale prices -----------------------------------------------------------------------------


def test_a_stale_price_is_never_used_and_the_rejection_says_so() -> None:
    clock = ManualClock(START)
    cache = PriceCache(stale_after_s=10)
    cache.update("BTC/USD", last=D("65000.0"), time=clock.time())
    clock.advance(30)
    stale = cache.quote("BTC/USD", clock.time())
    assert isinstance(stale, Stale)
    found = check(signal(limit_price=D("65000.0")), stale, price_band_pct=5)
    assert found == [
        "stale price: the last BTC/USD price (65000.0, from stream) is 30.0 s old; prices "
        "older than 10 s are stale; cannot check price band"
    ]
    market = signal(order_type="market", limit_price=None)
    assert check(market, stale, market_notional_cap=D(1000), max_exposure_total=D(10**6)) == [
        "stale price: the last BTC/USD price (65000.0, from stream) is 30.0 s old; prices "
        "older than 10 s are stale; cannot check market notional cap, exposure"
    ]


def test_a_limit_order_needs_no_price_when_no_price_rule_is_on() -> None:
    assert check(signal(), Stale(pair="BTC/USD", reason="no price for BTC/USD yet")) == []
    found = check_signal(
        signal(order_type="market", limit_price=None),
        rules=BTC,
        quote=None,
        exposure=Exposure(),
        limits=RiskLimits(),
    )
    # Kraken checks costmin on arrival: no price is no reason to refuse a market order.
    assert found == []


# ---- market notional cap ----------------------------------------------------------------------


def test_market_notional_cap_names_quantity_price_and_cap() -> None:
    order = signal(order_type="market", limit_price=None, quantity=D("2"))
    price = quote(ask="65000.5", bid="64999.5")
    assert check(order, price, market_notional_cap=D(100000)) == [
        "market notional cap: 2 x 65000.5 = 130001.0 exceeds the cap 100000 for BTC/USD"
    ]
    assert (
        check(
            signal(order_type="market", limit_price=None, quantity=D("1")),
            price,
            market_notional_cap=D(100000),
        )
        == []
    )
    # The cap is for market orders: a limit order of the same size passes.
    assert check(signal(quantity=D("2")), price, market_notional_cap=D(100000)) == []


# ---- exposure ---------------------------------------------------------------------------------


def test_exposure_per_pair_and_total() -> None:
    exposure = Exposure()
    exposure.add("o1", "BTC/USD", D("1"), D("60000"))
    exposure.add("o2", "ETH/USD", D("10"), D("3000"))
    limits = RiskLimits(max_exposure_per_pair=D(100000), max_exposure_total=D(120000))
    order = signal(quantity=D("0.5"), limit_price=D("65000.0"))
    found = check_signal(order, rules=BTC, quote=quote(), exposure=exposure, limits=limits)
    assert found == ["total exposure: open 90000 + this order 32500.00 = 122500.00 exceeds 120000"]
    bigger = signal(quantity=D("1"), limit_price=D("65000.0"))
    found = check_signal(bigger, rules=BTC, quote=quote(), exposure=exposure, limits=limits)
    assert found[0] == (
        "exposure per pair: BTC/USD open 60000 + this order 65000.0 = 125000.0 exceeds 100000"
    )
    exposure.release("o2")
    assert check_signal(order, rules=BTC, quote=quote(), exposure=exposure, limits=limits) == []


def test_exposure_is_marked_to_the_market_and_released_by_key() -> None:
    exposure = Exposure()
    exposure.add("o1", "BTC/USD", D("1"), D("60000"))
    exposure.add("o2", "BTC/USD", D("0.5"), D("62000"))
    assert exposure.notional("BTC/USD") == D("91000")
    exposure.mark("BTC/USD", D("70000"))
    assert exposure.notional("BTC/USD") == D("105000")
    assert exposure.notional() == D("105000")
    exposure.reduce("o1", D("0.25"))
    assert exposure.notional("BTC/USD") == D("87500.00")
    exposure.mark("BTC/USD", None)
    assert exposure.notional("BTC/USD") == D("76000.00")
    exposure.release("o1")
    exposure.release("o2")
    exposure.release("never-added")
    assert exposure.notional() == 0 and len(exposure) == 0
    with pytest.raises(ValueError, match="must be >= 0"):
        exposure.add("o3", "BTC/USD", D(-1), D(1))


def test_exposure_copy_is_independent() -> None:
    exposure = Exposure()
    exposure.add("o1", "BTC/USD", D("1"), D("100"))
    clone = exposure.copy()
    clone.add("o2", "BTC/USD", D("1"), D("100"))
    assert exposure.notional() == D(100) and clone.notional() == D(200)
    assert "o2" in clone and "o2" not in exposure


# ---- batches ----------------------------------------------------------------------------------


def entries(*orders: TradeSignalApproved) -> list[BatchEntry]:
    return [BatchEntry(order=order, rules=BTC, quote=quote()) for order in orders]


def test_all_or_nothing_rejects_every_entry_when_one_fails() -> None:
    batch = entries(
        signal(signal_id="a", quantity=D("1"), limit_price=D("65000.0")),
        signal(signal_id="b", quantity=D("1"), limit_price=D("65000.0")),
        signal(signal_id="c", limit_price=D("80000.0")),
    )
    limits = RiskLimits(max_exposure_per_pair=D(100000), price_band_pct=5)
    verdict = check_batch(batch, exposure=Exposure(), limits=limits)
    assert verdict.mode == "all_or_nothing"
    assert verdict.accepted == []
    assert verdict.reasons[0] == [
        "batch rejected as a whole (all_or_nothing): signal b, signal c failed the pre-trade checks"
    ]
    assert verdict.reasons[1] == [
        "exposure per pair: BTC/USD open 65000.0 + this order 65000.0 = 130000.0 exceeds 100000"
    ]
    assert verdict.reasons[2][0].startswith("price band: limit 80000.0 is 23.1% from last")


def test_best_effort_places_what_fits_in_order() -> None:
    batch = entries(
        signal(signal_id="a", quantity=D("1"), limit_price=D("65000.0")),
        signal(signal_id="b", quantity=D("1"), limit_price=D("65000.0")),
        signal(signal_id="c", quantity=D("0.5"), limit_price=D("65000.0")),
    )
    limits = RiskLimits(max_exposure_per_pair=D(100000), batch_mode="best_effort")
    existing = Exposure()
    verdict = check_batch(batch, exposure=existing, limits=limits)
    assert verdict.accepted == [0, 2]
    assert verdict.rejected == [1]
    assert verdict.notional == D("97500.00")
    assert len(existing) == 0  # the batch is only tried on


def test_batch_notional_limit_in_either_mode() -> None:
    batch = entries(
        signal(signal_id="a", quantity=D("1"), limit_price=D("65000.0")),
        signal(signal_id="b", quantity=D("1"), limit_price=D("65000.0")),
    )
    limits = RiskLimits(max_batch_notional=D(100000))
    best = check_batch(batch, exposure=Exposure(), limits=limits, mode="best_effort")
    assert best.accepted == [0]
    assert best.reasons[1] == [
        "batch notional: batch 65000.0 + this order 65000.0 = 130000.0 exceeds 100000"
    ]
    whole = check_batch(batch, exposure=Exposure(), limits=limits)
    assert whole.accepted == []
    assert whole.reasons[0][0].startswith("batch rejected as a whole (all_or_nothing): signal b")


def test_a_batch_market_order_without_a_fresh_price_cannot_be_sized() -> None:
    stale = Stale(pair="BTC/USD", reason="no price for BTC/USD yet")
    batch = [
        BatchEntry(
            order=signal(signal_id="m", order_type="market", limit_price=None),
            rules=BTC,
            quote=stale,
        ),
        BatchEntry(order=signal(signal_id="l"), rules=BTC, quote=stale),
    ]
    verdict = check_batch(
        batch,
        exposure=Exposure(),
        limits=RiskLimits(max_batch_notional=D(10**6)),
        mode="best_effort",
    )
    assert verdict.accepted == [1]
    assert verdict.reasons[0] == [
        "stale price: no price for BTC/USD yet; cannot check batch notional",
    ]


def test_lot_rounding_helper_matches_decimal_rounding() -> None:
    # The same answer as quantizing with Decimal directly: no float anywhere.
    changes, _ = quantize_fields(signal(quantity=D("1.999999999")), BTC)
    assert changes["quantity"] == D("1.999999999").quantize(D("0.00000001"), rounding=ROUND_DOWN)
    assert isinstance(changes["quantity"], Decimal)
