"""``gal-exec orders``: the journal's orders, their fills and children, as a table or JSON.

Opens the journal read-only, so it works while an engine owns the file and never changes it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from gal_exec.core.numbers import in_range
from gal_exec.core.text import excerpt
from gal_exec.journal._location import DEFAULT_JOURNAL_PATH, RUNS_DIR, latest_run_journal
from gal_exec.journal._records import FillRecord, OrderRecord
from gal_exec.journal._schema import READ_FAILURES, JournalError, describe_sqlite_error
from gal_exec.journal._store import Journal
from gal_exec.messages import ExecutionReport

__all__ = [
    "DEFAULT_JOURNAL_PATH",
    "TABLE_WIDTH",
    "format_orders",
    "format_rejected",
    "orders_command",
]

TABLE_WIDTH = 120
"""The default tables fit a terminal this wide (``--wide`` shows every column in full)."""

_SHORT_ROLES = {"entry": "entry", "stop_loss": "sl", "take_profit": "tp"}


class _Column(NamedTuple):
    """One table column: its title, its cell for an order, right-aligned (numbers), and the
    width a text column may be cut to when the table is too wide (None: never cut)."""

    title: str
    cell: Callable[[int, OrderRecord], str]
    right: bool = False
    cut_to: int | None = None


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
    if value is None:
        return "-"
    return format(value, "f") if in_range(value) else excerpt(value)


def _short_number(value: Decimal | None) -> str:
    """Without trailing zeros (0.01000000 -> 0.01): narrower, same value."""
    if value is None or not in_range(value):
        return _number(value)
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _when(epoch: float | None) -> str:
    if not epoch:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _order_id(depth: int, order: OrderRecord) -> str:
    return "  " * depth + ("└ " if depth else "") + order.cl_ord_id


def _price(order: OrderRecord) -> str:
    if order.limit_price is not None:
        return _short_number(order.limit_price)
    if order.trigger_price is not None:
        return "@" + _short_number(order.trigger_price)
    return "-"


_WIDE_COLUMNS = (
    _Column("ORDER", _order_id),
    _Column("ROLE", lambda _d, o: o.role),
    _Column("SIGNAL", lambda _d, o: o.signal_id),
    _Column("PAIR", lambda _d, o: o.pair),
    _Column("SIDE", lambda _d, o: o.side),
    _Column("TYPE", lambda _d, o: o.order_type),
    _Column("QTY", lambda _d, o: _number(o.quantity), right=True),
    _Column("FILLED", lambda _d, o: _number(o.filled_quantity), right=True),
    _Column("LIMIT", lambda _d, o: _number(o.limit_price), right=True),
    _Column("TRIGGER", lambda _d, o: _number(o.trigger_price), right=True),
    _Column("AVG", lambda _d, o: _number(o.average_price), right=True),
    _Column(
        "STATUS",
        lambda _d, o: o.status + (f" ({o.reason})" if o.reason and o.is_terminal else ""),
    ),
    _Column("SENT", lambda _d, o: "yes" if o.sent else "no"),
    _Column("TXID", lambda _d, o: o.txid or "-"),
    _Column("UPDATED (UTC)", lambda _d, o: _when(o.updated_at)),
)

_COLUMNS = (
    _Column("ORDER", _order_id),
    _Column("ROLE", lambda _d, o: _SHORT_ROLES.get(o.role, o.role), cut_to=5),
    _Column("SIGNAL", lambda _d, o: o.signal_id, cut_to=8),
    _Column("PAIR", lambda _d, o: o.pair, cut_to=8),
    _Column("SIDE", lambda _d, o: o.side),
    _Column("TYPE", lambda _d, o: o.order_type, cut_to=6),
    _Column("QTY", lambda _d, o: _short_number(o.quantity), right=True),
    _Column("FILLED", lambda _d, o: _short_number(o.filled_quantity), right=True),
    _Column("PRICE", lambda _d, o: _price(o), right=True),
    _Column("AVG", lambda _d, o: _short_number(o.average_price), right=True),
    _Column("STATUS", lambda _d, o: o.status, cut_to=9),
)
"""The default columns; a trigger price shows as @price, the reason and ids behind --wide."""


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def _fit(titles: Sequence[str], rows: list[list[str]], cut_to: Sequence[int | None]) -> list[int]:
    """Column widths: each as wide as its content, then the cuttable text columns narrowed,
    widest first, until the table fits TABLE_WIDTH (numbers and ids are never cut)."""
    widths = [max(len(cells[i]) for cells in [list(titles), *rows]) for i in range(len(titles))]
    floors = [max(len(titles[i]), cut_to[i] or widths[i]) for i in range(len(titles))]
    while sum(widths) + 2 * (len(widths) - 1) > TABLE_WIDTH:
        shrinkable = [i for i in range(len(widths)) if widths[i] > floors[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i] - floors[i])
        widths[widest] -= 1
    return widths


def _render(
    titles: Sequence[str], rows: list[list[str]], right: Sequence[bool], widths: Sequence[int]
) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        parts = [
            _cut(cell, width).rjust(width) if is_right else _cut(cell, width).ljust(width)
            for cell, width, is_right in zip(cells, widths, right, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return [line(titles), *(line(cells) for cells in rows)]


def _fill_line(depth: int, fill: FillRecord) -> str:
    fee = "-" if fill.fee is None else f"{_number(fill.fee)} {fill.fee_asset or ''}".rstrip()
    kind = "synthetic fill" if fill.synthetic else "fill"
    return (
        f"{'  ' * (depth + 1)}· {kind} {fill.trade_id}: {_number(fill.quantity)} @ "
        f"{_number(fill.price)}, fee {fee}, at {_when(fill.time)}"
    )


def _table(
    tree: list[tuple[int, OrderRecord]],
    fills: Mapping[str, Sequence[FillRecord]],
    columns: Sequence[_Column],
) -> str:
    rows = [[column.cell(depth, order) for column in columns] for depth, order in tree]
    titles = [column.title for column in columns]
    widths = _fit(titles, rows, [column.cut_to for column in columns])
    lines = _render(titles, rows, [column.right for column in columns], widths)
    out = [lines[0]]
    for (depth, order), text in zip(tree, lines[1:], strict=True):
        out.append(text)
        out.extend(_fill_line(depth, fill) for fill in fills.get(order.cl_ord_id, ()))
    return "\n".join(out)


def format_orders(
    records: Sequence[OrderRecord],
    fills_by_order: Mapping[str, Sequence[FillRecord]],
    *,
    as_json: bool = False,
    wide: bool = False,
) -> str:
    """Orders with their fills, children under their parents, as an aligned table or JSON.

    A child whose parent is not among `records` is shown at the top level. The table fits
    TABLE_WIDTH columns (text cut with an ellipsis, numbers and ids never); ``wide`` shows every
    column in full (limit and trigger apart, average price, sent, txid, time, the reason). JSON
    is a list of order objects (decimals as strings) each with ``fills`` and nested ``children``.
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
    return _table(tree, fills_by_order, _WIDE_COLUMNS if wide else _COLUMNS)


_REJECTED_TITLES = ("TIME (UTC)", "SIGNAL", "PAIR", "SIDE", "TYPE", "QTY", "REASON")
_REJECTED_RIGHT = (False, False, False, False, False, True, False)
_REJECTED_CUT_TO = (None, 8, 8, None, 6, None, 24)


def format_rejected(
    reports: Sequence[ExecutionReport], *, as_json: bool = False, wide: bool = False
) -> str:
    """Signals refused before any order existed (bad lines, failed checks, duplicates, halts),
    oldest first, as a table (the reason cut to fit unless ``wide``) or JSON."""
    if as_json:
        rows = [
            {
                "time": report.engine_time,
                "signal_id": report.signal_id,
                "client_order_id": report.client_order_id,
                "pair": report.pair,
                "side": report.side,
                "order_type": report.order_type,
                "quantity": report.quantity,
                "reason": report.reason,
            }
            for report in reports
        ]
        return msgspec.json.format(msgspec.json.encode(rows), indent=2).decode()
    if not reports:
        return "no rejected signals"
    cells = [
        [
            _when(report.engine_time),
            report.signal_id or "-",
            report.pair or "-",
            report.side or "-",
            report.order_type or "-",
            _short_number(report.quantity) if report.pair else "-",
            report.reason or "-",
        ]
        for report in reports
    ]
    cut_to = [None] * len(_REJECTED_TITLES) if wide else list(_REJECTED_CUT_TO)
    widths = _fit(_REJECTED_TITLES, cells, cut_to)
    return "\n".join(_render(_REJECTED_TITLES, cells, _REJECTED_RIGHT, widths))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gal-exec orders",
        description="List the journal's orders with their fills and stop-loss/take-profit children.",
    )
    parser.add_argument(
        "--journal",
        metavar="PATH",
        help=f"default: journal.path, else the newest {RUNS_DIR}/*/journal.sqlite in sim mode, "
        f"else {DEFAULT_JOURNAL_PATH}",
    )
    parser.add_argument("--config", metavar="PATH", help="take journal.path from this config")
    parser.add_argument("--open", action="store_true", help="only orders still live")
    parser.add_argument("--signal", metavar="ID", help="only the orders of this signal")
    parser.add_argument(
        "--rejected",
        action="store_true",
        help="list the signals refused before any order existed, with the reasons",
    )
    parser.add_argument(
        "--wide", action="store_true", help="every column in full (wider than 120 columns)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--positions", action="store_true", help="the net position, P&L and fees of each pair"
    )
    return parser


def _journal_path(args: argparse.Namespace) -> Path:
    """--journal; else journal.path of --config (or ./config.toml); else where runs put it."""
    if args.journal:
        return Path(args.journal)
    # The command is the CLI's edge; the journal proper never needs the config.
    from gal_exec.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:  # already one line naming the file and key
        raise JournalError(str(exc)) from None
    if config.journal.path:
        return Path(config.journal.path)
    if config.exchange.mode == "sim":
        return latest_run_journal() or Path(DEFAULT_JOURNAL_PATH)
    return Path(DEFAULT_JOURNAL_PATH)


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
    path = Path(args.journal or DEFAULT_JOURNAL_PATH)
    try:
        path = _journal_path(args)
        with Journal.open(path, read_only=True) as journal:
            if args.positions:
                print(_positions(journal, as_json=args.json))
                return 0
            if args.rejected:
                rejected = journal.rejected_reports(signal_id=args.signal)
            else:
                records = journal.orders(open_only=args.open, signal_id=args.signal)
                fills = {record.cl_ord_id: journal.fills(record.cl_ord_id) for record in records}
    except JournalError as exc:
        print(f"gal-exec orders: {exc}", file=sys.stderr)
        return 2
    except READ_FAILURES as exc:
        print(f"gal-exec orders: {describe_sqlite_error(path, exc)}", file=sys.stderr)
        return 2
    if args.rejected:
        print(format_rejected(rejected, as_json=args.json, wide=args.wide))
    else:
        print(format_orders(records, fills, as_json=args.json, wide=args.wide))
    return 0
