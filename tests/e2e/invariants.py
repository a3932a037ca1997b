"""Checks every end-to-end test applies: gap-free sequences, no rate-limit errors, and the
engine's account of an order agreeing with the simulator's orders and trades."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from gal_exec.messages import ExecutionReport
from tests.e2e.report_log import brief
from tests.e2e.support import SimControl

__all__ = ["assert_accounting_matches", "assert_no_rate_limit_errors", "assert_sequences_gap_free"]


def assert_sequences_gap_free(reports: Iterable[ExecutionReport]) -> None:
    """Per client order, sequence numbers run 1, 2, 3, ... in delivery order."""
    by_order: dict[str, list[int]] = {}
    for report in reports:
        if report.client_order_id:
            by_order.setdefault(report.client_order_id, []).append(report.sequence)
    for cl_ord_id, sequences in by_order.items():
        assert sequences == list(range(1, len(sequences) + 1)), (
            f"{cl_ord_id}: sequence numbers {sequences} are not gap-free from 1"
        )


def assert_no_rate_limit_errors(reports: Iterable[ExecutionReport]) -> None:
    for report in reports:
        for text in (report.error_code, report.reason):
            assert "Rate limit" not in (text or ""), f"rate-limit error reported: {brief(report)}"


def assert_accounting_matches(
    reports: list[ExecutionReport], cl_ord_id: str, sim: SimControl
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The engine's account of one order agrees with the simulator's orders and trades.

    Every exchange trade is reported once: by its trade id, or folded into a report's new
    quantity from cumulative figures (no trade id); no trade id twice, no quantity twice.
    """
    order = sim.order(cl_ord_id)
    trades = sim.trades_of(order["txid"])
    mine = [r for r in reports if r.client_order_id == cl_ord_id]
    filled = Decimal(order["vol_exec"])
    assert mine[-1].filled_quantity == filled, (
        f"{cl_ord_id}: engine says {mine[-1].filled_quantity} filled, exchange {filled}"
    )
    assert sum((Decimal(t["vol"]) for t in trades), Decimal(0)) == filled
    fills = [r for r in mine if r.last_fill_quantity is not None]
    reported_ids = [r.trade_id for r in fills if r.trade_id is not None]
    assert len(reported_ids) == len(set(reported_ids)), f"a trade reported twice: {reported_ids}"
    exchange_ids = {str(t["trade_id"]) for t in trades}
    assert set(reported_ids) <= exchange_ids, (
        f"reported trades {reported_ids} not all on the exchange {exchange_ids}"
    )
    reported_quantity = sum((r.last_fill_quantity for r in fills), Decimal(0))  # type: ignore[misc]
    assert reported_quantity == filled, (
        f"{cl_ord_id}: fills reported add up to {reported_quantity}, exchange filled {filled}"
    )
    by_id = {str(t["trade_id"]): t for t in trades}
    for report in fills:
        if report.trade_id is not None:
            trade = by_id[report.trade_id]
            assert report.last_fill_quantity == Decimal(trade["vol"])
            assert report.last_fill_price == Decimal(trade["price"])
    filled_so_far = [r.filled_quantity for r in mine]
    assert filled_so_far == sorted(filled_so_far), f"filled quantity went down: {filled_so_far}"
    assert max(filled_so_far) <= Decimal(order["vol"]), "overfill reported"
    return order, trades
