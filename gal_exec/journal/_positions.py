"""``gal-exec orders --positions``: the positions the journal's fills add up to, per pair.

The same arithmetic as the running engine (gal_exec.core.positions), fed by every report that
announced a fill, each counted once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

import msgspec

from gal_exec.core.positions import FillReport, PositionBook, PositionView

__all__ = ["format_positions", "positions_from_reports"]

_COLUMNS = (
    "PAIR",
    "POSITION",
    "AVG PRICE",
    "REALIZED P&L",
    "FEES",
    "NET P&L",
    "BOUGHT",
    "SOLD",
    "TRADES",
)


def positions_from_reports(
    reports: Sequence[FillReport], assets: Callable[[str], tuple[str, str] | None]
) -> dict[str, PositionView]:
    book = PositionBook(assets)
    for report in reports:
        book.report(report)
    return book.views()


def _number(value: Decimal | None) -> str:
    return "-" if value is None else format(value.normalize(), "f")


def _fees(fees: Mapping[str, Decimal]) -> str:
    return ", ".join(f"{_number(amount)} {asset}" for asset, amount in sorted(fees.items())) or "0"


def format_positions(positions: Mapping[str, PositionView], *, as_json: bool = False) -> str:
    """Positions as an aligned table (money in each pair's quote asset) or JSON."""
    if as_json:
        return msgspec.json.format(msgspec.json.encode(dict(positions)), indent=2).decode()
    if not positions:
        return "no fills"
    rows = [
        [
            view.pair,
            f"{_number(view.quantity)} {view.base}",
            _number(view.average_price),
            f"{_number(view.realized_pnl)} {view.quote}",
            _fees(view.fees),
            f"{_number(view.net_pnl)} {view.quote}",
            _number(view.bought),
            _number(view.sold),
            str(view.trades),
        ]
        for view in positions.values()
    ]
    widths = [max(len(cells[i]) for cells in [list(_COLUMNS), *rows]) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(
            cell.ljust(width) if index == 0 else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()
        for cells in [list(_COLUMNS), *rows]
    ]
    return "\n".join(lines)
