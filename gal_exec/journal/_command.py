"""``gal-exec orders``: the journal's orders, their fills and children, as a table or JSON.

Opens the journal read-only, so it works while an engine owns the file and never changes it.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from gal_exec.journal._records import FillRecord, OrderRecord
from gal_exec.journal._schema import JournalError, describe_sqlite_error
from gal_exec.journal._store import Journal

__all__ = ["DEFAULT_JOURNAL_PATH", "format_orders", "orders_command"]

DEFAULT_JOURNAL_PATH = "var/journal.sqlite"

_COLUMNS = (
    "ORDER",
    "ROLE",
    "SIGNAL",
    "PAIR",
    "SIDE",
    "TYPE",
    "QTY",
    "FILLED",
    "LIMIT",
    "TRIGGER",
    "AVG",
    "STATUS",
    "SENT",
    "TXID",
    "UPDATED (UTC)",
)
_RIGHT_ALIGNED = {"QTY", "FILLED", "LIMIT", "TRIGGER", "AVG"}


def _tree(records: Sequence[OrderRecord]) -> list[tuple[int, OrderRecord]]:
    """(depth, order) in display order: each child right after its parent, orphans at the top."""
    present = {record.cl_ord_id for record in records}
    children: dict[str, list[OrderRecord]] = {}
    roots: list[OrderRecord] = []
    for record in records:
        parent = record.parent_cl_ord_id
        if parent is not None and parent in present and parent != record.cl_ord_id:
            children.setdefault(parent, []).append(record)
        else:
            roots.append(record)
    ordered: list[tuple[int, OrderRecord]] = []
    seen: set[str] = set()

    def visit(record: OrderRecord, depth: int) -> None:
        if record.cl_ord_id in seen:
            return
        seen.add(record.cl_ord_id)
        ordered.append((depth, record))
        for child in children.get(record.cl_ord_id, ()):
            visit(child, depth + 1)

    for root in roots:
        visit(root, 0)
    return ordered


def _number(value: Decimal | None) -> str:
    return "-" if value is None else format(value, "f")


def _when(epoch: float | None) -> str:
    if not epoch:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _row(depth: int, order: OrderRecord) -> list[str]:
    return [
        "  " * depth + ("└ " if depth else "") + order.cl_ord_id,
        order.role,
        order.signal_id,
        order.pair,
        order.side,
        order.order_type,
        _number(order.quantity),
        _number(order.filled_quantity),
        _number(order.limit_price),
        _number(order.trigger_price),
        _number(order.average_price),
        order.status + (f" ({order.reason})" if order.reason and order.is_terminal else ""),
        "yes" if order.sent else "no",
        order.txid or "-",
        _when(order.updated_at),
    ]


def _fill_line(depth: int, fill: FillRecord) -> str:
    fee = "-" if fill.fee is None else f"{format(fill.fee, 'f')} {fill.fee_asset or ''}".rstrip()
    kind = "synthetic fill" if fill.synthetic else "fill"
    return (
        f"{'  ' * (depth + 1)}· {kind} {fill.trade_id}: {_number(fill.quantity)} @ "
        f"{_number(fill.price)}, fee {fee}, at {_when(fill.time)}"
    )


def _table(tree: list[tuple[int, OrderRecord]], fills: Mapping[str, Sequence[FillRecord]]) -> str:
    rows = [_row(depth, order) for depth, order in tree]
    widths = [max(len(cells[i]) for cells in [list(_COLUMNS), *rows]) for i in range(len(_COLUMNS))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if name in _RIGHT_ALIGNED else cell.ljust(width)
            for name, cell, width in zip(_COLUMNS, cells, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(_COLUMNS)]
    for (depth, order), cells in zip(tree, rows, strict=True):
        out.append(line(cells))
        out.extend(_fill_line(depth, fill) for fill in fills.get(order.cl_ord_id, ()))
    return "\n".join(out)


def format_orders(
    records: Sequence[OrderRecord],
    fills_by_order: Mapping[str, Sequence[FillRecord]],
    *,
    as_json: bool = False,
) -> str:
    """Orders with their fills, children under their parents, as an aligned table or JSON.

    A child whose parent is not among `records` is shown at the top level. JSON is a list of
    order objects (decimals as strings) each with ``fills`` and nested ``children``.
    """
    tree = _tree(records)
    if as_json:
        nodes: dict[str, dict[str, Any]] = {}
        roots: list[dict[str, Any]] = []
        for depth, order in tree:
            node = msgspec.to_builtins(order)
            node["fills"] = msgspec.to_builtins(list(fills_by_order.get(order.cl_ord_id, ())))
            node["children"] = []
            nodes[order.cl_ord_id] = node
            parent = nodes.get(order.parent_cl_ord_id or "") if depth else None
            (parent["children"] if parent is not None else roots).append(node)
        return msgspec.json.format(msgspec.json.encode(roots), indent=2).decode()
    if not tree:
        return "no orders"
    return _table(tree, fills_by_order)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gal-exec orders",
        description="List the journal's orders with their fills and stop-loss/take-profit children.",
    )
    parser.add_argument("--journal", metavar="PATH", help=f"default: {DEFAULT_JOURNAL_PATH}")
    parser.add_argument("--config", metavar="PATH", help="take journal.path from this config")
    parser.add_argument("--open", action="store_true", help="only orders still live")
    parser.add_argument("--signal", metavar="ID", help="only the orders of this signal")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--positions", action="store_true", help="the net position, P&L and fees of each pair"
    )
    return parser


def _journal_path(args: argparse.Namespace) -> str:
    if args.journal:
        return args.journal
    if args.config:
        # The command is the CLI's edge; the journal proper never needs the config.
        from gal_exec.config import ConfigError, load_config

        try:
            return load_config(args.config).journal.path
        except ConfigError as exc:  # already one line naming the file and key
            raise JournalError(str(exc)) from None
    return DEFAULT_JOURNAL_PATH


def _positions(journal: Journal, *, as_json: bool) -> str:
    from gal_exec.journal._positions import format_positions, positions_from_reports
    from gal_exec.kraken.pairs import v2_asset  # fees name assets as the WS v2 API does

    def assets(pair: str) -> tuple[str, str] | None:
        base, slash, quote = pair.partition("/")
        return (v2_asset(base), v2_asset(quote)) if slash else None

    positions = positions_from_reports(journal.fill_reports(), assets)
    return format_positions(positions, as_json=as_json)


def orders_command(argv: list[str]) -> int:
    """Run ``gal-exec orders``; 0 on success, 2 with one line on stderr for a bad journal."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage or help
        return int(exc.code or 0)
    try:
        path = Path(_journal_path(args))
        with Journal.open(path, read_only=True) as journal:
            if args.positions:
                print(_positions(journal, as_json=args.json))
                return 0
            records = journal.orders(open_only=args.open, signal_id=args.signal)
            fills = {record.cl_ord_id: journal.fills(record.cl_ord_id) for record in records}
    except JournalError as exc:
        print(f"gal-exec orders: {exc}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:
        print(f"gal-exec orders: {describe_sqlite_error(path, exc)}", file=sys.stderr)
        return 2
    print(format_orders(records, fills, as_json=args.json))
    return 0
