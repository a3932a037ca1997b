"""WS v2 execution reports and ticker data built from the simulator's state.

Money is Decimal (the WS server writes JSON numbers). Sparse updates (``new``, ``canceled``,
``amended``) carry only what Kraken's samples show for each ``exec_type``; ``pending_new`` and
snapshots carry the full description.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gal_exec.sim.accounts import SimTrade
from gal_exec.sim.orders import LIMIT_AFTER_TRIGGER, TRAILING, TRIGGER_TYPES, PriceExpr, SimOrder
from gal_exec.sim.views import average_price, rfc3339

__all__ = [
    "ws_amended",
    "ws_closing",
    "ws_full",
    "ws_new",
    "ws_order_status",
    "ws_snapshot_order",
    "ws_snapshot_trade",
    "ws_ticker",
    "ws_trade",
]

_ZERO = Decimal(0)


def _ids(order: SimOrder) -> dict[str, Any]:
    if order.cl_ord_id is not None:
        return {"order_id": order.txid, "cl_ord_id": order.cl_ord_id}
    return {"order_id": order.txid, "order_userref": order.userref or 0}


def _price_fields(order: SimOrder) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    ordertype = order.ordertype
    if ordertype in ("limit", "iceberg"):
        fields.update(limit_price_type="static", limit_price=order.price)
    elif ordertype in LIMIT_AFTER_TRIGGER:
        if ordertype in TRAILING and order.price2_expr is not None:
            expr = order.price2_expr
            amount = expr.amount if expr.sign == "+" else -expr.amount
            fields.update(limit_price_type="pct" if expr.percent else "quote", limit_price=amount)
        else:
            fields.update(limit_price_type="static", limit_price=order.price2)
    if ordertype in TRIGGER_TYPES:
        price: Decimal | None
        if ordertype in TRAILING and order.price_expr is not None:
            price = order.price_expr.amount
            price_type = "pct" if order.price_expr.percent else "quote"
        else:
            price, price_type = order.price, "static"
        fields["triggers"] = {
            "reference": order.trigger_ref,
            "price": price,
            "price_type": price_type,
            "status": "triggered" if order.triggered else "untriggered",
        }
        fields["stop_price"] = order.stopprice if order.stopprice else price
    return fields


def _contingent(order: SimOrder) -> dict[str, Any] | None:
    close = order.close
    if close is None:
        return None

    def value(expr: PriceExpr) -> tuple[Decimal, str]:
        if not expr.relative:
            return expr.amount, "static"
        signed = -expr.amount if expr.sign == "-" else expr.amount
        return signed, "pct" if expr.percent else "quote"

    template: dict[str, Any] = {"order_type": close.ordertype}
    price, price_type = value(close.price)
    if close.ordertype in ("limit", "iceberg"):
        template.update(limit_price=price, limit_price_type=price_type)
    else:
        template.update(trigger_price=price, trigger_price_type=price_type)
        if close.price2 is not None:
            limit, limit_type = value(close.price2)
            template.update(limit_price=limit, limit_price_type=limit_type)
    return template


def ws_order_status(order: SimOrder) -> str:
    if order.status == "pending":
        return "pending_new"
    if order.status == "open":
        return "partially_filled" if order.vol_exec else "new"
    if order.status == "closed":
        return "filled"
    return order.status


def ws_full(order: SimOrder, exec_type: str, timestamp: str) -> dict[str, Any]:
    """The full description Kraken sends with ``pending_new`` (and in snapshots)."""
    event: dict[str, Any] = _ids(order)
    event.update(
        symbol=order.pair.symbol,
        order_qty=order.volume,
        cum_cost=order.cost,
        time_in_force=order.timeinforce,
        exec_type=exec_type,
        side=order.side,
        order_type=order.ordertype,
    )
    event.update(_price_fields(order))
    event.update(
        order_status=ws_order_status(order) if exec_type != "pending_new" else "pending_new",
        fee_usd_equiv=order.fee_usd,
        fee_ccy_pref="fcib" if order.fee_in_base else "fciq",
        timestamp=timestamp,
    )
    if order.post_only:
        event["post_only"] = True
    if order.display_volume is not None:
        event["display_qty"] = order.display_volume
    if order.expiretm:
        event["expire_time"] = rfc3339(order.expiretm)
    if order.starttm:
        event["effective_time"] = rfc3339(order.starttm)
    contingent = _contingent(order)
    if contingent is not None:
        event["contingent"] = contingent
    if order.refid is not None:
        event["ord_ref_id"] = order.refid
    return event


def ws_new(order: SimOrder, timestamp: str) -> dict[str, Any]:
    event: dict[str, Any] = {"timestamp": timestamp, "order_status": "new", "exec_type": "new"}
    event.update(_ids(order))
    if order.post_only:
        event["post_only"] = True
    return event


def ws_trade(trade: SimTrade, fees_asset: str, timestamp: str) -> dict[str, Any]:
    order = trade.order
    event: dict[str, Any] = _ids(order)
    event.update(
        exec_id=trade.txid,
        exec_type="trade",
        trade_id=trade.trade_id,
        symbol=order.pair.symbol,
        side=order.side,
        last_qty=trade.volume,
        last_price=trade.price,
        liquidity_ind="m" if trade.maker else "t",
        cost=trade.cost,
        order_type=order.ordertype,
        timestamp=timestamp,
        # Kraken's documented example reports partially_filled even on the completing trade;
        # the separate "filled" update reports completion.
        order_status="partially_filled",
        cum_qty=order.vol_exec,
        cum_cost=order.cost,
        avg_price=average_price(order),
        fee_usd_equiv=trade.fee_usd,
        fees=[{"asset": fees_asset, "qty": trade.fee}],
    )
    return event


def ws_closing(order: SimOrder, exec_type: str, timestamp: str) -> dict[str, Any]:
    """``filled``, ``canceled`` or ``expired``: sparse, with cumulative totals and the reason."""
    event: dict[str, Any] = {
        "timestamp": timestamp,
        "order_status": exec_type,
        "exec_type": exec_type,
        "cum_qty": order.vol_exec,
        "cum_cost": order.cost,
        "fee_usd_equiv": order.fee_usd,
        "avg_price": average_price(order),
    }
    event.update(_ids(order))
    if order.post_only:
        event["post_only"] = True
    if exec_type != "filled" and order.reason:
        event["cancel_reason"] = order.reason
        event["reason"] = order.reason
    return event


def ws_amended(order: SimOrder, timestamp: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "timestamp": timestamp,
        "exec_type": "amended",
        "order_status": ws_order_status(order),
        "cum_qty": order.vol_exec,
        "reason": "User requested",
        "amended": True,
        "order_qty": order.volume,
    }
    fields = _price_fields(order)
    for name in ("limit_price", "limit_price_type", "triggers"):
        if name in fields:
            event[name] = fields[name]
    event.update(_ids(order))
    return event


def ws_snapshot_order(order: SimOrder, timestamp: str) -> dict[str, Any]:
    event = ws_full(order, "pending_new" if order.status == "pending" else "new", timestamp)
    event.update(cum_qty=order.vol_exec, avg_price=average_price(order), amended=order.amended)
    return event


def ws_snapshot_trade(trade: SimTrade, fees_asset: str) -> dict[str, Any]:
    order = trade.order
    event: dict[str, Any] = _ids(order)
    event.update(
        exec_id=trade.txid,
        exec_type="trade",
        trade_id=trade.trade_id,
        symbol=order.pair.symbol,
        side=order.side,
        last_qty=trade.volume,
        last_price=trade.price,
        liquidity_ind="m" if trade.maker else "t",
        cost=trade.cost,
        order_status=ws_order_status(order),
        order_type=order.ordertype,
        timestamp=rfc3339(trade.time),
        fee_usd_equiv=trade.fee_usd,
        fees=[{"asset": fees_asset, "qty": trade.fee}],
    )
    return event


def ws_ticker(market: Any, timestamp: str) -> dict[str, Any]:
    """The WS v2 ticker data of one pair."""
    change = market.last - market.open
    change_pct = (change / market.open * 100).quantize(Decimal("0.01")) if market.open else _ZERO
    return {
        "symbol": market.pair.symbol,
        "bid": market.bid,
        "bid_qty": market.per_step,
        "ask": market.ask,
        "ask_qty": market.per_step,
        "last": market.last,
        "volume": market.volume,
        "vwap": market.vwap().quantize(Decimal(1).scaleb(-market.pair.pair_decimals)),
        "low": market.low,
        "high": market.high,
        "change": change,
        "change_pct": change_pct,
        "timestamp": timestamp,
    }
