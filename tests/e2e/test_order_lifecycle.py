"""One order's life against the simulator: a market fill, partial fills, a limit timeout."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.e2e.invariants import (
    assert_accounting_matches,
    assert_no_rate_limit_errors,
    assert_sequences_gap_free,
)
from tests.e2e.support import Harness

pytestmark = pytest.mark.timeout(60)

TICK = Decimal("0.1")


def test_market_order_fills_with_trade_fee_and_average(harness: Harness) -> None:
    signal_id = harness.signal(order_type="market", quantity="0.01")
    cl_ord_id = harness.reports.entry_id(signal_id)
    final = harness.reports.wait_terminal(cl_ord_id)

    reports = harness.reports.of_order(cl_ord_id)
    statuses = [r.status for r in reports]
    assert statuses[:2] == ["pending_submit", "submitted"]
    assert statuses[-1] == "filled"
    assert set(statuses[2:-1]) <= {"open"}, statuses
    assert_sequences_gap_free(reports)

    order, trades = assert_accounting_matches(harness.reports.all, cl_ord_id, harness.sim)
    assert order["status"] == "closed"
    assert len(trades) == 1
    trade = trades[0]
    assert final.exchange_order_id == order["txid"]
    assert final.trade_id == str(trade["trade_id"])
    assert final.filled_quantity == Decimal("0.01") == final.last_fill_quantity
    assert final.fee == Decimal(trade["fee"]) > 0
    assert final.fee_asset == "USD"
    assert final.average_price == Decimal(order["avg_price"]) == Decimal(trade["price"])
    assert final.role == "entry" and final.parent_client_order_id is None
    assert_no_rate_limit_errors(harness.reports.all)


def test_limit_order_fills_in_three_parts(harness: Harness) -> None:
    sim = harness.sim
    sim.liquidity("0.01")  # each step offers 0.01 XBT: a 0.03 order fills in three
    # Marketable on arrival (ask 65006.5): a taker that fills at the touch on every step.
    signal_id = harness.signal(order_type="limit", quantity="0.03", limit_price="65100.0")
    cl_ord_id = harness.reports.entry_id(signal_id)
    harness.reports.wait_filled_quantity(cl_ord_id, Decimal("0.01"))
    sim.price("64990.0")  # ask 64996.5: a second fill
    harness.reports.wait_filled_quantity(cl_ord_id, Decimal("0.02"))
    sim.price("64970.0")  # ask 64976.5: the third
    final = harness.reports.wait_terminal(cl_ord_id)

    assert final.status == "filled"
    reports = harness.reports.of_order(cl_ord_id)
    fills = [r for r in reports if r.last_fill_quantity is not None]
    assert len(fills) == 3
    assert len({r.trade_id for r in fills}) == 3 and None not in {r.trade_id for r in fills}
    assert [r.filled_quantity for r in fills] == [Decimal("0.01"), Decimal("0.02"), Decimal("0.03")]
    assert [r.last_fill_price for r in fills] == [
        Decimal("65006.5"),
        Decimal("64996.5"),
        Decimal("64976.5"),
    ]
    order, trades = assert_accounting_matches(harness.reports.all, cl_ord_id, harness.sim)
    assert len(trades) == 3
    assert final.average_price is not None
    # Kraken shows the average at the pair's price decimals; the engine's must round to it.
    assert final.average_price.quantize(TICK) == Decimal(order["avg_price"]) == Decimal("64993.2")
    assert final.fee == sum((Decimal(t["fee"]) for t in trades), Decimal(0))
    assert_sequences_gap_free(reports)


def test_limit_timeout_after_partial_fill_keeps_the_filled_part(harness: Harness) -> None:
    harness.sim.liquidity("0.01")
    signal_id = harness.signal(
        order_type="limit", quantity="0.03", limit_price="65100.0", timeout_s=0.5
    )
    cl_ord_id = harness.reports.entry_id(signal_id)
    partial = harness.reports.wait_filled_quantity(cl_ord_id, Decimal("0.01"))
    assert partial.status == "partially_filled"
    final = harness.reports.wait_terminal(cl_ord_id, timeout=5)

    assert final.status == "canceled"
    assert final.filled_quantity == Decimal("0.01")
    assert final.reason is not None and "timeout" in final.reason
    statuses = [r.status for r in harness.reports.of_order(cl_ord_id)]
    assert "pending_cancel" in statuses
    order, trades = assert_accounting_matches(harness.reports.all, cl_ord_id, harness.sim)
    assert order["status"] == "canceled"
    assert Decimal(order["vol_exec"]) == Decimal("0.01")
    assert len(trades) == 1
    assert_sequences_gap_free(harness.reports.of_order(cl_ord_id))


def test_ioc_remainder_is_cancelled_by_the_exchange(harness: Harness) -> None:
    harness.sim.liquidity("0.01")
    signal_id = harness.signal(
        order_type="limit", quantity="0.03", limit_price="65100.0", time_in_force="IOC"
    )
    cl_ord_id = harness.reports.entry_id(signal_id)
    final = harness.reports.wait_terminal(cl_ord_id)

    assert final.status == "canceled"
    harness.reports.wait_filled_quantity(cl_ord_id, Decimal("0.01"))
    order, trades = assert_accounting_matches(harness.reports.all, cl_ord_id, harness.sim)
    assert order["status"] == "canceled" and len(trades) == 1
    assert_sequences_gap_free(harness.reports.of_order(cl_ord_id))


def test_post_only_order_that_would_take_is_cancelled_with_the_reason(harness: Harness) -> None:
    signal_id = harness.signal(
        order_type="limit", quantity="0.01", limit_price="65100.0", post_only=True
    )
    cl_ord_id = harness.reports.entry_id(signal_id)
    final = harness.reports.wait_terminal(cl_ord_id)

    assert final.status == "canceled"
    assert final.filled_quantity == 0
    assert "post only" in (final.reason or "").lower(), final.reason
    assert harness.sim.order(cl_ord_id)["status"] == "canceled"
    assert harness.sim.trades() == []
