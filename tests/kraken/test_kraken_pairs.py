"""Pair rules: every naming form resolves, order checks name the rule and the numbers."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP, Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gal_exec.core.grid import order_problems
from gal_exec.kraken.codec import AssetPairInfo, decode_result
from gal_exec.kraken.pairs import (
    PairRegistry,
    PairRules,
    UnknownPair,
    is_on_lot,
    is_on_tick,
    quantize_price,
    quantize_quantity,
    v2_asset,
)
from gal_exec.messages import TradeSignalApproved

D = Decimal


def check(
    rules: PairRules,
    side: str,
    order_type: str,
    quantity: Decimal,
    price: Decimal | None = None,
    trigger: Decimal | None = None,
    *,
    reference_price: Decimal | None = None,
    post_only: bool = False,
    reduce_only: bool = False,
) -> list[str]:
    order = TradeSignalApproved(
        signal_id="s",
        pair=rules.wsname,
        side=side,
        order_type=order_type,
        quantity=quantity,
        limit_price=price,
        trigger_price=trigger,
        post_only=post_only,
        reduce_only=reduce_only,
    )
    return order_problems(order, rules.limits(), reference_price=reference_price)


@pytest.fixture
def registry(samples_dir: Path) -> PairRegistry:
    result = decode_result("AssetPairs", (samples_dir / "assetpairs-response-1.json").read_bytes())
    doge = AssetPairInfo(
        altname="XDGUSD",
        wsname="XDG/USD",
        base="XXDG",
        quote="ZUSD",
        pair_decimals=7,
        lot_decimals=8,
        cost_decimals=5,
        ordermin=D("50"),
        costmin=D("0.5"),
        tick_size=D("0.0000001"),
    )
    return PairRegistry.from_asset_pairs({**result, "XDGUSD": doge})


@pytest.fixture
def xbt(registry: PairRegistry) -> PairRules:
    return registry.resolve("XBT/USD")


def test_rules_from_asset_pairs(xbt: PairRules) -> None:
    assert xbt.pair_id == "XXBTZUSD"
    assert (xbt.altname, xbt.wsname, xbt.symbol) == ("XBTUSD", "XBT/USD", "BTC/USD")
    assert (xbt.base, xbt.quote) == ("XXBT", "ZUSD")
    assert (xbt.pair_decimals, xbt.lot_decimals, xbt.cost_decimals) == (1, 8, 5)
    assert (xbt.ordermin, xbt.costmin, xbt.tick_size) == (D("0.0001"), D("0.5"), D("0.1"))


@pytest.mark.parametrize(
    "name",
    ["BTC/USD", "XBT/USD", "XBTUSD", "XXBTZUSD", "btc/usd", "xbtusd", "BTCUSD", " xxbtzusd "],
)
def test_every_name_form_resolves_to_one_pair(registry: PairRegistry, name: str) -> None:
    assert registry.resolve(name).pair_id == "XXBTZUSD"


def test_v2_normalisation_of_xbt_and_xdg(registry: PairRegistry) -> None:
    assert registry.resolve("DOGE/USD").altname == "XDGUSD"
    assert registry.resolve("ETH/BTC").pair_id == "XETHXXBT"
    assert registry.resolve("ETH/XBT").symbol == "ETH/BTC"
    assert v2_asset("XDG") == "DOGE" and v2_asset("ETH") == "ETH"


def test_unknown_pair_is_a_clear_error(registry: PairRegistry) -> None:
    with pytest.raises(UnknownPair, match="unknown pair 'FOO/BAR'"):
        registry.resolve("FOO/BAR")
    assert registry.get("FOO/BAR") is None
    assert "BTC/USD" in registry and "FOO/BAR" not in registry
    assert len(registry) == 3 and {rule.pair_id for rule in registry} >= {"XXBTZUSD"}


def test_valid_limit_order_has_no_violations(xbt: PairRules) -> None:
    assert check(xbt, "buy", "limit", D("0.01"), D("30000.1")) == []


def test_quantity_below_ordermin(xbt: PairRules) -> None:
    violations = check(xbt, "buy", "limit", D("0.00001"), D("30000"))
    assert "ordermin: quantity 0.00001 below ordermin 0.0001 for XBT/USD" in violations


def test_quantity_off_the_lot_grid(xbt: PairRules) -> None:
    violations = check(xbt, "buy", "limit", D("0.000100001"), D("30000"))
    assert violations == [
        "lot: quantity 0.000100001 is not a multiple of the lot step 0.00000001 for XBT/USD"
    ]


def test_price_off_tick(xbt: PairRules) -> None:
    violations = check(xbt, "sell", "limit", D("1"), D("30000.05"))
    assert violations == [
        "tick: limit_price 30000.05 is not a multiple of the tick size 0.1 for XBT/USD"
    ]


def test_cost_below_costmin(xbt: PairRules) -> None:
    violations = check(xbt, "buy", "limit", D("0.0001"), D("1000"))
    assert violations == ["costmin: cost 0.1000 below costmin 0.5 for XBT/USD"]


def test_market_cost_check_uses_reference_price(xbt: PairRules) -> None:
    assert check(xbt, "buy", "market", D("0.0001")) == []
    violations = check(xbt, "buy", "market", D("0.0001"), reference_price=D("1000"))
    assert violations == ["costmin: cost 0.1000 below costmin 0.5 for XBT/USD"]


def test_trigger_off_tick(xbt: PairRules) -> None:
    violations = check(xbt, "buy", "take-profit", D("1"), None, D("100.01"))
    assert violations == [
        "tick: trigger_price 100.01 is not a multiple of the tick size 0.1 for XBT/USD"
    ]


def test_stop_loss_limit_with_both_prices_is_valid(xbt: PairRules) -> None:
    assert check(xbt, "sell", "stop-loss-limit", D("1"), D("29000"), D("29100")) == []


def test_trailing_stop_checks_quantity_only(xbt: PairRules) -> None:
    assert check(xbt, "sell", "trailing-stop", D("1"), None, D("0.05")) == []
    assert check(xbt, "sell", "trailing-stop", D("0.00001"), None, D("0.05")) == [
        "ordermin: quantity 0.00001 below ordermin 0.0001 for XBT/USD"
    ]


@pytest.mark.parametrize(
    ("status", "order_type", "post_only", "reduce_only", "expected"),
    [
        ("cancel_only", "limit", False, False, "status: XBT/USD is in cancel_only mode"),
        ("post_only", "limit", False, False, "status: XBT/USD is in post_only mode"),
        ("post_only", "limit", True, False, None),
        ("limit_only", "market", False, False, "status: XBT/USD is in limit_only mode"),
        ("limit_only", "limit", False, False, None),
        ("reduce_only", "limit", False, False, "status: XBT/USD is in reduce_only mode"),
        ("reduce_only", "limit", False, True, None),
        ("delisted", "limit", False, False, "status: XBT/USD has status 'delisted'"),
    ],
)
def test_pair_status(
    xbt: PairRules,
    status: str,
    order_type: str,
    post_only: bool,
    reduce_only: bool,
    expected: str | None,
) -> None:
    rules = PairRules(**{**_fields(xbt), "status": status})
    price = D("30000") if order_type == "limit" else None
    violations = check(
        rules, "buy", order_type, D("1"), price, post_only=post_only, reduce_only=reduce_only
    )
    if expected is None:
        assert violations == []
    else:
        assert any(v.startswith(expected) for v in violations), violations


def _fields(rules: PairRules) -> dict[str, object]:
    return {name: getattr(rules, name) for name in rules.__struct_fields__}


def test_tick_and_lot_helpers(xbt: PairRules) -> None:
    assert is_on_tick(xbt, D("30000.1")) and not is_on_tick(xbt, D("30000.15"))
    assert is_on_lot(xbt, D("0.12345678")) and not is_on_lot(xbt, D("0.123456789"))
    assert quantize_price(xbt, D("30000.15"), ROUND_DOWN) == D("30000.1")
    assert quantize_price(xbt, D("30000.11"), ROUND_UP) == D("30000.2")
    assert quantize_quantity(xbt, D("0.123456789")) == D("0.12345678")


def test_quantize_to_a_tick_coarser_than_decimals() -> None:
    rules = PairRules(
        pair_id="P",
        altname="P",
        wsname="A/B",
        symbol="A/B",
        base="A",
        quote="B",
        pair_decimals=2,
        lot_decimals=4,
        cost_decimals=2,
        ordermin=D("0"),
        costmin=D("0"),
        tick_size=D("0.05"),
    )
    assert quantize_price(rules, D("1.07"), ROUND_DOWN) == D("1.05")
    assert quantize_price(rules, D("1.08")) == D("1.10")
    assert str(quantize_price(rules, D("1.08"))) == "1.10"


@given(price=st.decimals(min_value=D("0.1"), max_value=D("1000000"), places=3))
def test_quantized_price_is_always_on_tick(price: Decimal) -> None:
    rules = PairRules(
        pair_id="XXBTZUSD",
        altname="XBTUSD",
        wsname="XBT/USD",
        symbol="BTC/USD",
        base="XXBT",
        quote="ZUSD",
        pair_decimals=1,
        lot_decimals=8,
        cost_decimals=5,
        ordermin=D("0.0001"),
        costmin=D("0.5"),
        tick_size=D("0.1"),
    )
    for rounding in (ROUND_DOWN, ROUND_UP):
        quantized = quantize_price(rules, price, rounding)
        assert is_on_tick(rules, quantized)
        assert abs(quantized - price) < rules.tick_size
