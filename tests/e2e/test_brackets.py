"""Stop-loss / take-profit children: OCO against the simulator, and children growing in place."""

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

SL = "64000.0"
TP = "66000.0"


def _children(harness: Harness, signal_id: str) -> tuple[str, str]:
    return (
        harness.reports.child_id(signal_id, "stop_loss"),
        harness.reports.child_id(signal_id, "take_profit"),
    )


def _assert_closed_once(
    harness: Harness, entry: str, winner: str, loser: str, *, exit_side: str = "sell"
) -> None:
    """The winning child closed the whole position, the other was cancelled unfilled."""
    reports = harness.reports
    entry_final = reports.last(entry)
    won = reports.wait_status(winner, {"filled"})
    lost = reports.wait_terminal(loser)
    assert lost.status == "canceled", lost
    assert lost.filled_quantity == 0
    assert won.filled_quantity == entry_final.filled_quantity
    children_filled = won.filled_quantity + lost.filled_quantity
    assert children_filled == entry_final.filled_quantity, "the position was closed twice"
    for child in (winner, loser):
        assert_accounting_matches(reports.all, child, harness.sim)
    assert harness.sim.order(winner)["status"] == "closed"
    assert harness.sim.order(loser)["status"] == "canceled"
    closed = sum(
        (Decimal(t["vol"]) for t in harness.sim.trades() if t["side"] == exit_side), Decimal(0)
    )
    assert closed == entry_final.filled_quantity, f"closed {closed} of a position {entry_final}"
    assert_sequences_gap_free(reports.all)
    assert_no_rate_limit_errors(reports.all)


@pytest.mark.parametrize(
    ("side", "move_to", "winner_role"),
    [
        ("buy", "63900.0", "stop_loss"),
        ("buy", "66100.0", "take_profit"),
        ("sell", "66100.0", "stop_loss"),
        ("sell", "63900.0", "take_profit"),
    ],
    ids=["buy-stop-fills", "buy-take-profit-fills", "sell-stop-fills", "sell-take-profit-fills"],
)
def test_bracket_one_child_fills_and_the_other_is_cancelled(
    harness: Harness, side: str, move_to: str, winner_role: str
) -> None:
    sl, tp = (SL, TP) if side == "buy" else (TP, SL)
    exit_side = "sell" if side == "buy" else "buy"
    signal_id = harness.signal(
        side=side, order_type="market", quantity="0.01", sl_price=sl, tp_price=tp
    )
    entry = harness.reports.entry_id(signal_id)
    assert harness.reports.wait_terminal(entry).status == "filled"
    stop_loss, take_profit = _children(harness, signal_id)
    for child in (stop_loss, take_profit):
        harness.reports.wait_status(child, {"open"})
    for child, role, kind, trigger in (
        (stop_loss, "stop_loss", "stop-loss", sl),
        (take_profit, "take_profit", "take-profit", tp),
    ):
        first = harness.reports.of_order(child)[0]
        assert first.role == role
        assert first.parent_client_order_id == entry
        assert first.side == exit_side and first.order_type == kind
        assert first.quantity == Decimal("0.01")
        exchange_order = harness.sim.order(child)
        assert exchange_order["ordertype"] == kind
        assert exchange_order["side"] == exit_side
        assert Decimal(exchange_order["price"]) == Decimal(trigger)

    harness.sim.price(move_to)

    winner, loser = (
        (stop_loss, take_profit) if winner_role == "stop_loss" else (take_profit, stop_loss)
    )
    _assert_closed_once(harness, entry, winner, loser, exit_side=exit_side)
    loser_final = harness.reports.last(loser)
    assert "other" in (loser_final.reason or ""), loser_final.reason


def test_children_grow_in_place_while_the_entry_fills_in_parts(harness: Harness) -> None:
    sim = harness.sim
    reports = harness.reports
    sim.liquidity("0.01")
    signal_id = harness.signal(
        order_type="limit", quantity="0.03", limit_price="65100.0", sl_price=SL, tp_price=TP
    )
    entry = reports.entry_id(signal_id)
    reports.wait_filled_quantity(entry, Decimal("0.01"))
    stop_loss, take_profit = _children(harness, signal_id)
    children = (stop_loss, take_profit)
    for child in children:
        opened = reports.wait_status(child, {"open"})
        assert opened.quantity == Decimal("0.01")
        assert Decimal(sim.order(child)["vol"]) == Decimal("0.01")
    txids = {child: sim.order(child)["txid"] for child in children}

    for expected in (Decimal("0.02"), Decimal("0.03")):
        sim.step()
        reports.wait_filled_quantity(entry, expected)
        for child in children:
            reports.wait_for(
                lambda rs, child=child, expected=expected: any(
                    r.client_order_id == child and r.quantity == expected and r.status == "open"
                    for r in rs
                ),
                what=f"{child} amended to {expected}",
            )
    assert reports.wait_terminal(entry).status == "filled"

    for child in children:
        on_exchange = sim.orders_by_cl_ord_id(child)
        assert len(on_exchange) == 1, f"{child} became {len(on_exchange)} exchange orders"
        assert on_exchange[0]["txid"] == txids[child]
        assert on_exchange[0]["status"] == "open"
        assert Decimal(on_exchange[0]["vol"]) == Decimal("0.03")
        seen_txids = {r.exchange_order_id for r in reports.of_order(child)} - {None}
        assert seen_txids == {txids[child]}
        assert not any(r.status in ("canceled", "rejected") for r in reports.of_order(child))

    # The grown stop closes the whole position, once.
    sim.liquidity("1")
    sim.price("63900.0")
    _assert_closed_once(harness, entry, stop_loss, take_profit)
    assert reports.last(stop_loss).filled_quantity == Decimal("0.03")


def test_a_partly_filled_stop_shrinks_the_take_profit_in_place(harness: Harness) -> None:
    sim = harness.sim
    reports = harness.reports
    signal_id = harness.signal(order_type="market", quantity="0.03", sl_price=SL, tp_price=TP)
    entry = reports.entry_id(signal_id)
    assert reports.wait_terminal(entry).filled_quantity == Decimal("0.03")
    stop_loss, take_profit = _children(harness, signal_id)
    for child in (stop_loss, take_profit):
        reports.wait_status(child, {"open"})
    tp_txid = sim.order(take_profit)["txid"]

    sim.liquidity("0.01")
    sim.price("63900.0")  # the stop triggers and takes the step's 0.01
    for stop_filled, tp_quantity in (("0.01", "0.02"), ("0.02", "0.01")):
        reports.wait_filled_quantity(stop_loss, Decimal(stop_filled))
        reports.wait_for(
            lambda rs, q=Decimal(tp_quantity): any(
                r.client_order_id == take_profit and r.quantity == q for r in rs
            ),
            what=f"the take-profit reduced to {tp_quantity}",
        )
        assert Decimal(sim.order(take_profit)["vol"]) == Decimal(tp_quantity)
        sim.step()

    _assert_closed_once(harness, entry, stop_loss, take_profit)
    on_exchange = sim.orders_by_cl_ord_id(take_profit)
    assert [o["txid"] for o in on_exchange] == [tp_txid]
