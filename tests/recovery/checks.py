"""What must hold after a run of kills and restarts, judged against the simulator's own books.

``collect`` gathers the evidence (the simulator's orders and trades, the journal, the reports
file); ``problems`` returns every broken promise as a line naming the order, so a failing test
says exactly what went wrong. An empty list means: every signal produced exactly one exchange
order per role, no fill is missing from the journal or the reports, and every filled entry with
a stop-loss or take-profit had its protection.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from gal_exec.core.ids import child_generation
from gal_exec.journal import FillRecord, Journal, OrderRecord
from gal_exec.messages import ExecutionReport

__all__ = ["Evidence", "collect", "problems"]

_OPEN_AT_EXCHANGE = {"pending", "open"}
_ROLES = (("stop_loss", "sl_price"), ("take_profit", "tp_price"))
_report_decoder = msgspec.json.Decoder(ExecutionReport)


class Evidence(msgspec.Struct, kw_only=True):
    """Everything the checks look at, read once after the last engine run ended."""

    signals: list[dict[str, Any]]
    sim_orders: list[dict[str, Any]]
    sim_trades: list[dict[str, Any]]
    journal_signals: list[str]
    orders: list[OrderRecord]
    fills: dict[str, list[FillRecord]]
    journal_reports: dict[str, list[ExecutionReport]]
    file_reports: list[ExecutionReport]


def collect(
    signals: list[dict[str, Any]], sim: Any, journal_path: Path, reports_path: Path
) -> Evidence:
    api_key = sim.endpoints["api_key"]
    journal = Journal.open(journal_path, read_only=True)
    try:
        orders = journal.orders()
        fills = {order.cl_ord_id: journal.fills(order.cl_ord_id) for order in orders}
        journal_reports = {order.cl_ord_id: journal.reports(order.cl_ord_id) for order in orders}
        journal_signals = [record.signal_id for record in journal.signals()]
    finally:
        journal.close()
    lines = reports_path.read_bytes().splitlines() if reports_path.exists() else []
    sim_orders = [order for order in sim.orders() if order["api_key"] == api_key]
    sim_trades = [trade for trade in sim.trades() if trade["api_key"] == api_key]
    # Kept beside the journal for a post-mortem of a failure.
    dump = {"orders": sim_orders, "trades": sim_trades}
    (journal_path.parent / "exchange.json").write_text(json.dumps(dump, indent=1))
    return Evidence(
        signals=signals,
        sim_orders=sim_orders,
        sim_trades=sim_trades,
        journal_signals=journal_signals,
        orders=orders,
        fills=fills,
        journal_reports=journal_reports,
        file_reports=[_report_decoder.decode(line) for line in lines if line.strip()],
    )


def problems(
    evidence: Evidence, *, closed_positions: bool = True, reports_file: bool = True
) -> list[str]:
    """Every broken promise, one line each. ``closed_positions``: every bracket was closed by
    one of its children (the final price phase reached them), so children's fills must sum to
    exactly the entry's. ``reports_file``: also hold the reports file to the journal."""
    found: list[str] = []
    found += _intake(evidence)
    found += _exchange_orders(evidence)
    found += _fills(evidence)
    found += _reports(evidence, reports_file)
    found += _protection(evidence, closed_positions)
    return found


def _intake(evidence: Evidence) -> list[str]:
    """Each signal journaled once and turned into one journaled entry (idempotent intake)."""
    found = []
    wanted = [signal["signal_id"] for signal in evidence.signals]
    if sorted(evidence.journal_signals) != sorted(wanted):
        missing = set(wanted) - set(evidence.journal_signals)
        extra = set(evidence.journal_signals) - set(wanted)
        found.append(f"journal signals differ: missing {sorted(missing)}, extra {sorted(extra)}")
    per_role = Counter((order.signal_id, order.role) for order in evidence.orders)
    for (signal_id, role), count in sorted(per_role.items()):
        if role == "entry" and count != 1:
            found.append(f"{signal_id}: {count} journaled {role} orders")
    entries = {o.signal_id: o.cl_ord_id for o in evidence.orders if o.role == "entry"}
    for order in evidence.orders:
        # Protection comes in generations (gal_exec.core.bracket): each child's id is its
        # entry's, its role and its generation; never any other order.
        if order.role != "entry":
            parent = entries.get(order.signal_id)
            if parent is None or order.parent_cl_ord_id != parent:
                found.append(f"{order.cl_ord_id}: {order.role} without its entry")
            elif child_generation(parent, order.cl_ord_id) is None:
                found.append(f"{order.cl_ord_id}: not a {order.role} id of {parent}")
    for signal_id in wanted:
        if per_role[(signal_id, "entry")] == 0:
            found.append(f"{signal_id}: signal journaled but no entry order (lost)")
    for order in evidence.orders:
        if not order.is_terminal:
            found.append(
                f"{order.cl_ord_id} ({order.signal_id} {order.role}): still {order.status}"
            )
    return found


def _exchange_orders(evidence: Evidence) -> list[str]:
    """Every exchange order is a journaled intent, placed once, and finished."""
    found = []
    journaled = {order.cl_ord_id for order in evidence.orders}
    by_cl_ord_id = Counter(order["cl_ord_id"] for order in evidence.sim_orders)
    for order in evidence.sim_orders:
        cl_ord_id = order["cl_ord_id"]
        if cl_ord_id is None:
            found.append(f"exchange order {order['txid']} has no cl_ord_id")
        elif cl_ord_id not in journaled:
            found.append(f"exchange order {order['txid']} ({cl_ord_id}) was never journaled")
        elif by_cl_ord_id[cl_ord_id] > 1:
            found.append(f"{cl_ord_id}: placed {by_cl_ord_id[cl_ord_id]} times at the exchange")
        if order["status"] in _OPEN_AT_EXCHANGE:
            found.append(f"exchange order {order['txid']} ({cl_ord_id}) still {order['status']}")
    return sorted(set(found))


def _expected_status(sim_order: dict[str, Any]) -> str:
    status = sim_order["status"]
    if status == "closed":
        return "filled"
    return status  # canceled, expired


def _fills(evidence: Evidence) -> list[str]:
    """The journal's figures are the exchange's: fills by trade id, cumulative totals, status."""
    found = []
    sim_by_cl = {order["cl_ord_id"]: order for order in evidence.sim_orders}
    trades_by_txid: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for trade in evidence.sim_trades:
        trades_by_txid[trade["ordertxid"]].append(trade)
    for order in evidence.orders:
        name = f"{order.cl_ord_id} ({order.signal_id} {order.role})"
        sim_order = sim_by_cl.get(order.cl_ord_id)
        if sim_order is None:
            if order.role == "entry" or order.status != "rejected" or order.filled_quantity:
                found.append(f"{name}: journaled {order.status} but never at the exchange")
            continue
        trades = {str(trade["trade_id"]): trade for trade in trades_by_txid[sim_order["txid"]]}
        vol_exec = Decimal(sim_order["vol_exec"])
        if sum((Decimal(t["vol"]) for t in trades.values()), Decimal(0)) != vol_exec:
            found.append(f"{name}: the simulator's trades do not add up to its vol_exec")
        if order.filled_quantity != vol_exec:
            found.append(
                f"{name}: journal filled_quantity {order.filled_quantity} != exchange vol_exec "
                f"{vol_exec}"
            )
        if order.txid != sim_order["txid"]:
            found.append(f"{name}: journal txid {order.txid} != exchange {sim_order['txid']}")
        if order.status != _expected_status(sim_order):
            found.append(
                f"{name}: journal status {order.status} but the exchange says "
                f"{sim_order['status']} ({sim_order['reason']})"
            )
        traded = Decimal(0)
        for fill in evidence.fills[order.cl_ord_id]:
            if fill.synthetic or fill.trade_id.startswith("cum:"):
                traded += fill.quantity
                continue
            trade = trades.get(fill.trade_id)
            if trade is None:
                found.append(f"{name}: journal fill {fill.trade_id} is no trade of this order")
                continue
            traded += fill.quantity
            # Less than the trade when part of it was first learned from cumulative figures.
            if fill.quantity > Decimal(trade["vol"]) or fill.price != Decimal(trade["price"]):
                found.append(
                    f"{name}: journal fill {fill.trade_id} {fill.quantity} @ {fill.price} "
                    f"differs from the trade {trade['vol']} @ {trade['price']}"
                )
        if traded > vol_exec:
            found.append(f"{name}: journal fills total {traded} > exchange vol_exec {vol_exec}")
    return found


def _reports(evidence: Evidence, reports_file: bool) -> list[str]:
    """Reports: gap-free in the journal; the file shows nothing the journal lacks and ends on
    each order's final figures."""
    found = []
    journaled = {order.cl_ord_id: order for order in evidence.orders}
    for cl_ord_id, reports in evidence.journal_reports.items():
        sequences = [report.sequence for report in reports]
        if sequences != list(range(1, len(sequences) + 1)):
            found.append(f"{cl_ord_id}: journal report sequences {sequences} have gaps")
        order = journaled[cl_ord_id]
        if reports and reports[-1].status != order.status:
            found.append(f"{cl_ord_id}: last journal report {reports[-1].status} != {order.status}")
    if not reports_file:
        return found
    in_journal = {
        (report.client_order_id, report.sequence): report
        for reports in evidence.journal_reports.values()
        for report in reports
    }
    last_in_file: dict[str, ExecutionReport] = {}
    for report in evidence.file_reports:
        if report.client_order_id not in journaled:
            if report.status != "rejected" or "duplicate signal_id" not in (report.reason or ""):
                found.append(f"report for unknown order {report.client_order_id}: {report}")
            continue
        key = (report.client_order_id, report.sequence)
        if in_journal.get(key) != report:
            found.append(f"{key}: a delivered report differs from the journal's or is missing")
        last = last_in_file.get(report.client_order_id)
        if last is None or report.sequence > last.sequence:
            last_in_file[report.client_order_id] = report
    for cl_ord_id, order in journaled.items():
        last = last_in_file.get(cl_ord_id)
        if last is None:
            found.append(f"{cl_ord_id}: no report in the reports file")
        elif last.status != order.status or last.filled_quantity != order.filled_quantity:
            found.append(
                f"{cl_ord_id} ({order.signal_id} {order.role}): the reports file ends at "
                f"{last.status} {last.filled_quantity}, the order is {order.status} "
                f"{order.filled_quantity}"
            )
    return found


def _protection(evidence: Evidence, closed_positions: bool) -> list[str]:
    """One stop-loss and one take-profit at the exchange per filled bracket entry."""
    found = []
    sim_by_cl = {order["cl_ord_id"]: order for order in evidence.sim_orders}
    orders_by_role = {
        (order.signal_id, order.role): order
        for order in evidence.orders
        if order.role == "entry" or _generation(order) == 1
    }
    later = [
        order
        for order in evidence.orders
        if order.role != "entry" and (_generation(order) or 1) > 1
    ]
    for signal in evidence.signals:
        signal_id = signal["signal_id"]
        entry = orders_by_role.get((signal_id, "entry"))
        sim_entry = sim_by_cl.get(entry.cl_ord_id) if entry else None
        if sim_entry is None:
            continue  # reported by the intake checks
        entry_filled = Decimal(sim_entry["vol_exec"])
        closed = Decimal(0)
        refused = False
        for role, price_field in _ROLES:
            child = orders_by_role.get((signal_id, role))
            sim_child = sim_by_cl.get(child.cl_ord_id) if child else None
            wanted = entry_filled > 0 and signal.get(price_field) is not None
            if not wanted:
                if child is not None:
                    found.append(f"{signal_id}: unexpected {role} {child.cl_ord_id}")
                continue
            if sim_child is None:
                reason = child.reason if child is not None else None
                # Refused with a reason: below the pair's minimum, or a trigger the market had
                # already passed (placing it would have closed the position at once).
                if child is not None and "would fire at once" in (reason or ""):
                    refused = True
                    continue
                if child is None or "minimum" not in (reason or ""):
                    found.append(
                        f"{signal_id}: entry filled {entry_filled} but no {role} at the exchange"
                        + (f" (journal: {child.status}: {reason})" if child else "")
                    )
                continue
            if Decimal(sim_child["vol"]) > entry_filled:
                found.append(
                    f"{signal_id}: {role} for {sim_child['vol']} > entry filled {entry_filled}"
                )
            closed += Decimal(sim_child["vol_exec"])
        for child in later:
            sim_child = sim_by_cl.get(child.cl_ord_id)
            if child.signal_id == signal_id and sim_child is not None:
                closed += Decimal(sim_child["vol_exec"])
        bracket = entry_filled > 0 and signal.get("sl_price") is not None
        if closed_positions and bracket and not refused and closed != entry_filled:
            found.append(f"{signal_id}: children closed {closed} of a position of {entry_filled}")
    return found


def _generation(order) -> int | None:
    found = child_generation(order.parent_cl_ord_id or "", order.cl_ord_id)
    return found[1] if found else None
