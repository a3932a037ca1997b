"""``gal-exec orders``: table and JSON output from the journal, and exit 2 on a bad journal."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from journal_support import fingerprint, order, report

from gal_exec.journal import FillRecord, Journal, format_orders, orders_command

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A journal with a bracket (entry partly filled, SL and TP open) and a finished order."""
    path = tmp_path / "journal.sqlite"
    with Journal.open(path) as journal:
        journal.record_intent(order("e-1", quantity=Decimal("0.5")))
        journal.record_intent(
            order(
                "e-1-sl",
                role="stop_loss",
                parent_cl_ord_id="e-1",
                side="sell",
                order_type="stop-loss",
                limit_price=None,
                trigger_price=Decimal("29000"),
            )
        )
        journal.record_intent(
            order("e-1-tp", role="take_profit", parent_cl_ord_id="e-1", side="sell")
        )
        journal.mark_sent("e-1")
        journal.apply_report(
            report(
                "e-1",
                status="partially_filled",
                exchange_order_id="OAAA-1",
                filled_quantity=Decimal("0.2"),
                last_fill_quantity=Decimal("0.2"),
                last_fill_price=Decimal("30000.1"),
                average_price=Decimal("30000.1"),
                fee=Decimal("0.05"),
                fee_asset="USD",
                trade_id="T-1",
                exchange_time=T0,
                engine_time=T0,
            )
        )
        journal.record_intent(order("e-2", signal_id="s-2", order_type="market", limit_price=None))
        journal.apply_report(report("e-2", signal_id="s-2", status="canceled", reason="timeout"))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = orders_command(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_wide_table_shows_children_under_parent_and_fills(path: Path, capsys) -> None:
    code, out, err = run(capsys, "--journal", str(path), "--wide")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == [
        "ORDER", "ROLE", "SIGNAL", "PAIR", "SIDE", "TYPE", "QTY", "FILLED", "LIMIT", "TRIGGER",
        "AVG", "STATUS", "SENT", "TXID", "UPDATED", "(UTC)",
    ]  # fmt: skip
    assert lines[1].split() == [
        "e-1", "entry", "s-1", "XBT/USD", "buy", "limit", "0.5", "0.2", "30000.1", "-",
        "30000.1", "partially_filled", "yes", "OAAA-1", "2023-11-14", "22:13:20",
    ]  # fmt: skip
    assert lines[2].strip() == "· fill T-1: 0.2 @ 30000.1, fee 0.05 USD, at 2023-11-14 22:13:20"
    assert lines[3].startswith("  └ e-1-sl ") and "29000" in lines[3]
    assert lines[4].startswith("  └ e-1-tp ")
    assert lines[5].startswith("e-2 ") and "canceled (timeout)" in lines[5]
    assert len(lines) == 6
    status_column = lines[0].index("STATUS")
    assert all(line[status_column - 2 : status_column] == "  " for line in (lines[1], lines[5]))
    assert lines[1].index("partially_filled") == lines[5].index("canceled") == status_column


def test_default_table_fits_120_columns_and_keeps_ids_and_numbers(path: Path, capsys) -> None:
    with Journal.open(path) as journal:
        journal.record_intent(
            order(
                "e-3",
                signal_id="a-very-long-signal-identifier-from-a-pipeline-" + "x" * 60,
                order_type="trailing-stop-limit",
                quantity=Decimal("123456.12345678"),
                limit_price=Decimal("0.12345678"),
            )
        )
        journal.apply_report(
            report(
                "e-3",
                signal_id="s-3",
                status="canceled",
                reason="r" * 200,
                quantity=Decimal("123456.12345678"),
            )
        )
    code, out, _ = run(capsys, "--journal", str(path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "ORDER", "ROLE", "SIGNAL", "PAIR", "SIDE", "TYPE", "QTY", "FILLED", "PRICE", "AVG", "STATUS",
    ]  # fmt: skip
    assert all(len(line) <= 120 for line in lines), max(len(line) for line in lines)
    assert lines[1].split()[:2] == ["e-1", "entry"] and "└ e-1-sl" in lines[3]
    assert "@29000" in lines[3]  # a trigger price, marked
    last = lines[-1]
    assert last.startswith("e-3 ") and "123456.12345678" in last and "0.12345678" in last
    assert "…" in last and "r" * 20 not in last  # long text cut; the reason is behind --wide
    code, wide, _ = run(capsys, "--journal", str(path), "--wide")
    assert "r" * 200 in wide and max(len(line) for line in wide.splitlines()) > 120


def test_rejected_lists_signals_refused_before_any_order(path: Path, capsys) -> None:
    with Journal.open(path) as journal:
        journal.apply_report(
            report("r-1", signal_id="bad-1", status="rejected", reason="unknown pair 'NOPE/USD'")
        )
        journal.apply_report(
            report("r-2", signal_id="", status="rejected", reason="line 7: " + "q" * 300)
        )
    code, out, _ = run(capsys, "--journal", str(path), "--rejected")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["TIME", "(UTC)", "SIGNAL"] and "REASON" in lines[0]
    assert "bad-1" in lines[1] and "unknown pair 'NOPE/USD'" in lines[1]
    assert lines[2].split()[2] == "-" and "line 7: qqq" in lines[2]
    assert len(lines) == 3 and all(len(line) <= 120 for line in lines)
    _, wide, _ = run(capsys, "--journal", str(path), "--rejected", "--wide")
    assert "q" * 300 in wide
    _, listed, _ = run(capsys, "--journal", str(path), "--rejected", "--json", "--signal", "bad-1")
    (row,) = json.loads(listed)
    assert row["signal_id"] == "bad-1" and row["reason"] == "unknown pair 'NOPE/USD'"
    # orders with an order row (here e-2, canceled) are never listed as rejected signals
    assert "e-2" not in out


def test_json_nests_children_and_fills(path: Path, capsys) -> None:
    code, out, _ = run(capsys, "--journal", str(path), "--json")
    assert code == 0
    data = json.loads(out)
    assert [node["cl_ord_id"] for node in data] == ["e-1", "e-2"]
    entry = data[0]
    assert [child["cl_ord_id"] for child in entry["children"]] == ["e-1-sl", "e-1-tp"]
    assert entry["filled_quantity"] == "0.2" and entry["sent"] is True
    assert entry["fills"] == [
        {
            "cl_ord_id": "e-1",
            "trade_id": "T-1",
            "quantity": "0.2",
            "price": "30000.1",
            "fee": "0.05",
            "fee_asset": "USD",
            "time": T0,
            "liquidity": None,
            "synthetic": False,
        }
    ]
    assert data[1]["status"] == "canceled" and data[1]["children"] == []


def test_open_and_signal_filters(path: Path, capsys) -> None:
    _, out, _ = run(capsys, "--journal", str(path), "--open", "--json")
    assert [node["cl_ord_id"] for node in json.loads(out)] == ["e-1"]
    _, out, _ = run(capsys, "--journal", str(path), "--signal", "s-2", "--json")
    assert [node["cl_ord_id"] for node in json.loads(out)] == ["e-2"]
    _, out, _ = run(capsys, "--journal", str(path), "--signal", "nope")
    assert out == "no orders\n"


def test_orphan_child_is_shown_at_top_level() -> None:
    child = order("sl", role="stop_loss", parent_cl_ord_id="gone")
    table = format_orders([child], {}).splitlines()
    assert table[1].startswith("sl ")
    assert [node["cl_ord_id"] for node in json.loads(format_orders([child], {}, as_json=True))] == [
        "sl"
    ]


def test_synthetic_fill_and_unknown_fee_are_labelled() -> None:
    fill = FillRecord(cl_ord_id="c-1", trade_id="syn-1", quantity=Decimal("1"), synthetic=True)
    text = format_orders([order("c-1")], {"c-1": [fill]})
    assert "· synthetic fill syn-1: 1 @ -, fee -, at -" in text


def test_journal_path_from_config(path: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[journal]\npath = "{path}"\n')
    code, out, _ = run(capsys, "--config", str(config), "--json")
    assert code == 0 and len(json.loads(out)) == 2
    config.write_text('[journal]\nsynchronous = "sometimes"\n')
    code, out, err = run(capsys, "--config", str(config))
    assert (code, out) == (2, "")
    assert err.startswith(f"gal-exec orders: {config}: journal.synchronous: expected one of")


def test_default_path_is_var_journal(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys)
    assert code == 2
    assert err == "gal-exec orders: var/journal.sqlite: no such journal\n"
    assert not (tmp_path / "var").exists()


def test_works_while_an_engine_owns_the_journal(path: Path, capsys) -> None:
    with Journal.open(path) as engine:
        engine.record_intent(order("e-3"))
        code, out, _ = run(capsys, "--journal", str(path), "--json")
    assert code == 0
    assert [node["cl_ord_id"] for node in json.loads(out)] == ["e-1", "e-2", "e-3"]


def test_corrupt_journal_exits_2_untouched(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"\x00garbage" * 100)
    before = fingerprint(bad)
    code, out, err = run(capsys, "--journal", str(bad))
    assert (code, out) == (2, "")
    assert (
        err
        == f"gal-exec orders: {bad}: not a SQLite database (corrupt or a different kind of file)\n"
    )
    assert fingerprint(bad) == before


def test_newer_journal_exits_2_untouched(path: Path, capsys) -> None:
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '9' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    before = fingerprint(path)
    code, out, err = run(capsys, "--journal", str(path))
    assert (code, out) == (2, "")
    assert err.startswith(f"gal-exec orders: {path}: schema version 9 is newer")
    assert err.count("\n") == 1
    assert fingerprint(path) == before


def test_locked_database_exits_2(path: Path, capsys) -> None:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, out, err = run(capsys, "--journal", str(path))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (code, out) == (2, "")
    assert err.startswith(f"gal-exec orders: {path}: database is locked")
    assert err.count("\n") == 1


def test_bad_arguments_exit_2(capsys) -> None:
    code, _, err = run(capsys, "--bogus")
    assert code == 2 and "unrecognized arguments: --bogus" in err
