"""Read-only answers of the private REST API: QueryOrders, OpenOrders, ClosedOrders,
QueryTrades, TradesHistory, Balance, BalanceEx. Called with the exchange lock held.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gal_exec.sim import errors, views
from gal_exec.sim.accounts import Account, SimTrade
from gal_exec.sim.errors import SimError, invalid_arguments
from gal_exec.sim.matching import MatchingEngine
from gal_exec.sim.orders import SimOrder
from gal_exec.sim.pairs import PairTable, fmt

__all__ = [
    "balance",
    "balance_ex",
    "closed_orders",
    "open_orders",
    "query_orders",
    "query_trades",
    "trades_history",
]

PAGE = 50


def _ids(text: str | list | None, name: str, maximum: int) -> list[str]:
    if isinstance(text, list):
        ids = [str(item).strip() for item in text if str(item).strip()]
    else:
        ids = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not ids or len(ids) > maximum:
        raise invalid_arguments(name)
    return ids


def query_orders(
    engine: MatchingEngine, account: Account, txids, *, trades: bool, userref: int | None
):
    result: dict[str, Any] = {}
    for txid in _ids(txids, "txid", 50):
        order = engine.orders.get(txid)
        if order is None or order.api_key != account.api_key:
            raise SimError(errors.INVALID_ORDER)
        if userref is not None and order.userref != userref:
            continue
        result[txid] = views.rest_order(order, trades=trades)
    return result


def _matches(order: SimOrder, userref: int | None, cl_ord_id: str | None) -> bool:
    if userref is not None and order.userref != userref:
        return False
    return cl_ord_id is None or order.cl_ord_id == cl_ord_id


def open_orders(account: Account, *, trades: bool, userref: int | None, cl_ord_id: str | None):
    orders = reversed(list(account.open.values()))
    return {
        "open": {
            order.txid: views.rest_order(order, trades=trades)
            for order in orders
            if _matches(order, userref, cl_ord_id)
        }
    }


def _bound(engine: MatchingEngine, value: Any, name: str) -> float | None:
    """ClosedOrders/TradesHistory ``start``/``end``: unix time or an order or trade txid."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    order = engine.orders.get(text)
    if order is not None:
        return order.closetm or order.opentm
    for trade in engine.trades:
        if trade.txid == text:
            return trade.time
    try:
        return float(text)
    except ValueError:
        raise invalid_arguments(name) from None


def _offset(ofs: Any) -> int:
    try:
        offset = int(ofs or 0)
    except (TypeError, ValueError):
        raise invalid_arguments("ofs") from None
    if offset < 0:
        raise invalid_arguments("ofs")
    return offset


def closed_orders(
    engine: MatchingEngine,
    account: Account,
    *,
    trades: bool,
    userref,
    cl_ord_id,
    start=None,
    end=None,
    ofs=0,
    closetime: str = "both",
) -> dict[str, Any]:
    if closetime not in ("open", "close", "both"):
        raise invalid_arguments("closetime")
    low, high = _bound(engine, start, "start"), _bound(engine, end, "end")

    def when(order: SimOrder) -> tuple[float, ...]:
        if closetime == "open":
            return (order.opentm,)
        if closetime == "close":
            return (order.closetm,)
        return (order.opentm, order.closetm)

    selected = [
        order
        for order in reversed(account.closed)
        if _matches(order, userref, cl_ord_id)
        and (low is None or any(t > low for t in when(order)))
        and (high is None or any(t <= high for t in when(order)))
    ]
    offset = _offset(ofs)
    page = selected[offset : offset + PAGE]
    return {
        "closed": {order.txid: views.rest_order(order, trades=trades) for order in page},
        "count": len(selected),
    }


def query_trades(account: Account, txids) -> dict[str, Any]:
    wanted = _ids(txids, "txid", 20)
    known = {trade.txid: trade for trade in account.trades if trade.txid in wanted}
    if len(known) != len(set(wanted)):
        raise invalid_arguments("txid")
    return {txid: views.rest_trade(known[txid]) for txid in wanted}


def trades_history(engine: MatchingEngine, account: Account, *, start=None, end=None, ofs=0):
    low, high = _bound(engine, start, "start"), _bound(engine, end, "end")
    selected: list[SimTrade] = [
        trade
        for trade in reversed(account.trades)
        if (low is None or trade.time > low) and (high is None or trade.time <= high)
    ]
    offset = _offset(ofs)
    page = selected[offset : offset + PAGE]
    return {
        "trades": {trade.txid: views.rest_trade(trade) for trade in page},
        "count": len(selected),
    }


def balance(pairs: PairTable, account: Account) -> dict[str, str]:
    return {
        asset: fmt(amount, pairs.assets[asset].decimals if asset in pairs.assets else 8)
        for asset, amount in account.balances.items()
    }


def balance_ex(pairs: PairTable, account: Account) -> dict[str, dict[str, str]]:
    result = {}
    for asset, amount in account.balances.items():
        places = pairs.assets[asset].decimals if asset in pairs.assets else 8
        result[asset] = {
            "balance": fmt(amount, places),
            "hold_trade": fmt(account.holds.get(asset, Decimal(0)), places),
        }
    return result
