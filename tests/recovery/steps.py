"""Small steps shared by the deterministic crash-point tests: signals, market moves, faults,
and what the reports file shows so far."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from typing import Any

from harness import EngineProcess, SimProcess

__all__ = [
    "ETH_BASE",
    "RUN_TIMEOUT_S",
    "XBT_BASE",
    "far_bracket",
    "forget_children",
    "orders_by_type",
    "reported",
    "reported_fill",
    "set_faults",
    "set_price",
    "signal",
]

RUN_TIMEOUT_S = 10.0
XBT_BASE = Decimal("65000.0")
ETH_BASE = Decimal("3200.00")


def _reports(engine: EngineProcess) -> list[dict[str, Any]]:
    if not engine.reports.exists():
        return []
    return [json.loads(line) for line in engine.reports.read_bytes().splitlines()]


def reported(engine: EngineProcess, role: str, status: str) -> bool:
    """True once the reports file (so also the journal) shows ``role`` reaching ``status``."""
    return any(r["role"] == role and r["status"] == status for r in _reports(engine))


def reported_fill(engine: EngineProcess, role: str) -> bool:
    """True once the reports file shows a fill of ``role``."""
    return any(r["role"] == role and r["last_fill_quantity"] is not None for r in _reports(engine))


def orders_by_type(sim: SimProcess) -> dict[str, dict[str, Any]]:
    """The simulator's orders by order type (one of each in these tests)."""
    return {order["ordertype"]: order for order in sim.orders()}


def signal(signal_id: str, **fields: Any) -> dict[str, Any]:
    """A market buy of 0.01 XBT, with ``fields`` changed."""
    body = {
        "type": "TradeSignalApproved",
        "signal_id": signal_id,
        "pair": "XBTUSD",
        "side": "buy",
        "order_type": "market",
        "quantity": "0.01",
    }
    return body | fields


def far_bracket(base: Decimal, places: str) -> dict[str, str]:
    """Stop-loss and take-profit 3 % from ``base``: only the tests' own moves reach them."""
    quantum = Decimal(places)
    return {
        "sl_price": str((base * Decimal("0.97")).quantize(quantum)),
        "tp_price": str((base * Decimal("1.03")).quantize(quantum)),
    }


def set_price(sim: SimProcess, pair: str, price: Decimal) -> None:
    sim.control("POST", "price", {"pair": pair, "price": str(price)})


def set_faults(sim: SimProcess, *rules: dict[str, Any]) -> None:
    """Replace the simulator's fault plan (no rules: no faults)."""
    sim.control("PUT", "faults", {"rules": list(rules)})


def forget_children(engine: EngineProcess, parent_cl_ord_id: str) -> None:
    """Remove an entry's children from the journal and the reports file: the state a kill
    between the commit of the entry's fill and the commit of its children's intents leaves."""
    connection = sqlite3.connect(engine.journal)
    try:
        rows = connection.execute(
            "SELECT cl_ord_id FROM orders WHERE parent_cl_ord_id = ?", (parent_cl_ord_id,)
        ).fetchall()
    finally:
        connection.close()
    forget_orders(engine, [cl_ord_id for (cl_ord_id,) in rows])


def forget_orders(engine: EngineProcess, cl_ord_ids: list[str]) -> None:
    """Remove orders from the journal and the reports file, as if never journaled."""
    connection = sqlite3.connect(engine.journal)
    try:
        with connection:
            for cl_ord_id in cl_ord_ids:
                # A signal is marked settled only after its orders ended: without them, not yet.
                connection.execute(
                    "UPDATE signals SET outcome = 'accepted' WHERE outcome = 'settled' AND "
                    "signal_id IN (SELECT signal_id FROM orders WHERE cl_ord_id = ?)",
                    (cl_ord_id,),
                )
                for table in ("orders", "reports", "fills", "events"):
                    connection.execute(f"DELETE FROM {table} WHERE cl_ord_id = ?", (cl_ord_id,))
            # The delivery marker must not point past what is left.
            connection.execute(
                "UPDATE meta SET value = (SELECT coalesce(max(rowid), 0) FROM reports) "
                "WHERE key = 'delivered_rowid'"
            )
    finally:
        connection.close()
    lines = engine.reports.read_bytes().splitlines(keepends=True)
    kept = [line for line in lines if json.loads(line)["client_order_id"] not in cl_ord_ids]
    engine.reports.write_bytes(b"".join(kept))
