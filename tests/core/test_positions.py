"""Positions from fills: net quantity, average price, realised P&L and fees, each fill once; and
the position limit."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gal_exec.core.positions import (
    PositionBook,
    PositionFill,
    TrialPositions,
    WorkingOrders,
    position_problem,
)
from gal_exec.core.vocabulary import Side
from gal_exec.messages import ExecutionReport

D = Decimal
PAIR = "XBT/USD"


def assets(pair: str) -> tuple[str, str] | None:
    return ("BTC", "USD") if pair == PAIR else None


def fill(order: str, trade: str, side: str, quantity: str, price: str, **extra) -> PositionFill:
    return PositionFill(
        order=order,
        trade=trade,
        pair=PAIR,
        side=Side(side),
        quantity=D(quantity),
        price=D(price),
        **extra,
    )


def test_partial_fills_build_an_average_and_a_partial_close_realises_pnl() -> None:
    book = PositionBook(assets)
    book.add(fill("e", "1", "buy", "0.4", "100", fee=D("0.04"), fee_asset="USD"))
    book.add(fill("e", "2", "buy", "0.6", "110", fee=D("0.06"), fee_asset="USD"))
    view = book.views()[PAIR]
    assert (view.quantity, view.average_price) == (D("1.0"), D("106"))
    book.add(fill("tp", "3", "sell", "0.5", "120", fee=D("0.06"), fee_asset="USD"))
    view = book.views()[PAIR]
    assert (view.quantity, view.average_price) == (D("0.5"), D("106"))
    assert view.realized_pnl == D("7.0")  # 0.5 x (120 - 106)
    assert view.fees == {"USD": D("0.16")} and view.fees_value == D("0.16")
    assert view.net_pnl == D("6.84")
    assert (view.bought, view.sold, view.trades) == (D("1.0"), D("0.5"), 3)


def test_a_fill_through_zero_reverses_the_position_at_its_price() -> None:
    book = PositionBook(assets)
    book.add(fill("a", "1", "buy", "1", "100"))
    book.add(fill("b", "2", "sell", "1.5", "90"))
    view = book.views()[PAIR]
    assert (view.quantity, view.average_price, view.realized_pnl) == (D("-0.5"), D("90"), D("-10"))
    book.add(fill("c", "3", "buy", "0.5", "80"))
    view = book.views()[PAIR]
    assert (view.quantity, view.average_price, view.realized_pnl) == (D("0"), None, D("-5"))


def test_a_fee_in_the_base_asset_leaves_the_position_like_a_sale() -> None:
    book = PositionBook(assets)
    book.add(fill("e", "1", "buy", "1", "100", fee=D("0.01"), fee_asset="BTC"))
    view = book.views()[PAIR]
    assert view.quantity == D("0.99")  # what the base balance gained
    assert view.fees == {"BTC": D("0.01")} and view.fees_value == D("1.00")
    book.add(fill("x", "2", "sell", "0.99", "110", fee=D("1.089"), fee_asset="USD"))
    view = book.views()[PAIR]
    assert view.quantity == 0
    # Cash: -100 + 0.99 x 110 - 1.089 = 7.811.
    assert view.net_pnl == D("7.811")


def test_each_trade_counts_once_per_order() -> None:
    book = PositionBook(assets)
    assert book.add(fill("e", "T1", "buy", "1", "100"))
    assert not book.add(fill("e", "T1", "buy", "1", "100"))
    assert book.add(fill("other", "T1", "sell", "1", "100"))  # a self-trade: both sides count
    assert book.net(PAIR) == 0


def test_a_report_is_counted_with_the_fee_it_added() -> None:
    book = PositionBook(assets)
    common = dict(signal_id="s", client_order_id="e", pair=PAIR, side="buy", fee_asset="USD")
    first = ExecutionReport(
        **common,
        trade_id="T1",
        last_fill_quantity=D("0.4"),
        last_fill_price=D("100"),
        filled_quantity=D("0.4"),
        fee=D("0.04"),
        sequence=3,
    )
    totals = ExecutionReport(
        **common,
        last_fill_quantity=D("0.6"),
        last_fill_price=D("110"),
        filled_quantity=D("1.0"),
        fee=D("0.10"),
        sequence=4,
    )
    for report in (first, totals, first, totals):
        book.report(report)
    view = book.views()[PAIR]
    assert (view.quantity, view.fees, view.trades) == (D("1.0"), {"USD": D("0.10")}, 2)
    no_fill = ExecutionReport(**common, status="canceled", filled_quantity=D("1.0"), sequence=5)
    assert not book.report(no_fill)


AMOUNTS = st.decimals(min_value=D("0.01"), max_value=D("5"), places=2)
PRICES = st.decimals(min_value=D("50"), max_value=D("150"), places=1)
FILLS = st.lists(
    st.tuples(
        st.sampled_from(["buy", "sell"]),
        AMOUNTS,
        PRICES,
        st.sampled_from(["USD", "BTC"]),
        st.integers(0, 3),
    ),
    max_size=30,
)


@settings(derandomize=True, deadline=None, max_examples=300)
@given(FILLS, PRICES)
def test_positions_add_up_to_the_cash_and_base_flows(fills, mark) -> None:
    """Whatever the fills (reversals, fees in either asset, repeats): the position is the base
    that came in, and realised + unrealised P&L - fees is the cash plus the base at the mark."""
    book = PositionBook(assets)
    cash = base = D(0)
    counted: set[str] = set()
    for index, (side, quantity, price, fee_asset, repeat_of) in enumerate(fills):
        trade = str(index if repeat_of == 0 or index < repeat_of else index - repeat_of)
        fee = (quantity / 100 if fee_asset == "BTC" else quantity * price / 1000).quantize(
            D("0.0001")
        )
        added = book.add(
            fill("o", trade, side, str(quantity), str(price), fee=fee, fee_asset=fee_asset)
        )
        assert added == (trade not in counted)
        if not added:
            continue
        counted.add(trade)
        sign = 1 if side == "buy" else -1
        base += sign * quantity - (fee if fee_asset == "BTC" else 0)
        cash += -sign * quantity * price - (fee if fee_asset == "USD" else 0)
    views = book.views()
    if not counted:
        assert views == {}
        return
    view = views[PAIR]
    assert view.quantity == base
    unrealised = view.quantity * (mark - view.average_price) if view.quantity else D(0)
    assert view.average_price is None or view.quantity != 0
    # Exact but for the average price's last digit (28 significant digits).
    assert abs(view.realized_pnl + unrealised - view.fees_value - (cash + base * mark)) < D("1e-18")


def test_the_position_limit_counts_the_position_and_working_entries_on_the_orders_side() -> None:
    book = PositionBook(assets)
    book.add(fill("e", "1", "buy", "2", "100"))
    working = WorkingOrders()
    working.set("w1", PAIR, "buy", D("1.5"))
    working.set("w2", PAIR, "sell", D("4"))

    class View:
        def net(self, pair: str) -> Decimal:
            return book.net(pair)

        def working(self, pair: str, side: str) -> Decimal:
            return working.quantity(pair, side)

    view = View()
    assert position_problem(PAIR, "buy", D("1.5"), view, D("5")) is None
    assert position_problem(PAIR, "buy", D("1.6"), view, D("5")) == (
        "position limit: XBT/USD position 2 + open buys 1.5 + this buy 1.6 = 5.1 exceeds 5"
    )
    assert position_problem(PAIR, "sell", D("3"), view, D("5")) is None  # 2 - 4 - 3 = -5
    assert "exceeds -5" in (position_problem(PAIR, "sell", D("3.1"), view, D("5")) or "")
    assert position_problem(PAIR, "buy", D("100"), view, D("0")) is None  # 0: off
    trial = TrialPositions(view)
    trial.add(PAIR, "buy", D("1"))
    assert position_problem(PAIR, "buy", D("1"), trial, D("5")) is not None
    working.release("w1")
    working.set("w2", PAIR, "sell", D("0"))
    assert working.quantity(PAIR, "buy") == 0 and working.quantity(PAIR, "sell") == 0
