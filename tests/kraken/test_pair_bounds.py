"""Pair checks on hostile numbers: a rejection reason, never an exception or a huge message."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gal_exec.core.grid import order_problems
from gal_exec.core.intake import signal_problems
from gal_exec.kraken.pairs import is_on_tick
from gal_exec.messages import TradeSignalApproved
from tests.signal_support import XBT_RULES

D = Decimal

XBT = XBT_RULES


def order(order_type: str, quantity: Decimal, price=None, trigger=None) -> TradeSignalApproved:
    return TradeSignalApproved(
        signal_id="hostile",
        pair="XBT/USD",
        side="buy",
        order_type=order_type,
        quantity=quantity,
        limit_price=price,
        trigger_price=trigger,
    )


@pytest.mark.parametrize(
    "order_type, quantity, price, trigger, field",
    [
        ("market", "100000000000000000000", None, None, "quantity"),
        ("limit", "0.01", "1e27", None, "limit_price"),
        ("market", "1E-999999999", None, None, "quantity"),
        ("stop-loss", "0.01", None, "1E-999999999", "trigger_price"),
        ("limit", "0.01", "1E+999999999", None, "limit_price"),
        ("market", "NaN", None, None, "quantity"),
        ("limit", "0.01", "-Infinity", None, "limit_price"),
    ],
)
def test_out_of_range_numbers_are_one_short_reason(order_type, quantity, price, trigger, field):
    signal = order(
        order_type, D(quantity), D(price) if price else None, D(trigger) if trigger else None
    )
    reasons = signal_problems(signal)
    assert len(reasons) == 1 and reasons[0].startswith(field), reasons
    assert len(reasons[0]) < 200


def test_the_tick_check_raises_rather_than_passing_a_vanishing_price() -> None:
    # In the default context 1E-999999999 % 0.1 underflows to 0 and looks on the tick grid.
    with pytest.raises(ArithmeticError):
        is_on_tick(XBT, D("1E-999999999"))


@given(
    coefficient=st.integers(min_value=1, max_value=10**60),
    exponent=st.integers(min_value=-(10**9), max_value=10**9),
    field=st.sampled_from(["quantity", "price", "trigger"]),
)
def test_any_number_gives_reasons_not_exceptions(coefficient: int, exponent: int, field: str):
    """Even when the bounds check before it is skipped, the pair check never raises."""
    value = D(f"{coefficient}E{exponent}")  # as the JSON decoder builds it, no context
    quantity = value if field == "quantity" else D("0.01")
    price = value if field == "price" else None
    trigger = value if field == "trigger" else None
    order_type = {"quantity": "market", "price": "limit", "trigger": "stop-loss"}[field]
    reasons = order_problems(order(order_type, quantity, price, trigger), XBT.limits())
    assert all(len(reason) < 300 for reason in reasons)
    assert signal_problems(order(order_type, quantity, price, trigger)) or reasons is not None
