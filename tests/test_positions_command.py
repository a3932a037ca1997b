"""``gal-exec orders --positions``: what the journal's fills add up to, per pair; and the journal
keeping an amended order's prices."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from journal_support import order, report

from gal_exec.journal import Journal, orders_command

D = Decimal


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """An entry filled in two trades, then its take-profit closing 0.3 of it."""
    path = tmp_path / "journal.sqlite"
    fills = [
        ("e-1", "buy", 2, "0.2", "0.2", "30000.0", "T-1", "0.06"),
        ("e-1", "buy", 3, "0.3", "0.5", "30100.0", "T-2", "0.15"),
        ("e-1-tp", "sell", 2, "0.3", "0.3", "31000.0", "T-3", "0.09"),
    ]
    with Journal.open(path) as journal:
        journal.record_intent(order("e-1"))
        journal.record_intent(
            order("e-1-tp", role="take_profit", parent_cl_ord_id="e-1", side="sell")
        )
        for cl_ord_id, side, sequence, last, total, price, trade, fee in fills:
            journal.apply_report(
                report(
                    cl_ord_id,
                    sequence,
                    side=side,
                    status="partially_filled",
                    filled_quantity=D(total),
                    last_fill_quantity=D(last),
                    last_fill_price=D(price),
                    trade_id=trade,
                    fee=D(fee),
                    fee_asset="USD",
                )
            )
        journal.apply_report(report("e-1", 4, status="canceled", filled_quantity=D("0.5")))
    return path


def test_positions_table(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert orders_command(["--journal", str(path), "--positions"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [
        "PAIR", "POSITION", "AVG", "PRICE", "REALIZED", "P&L", "FEES", "NET", "P&L", "BOUGHT",
        "SOLD", "TRADES",
    ]  # fmt: skip
    # average 30060; 0.3 sold at 31000 realises 282; fees 0.06 + 0.09 + 0.09 = 0.24 USD
    assert out[1].split() == [
        "XBT/USD", "0.2", "BTC", "30060", "282", "USD", "0.24", "USD", "281.76", "USD", "0.5",
        "0.3", "3",
    ]  # fmt: skip


def test_positions_json(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert orders_command(["--journal", str(path), "--positions", "--json"]) == 0
    positions = json.loads(capsys.readouterr().out)
    view = positions["XBT/USD"]
    assert (view["base"], view["quote"], view["quantity"]) == ("BTC", "USD", "0.2")
    assert D(view["realized_pnl"]) == D("282") and view["fees"] == {"USD": "0.24"}


def test_no_fills(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.sqlite"
    Journal.open(path).close()
    assert orders_command(["--journal", str(path), "--positions"]) == 0
    assert capsys.readouterr().out.strip() == "no fills"


def test_an_amended_report_moves_the_orders_prices(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite") as journal:
        journal.record_intent(order("e-1"))
        journal.apply_report(report("e-1", 1, limit_price=D("30000.1")))
        journal.apply_report(report("e-1", 2, limit_price=D("30100.0"), quantity=D("0.7")))
        journal.apply_report(report("e-1", 3))  # a report without prices keeps them
        record = journal.order("e-1")
    assert record is not None
    assert (record.limit_price, record.quantity) == (D("30100.0"), D("0.5"))
