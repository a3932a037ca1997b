"""The fill ledger: exact sums, duplicates, overfills, cumulative reconciliation."""

from __future__ import annotations

from decimal import Context, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gal_exec.core.ledger import Fill, FillLedger, FillOutcome, quantized

D = Decimal


def fill(trade_id: str, quantity: str, price: str, fee: str = "0", asset: str = "USD") -> Fill:
    return Fill(
        trade_id=trade_id, quantity=D(quantity), price=D(price), fee=D(fee), fee_asset=asset
    )


def figures(ledger: FillLedger) -> tuple[object, ...]:
    return (
        ledger.filled_quantity,
        ledger.remaining_quantity,
        ledger.average_price,
        ledger.total_cost,
        ledger.total_fee,
        ledger.overfill_quantity,
        ledger.fills,
    )


def test_totals_and_average() -> None:
    ledger = FillLedger(D("1.0"))
    assert ledger.average_price is None and ledger.filled_quantity == 0
    first = ledger.add(fill("T1", "0.3", "100", "0.1"))
    assert first.outcome is FillOutcome.APPLIED and first.new_quantity == D("0.3")
    ledger.add(fill("T2", "0.7", "110", "0.2"))
    assert ledger.filled_quantity == D("1.0")
    assert ledger.remaining_quantity == 0
    assert ledger.is_complete
    assert ledger.average_price == D("107")  # (30 + 77) / 1.0
    assert ledger.total_fee == D("0.3") and ledger.fee_asset == "USD"
    assert [f.trade_id for f in ledger.fills] == ["T1", "T2"]


def test_average_is_exact_and_quantized_on_request() -> None:
    ledger = FillLedger(D("3"))
    for index, price in enumerate(["1", "1", "2"]):
        ledger.add(fill(f"T{index}", "1", price))
    assert ledger.average_price * 3 == D("4.000000000000000000000000000000000000000000000000")
    assert quantized(ledger.average_price, 2) == D("1.33")
    assert quantized(D("0.125"), 2) == D("0.12")  # banker's rounding
    with pytest.raises(ValueError):
        quantized(D("1"), -1)


def test_duplicate_changes_nothing() -> None:
    ledger = FillLedger(D("2"))
    ledger.add(fill("T1", "1", "100", "0.5"))
    before = figures(ledger)
    same = ledger.add(fill("T1", "1", "100", "0.5"))
    assert same.outcome is FillOutcome.DUPLICATE and same.reason == ""
    conflicting = ledger.add(fill("T1", "0.4", "99"))
    assert conflicting.outcome is FillOutcome.DUPLICATE and "differs" in conflicting.reason
    assert figures(ledger) == before


@pytest.mark.parametrize(
    "bad",
    [
        fill("T1", "0", "100"),
        fill("T1", "-1", "100"),
        fill("T1", "1", "0"),
        fill("T1", "1", "100", "-0.1"),
        fill("", "1", "100"),
        Fill(trade_id="T1", quantity=D("NaN"), price=D("1"), fee=D("0")),
        Fill(trade_id="T1", quantity=D("1"), price=D("Infinity"), fee=D("0")),
    ],
)
def test_invalid_fills_are_refused_without_change(bad: Fill) -> None:
    ledger = FillLedger(D("2"))
    result = ledger.add(bad)
    assert result.outcome is FillOutcome.INVALID and result.reason
    assert ledger.fills == () and ledger.filled_quantity == 0


def test_overfill_is_recorded_and_flagged() -> None:
    ledger = FillLedger(D("1"))
    ledger.add(fill("T1", "0.8", "100"))
    result = ledger.add(fill("T2", "0.5", "100"))
    assert result.outcome is FillOutcome.OVERFILL
    assert result.overfill_quantity == D("0.3") and ledger.overfill_quantity == D("0.3")
    assert ledger.overfilled and ledger.filled_quantity == D("1.3")
    assert ledger.remaining_quantity == 0


def test_set_order_quantity() -> None:
    ledger = FillLedger(D("1"))
    ledger.add(fill("T1", "0.6", "100"))
    ledger.set_order_quantity(D("2"))
    assert ledger.remaining_quantity == D("1.4") and not ledger.is_complete
    with pytest.raises(ValueError, match="below the filled quantity"):
        ledger.set_order_quantity(D("0.5"))
    with pytest.raises(ValueError):
        FillLedger(D("0"))


def test_reconcile_then_real_trades_do_not_double_count() -> None:
    ledger = FillLedger(D("1"))
    ledger.add(fill("T1", "0.2", "100", "0.02"))
    # REST says 0.5 filled at an average of 104, fees 0.05: T2 (0.3 @ 106.666..) is missing.
    result = ledger.reconcile_cumulative(D("0.5"), D("104"), cum_fee=D("0.05"), fee_asset="USD")
    assert result is not None and result.fill.synthetic
    assert result.new_quantity == D("0.3")
    # The synthetic price is a 50-digit quotient, so the cost matches to 48 places.
    assert ledger.filled_quantity == D("0.5") and quantized(ledger.total_cost, 40) == D("52")
    assert ledger.total_fee == D("0.05")
    assert ledger.reconcile_cumulative(D("0.5"), D("104")) is None  # not ahead
    assert ledger.reconcile_cumulative(D("0.4"), D("104")) is None  # stale reading
    late = ledger.add(fill("T2", "0.3", "106", "0.03"))
    assert late.outcome is FillOutcome.APPLIED
    assert late.new_quantity == 0 and late.absorbed_quantity == D("0.3")
    assert ledger.filled_quantity == D("0.5")
    assert ledger.total_cost == D("51.8") and ledger.total_fee == D("0.05")


def test_replaying_fills_rebuilds_the_same_ledger() -> None:
    ledger = FillLedger(D("2"))
    ledger.add(fill("T1", "0.5", "10"))
    ledger.reconcile_cumulative(D("1.2"), D("11"), cum_cost=D("13.1"))
    ledger.add(fill("T2", "0.4", "12"))
    copy = FillLedger(D("2"))
    for recorded in ledger.fills:
        assert copy.add(recorded).recorded
    assert figures(copy) == figures(ledger)


# -- properties ---------------------------------------------------------------------------

quantities = st.decimals(min_value=D("0.00000001"), max_value=D("50"), places=8)
prices = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)
fees = st.decimals(min_value=D("0"), max_value=D("10"), places=4)


@st.composite
def fill_lists(draw: st.DrawFn, max_size: int = 12) -> list[Fill]:
    rows = draw(st.lists(st.tuples(quantities, prices, fees), min_size=1, max_size=max_size))
    return [
        Fill(trade_id=f"T{i}", quantity=q, price=p, fee=f, fee_asset="USD")
        for i, (q, p, f) in enumerate(rows)
    ]


@settings(max_examples=120, deadline=None, derandomize=True)
@given(fills=fill_lists(), data=st.data())
def test_totals_do_not_depend_on_arrival_order(fills: list[Fill], data: st.DataObject) -> None:
    total = sum((f.quantity for f in fills), D(0))
    first, second = FillLedger(total), FillLedger(total)
    for f in fills:
        first.add(f)
    for f in data.draw(st.permutations(fills)):
        second.add(f)
    assert first.filled_quantity == second.filled_quantity == total
    assert first.total_cost == second.total_cost == sum((f.quantity * f.price for f in fills), D(0))
    assert first.total_fee == second.total_fee
    assert first.average_price == second.average_price
    assert first.is_complete and not first.overfilled


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    fills=fill_lists(),
    order_quantity=st.decimals(min_value=D("0.00000001"), max_value=D("200"), places=8),
    data=st.data(),
)
def test_filled_exceeds_ordered_only_when_flagged(
    fills: list[Fill], order_quantity: Decimal, data: st.DataObject
) -> None:
    ledger = FillLedger(order_quantity)
    deliveries = fills + data.draw(st.lists(st.sampled_from(fills), max_size=5))  # duplicates
    crossed = False
    for f in data.draw(st.permutations(deliveries)):
        before = figures(ledger)
        result = ledger.add(f)
        if result.outcome is FillOutcome.DUPLICATE:
            assert figures(ledger) == before
            continue
        if ledger.filled_quantity > order_quantity:
            assert ledger.overfilled
            assert result.outcome is FillOutcome.OVERFILL
            crossed = True
        else:
            assert result.outcome is FillOutcome.APPLIED and not ledger.overfilled
    expected = sum((f.quantity for f in fills), D(0))
    assert ledger.filled_quantity == expected
    assert crossed == (expected > order_quantity)
    assert ledger.overfill_quantity == max(D(0), expected - order_quantity)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(fills=fill_lists(max_size=8), data=st.data())
def test_cumulative_reconciliation_converges_exactly(
    fills: list[Fill], data: st.DataObject
) -> None:
    """Snapshots of the true cumulative figures mixed with late, shuffled, repeated trades."""
    total = sum((f.quantity for f in fills), D(0))
    true_cost = sum((f.quantity * f.price for f in fills), D(0))
    true_fee = sum((f.fee for f in fills), D(0))
    snapshots = []
    for k in data.draw(st.lists(st.integers(1, len(fills)), max_size=4), label="snapshots"):
        prefix = fills[:k]
        cum_qty = sum((f.quantity for f in prefix), D(0))
        cum_cost = sum((f.quantity * f.price for f in prefix), D(0))
        cum_fee = sum((f.fee for f in prefix), D(0))
        snapshots.append(("cum", (cum_qty, cum_cost, cum_fee)))
    trades = [("trade", f) for f in fills]
    repeats = [("trade", f) for f in data.draw(st.lists(st.sampled_from(fills), max_size=3))]
    events = data.draw(st.permutations(snapshots + trades + repeats), label="events")

    ledger = FillLedger(total)
    real_seen = D(0)
    seen_ids: set[str] = set()
    for kind, payload in events:
        before = ledger.filled_quantity
        if kind == "cum":
            cum_qty, cum_cost, cum_fee = payload
            ledger.reconcile_cumulative(
                cum_qty, cum_cost / cum_qty, cum_cost=cum_cost, cum_fee=cum_fee, fee_asset="USD"
            )
        else:
            result = ledger.add(payload)
            if payload.trade_id not in seen_ids:
                seen_ids.add(payload.trade_id)
                real_seen += payload.quantity
                assert result.new_quantity + result.absorbed_quantity == payload.quantity
        assert ledger.filled_quantity >= before  # never goes backwards
        assert real_seen <= ledger.filled_quantity <= total  # never counts a trade twice
        assert not ledger.overfilled
    assert ledger.filled_quantity == total
    assert ledger.total_cost == true_cost
    assert ledger.total_fee == true_fee
    assert ledger.average_price == Context(prec=50).divide(true_cost, total)
