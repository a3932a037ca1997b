"""Kraken's REST shapes for the simulator's state: order and trade objects (strings for money,
numbers for times), ticker and pair objects, and the rows of the /sim/ dumps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from gal_exec.sim.accounts import SimTrade
from gal_exec.sim.orders import LIMIT_AFTER_TRIGGER, TRIGGER_TYPES, PriceExpr, SimOrder
from gal_exec.sim.pairs import PairSpec, PairTable, fmt

__all__ = ["close_text", "order_text", "rest_order", "rest_trade", "rfc3339"]

_ZERO = Decimal(0)
_WORDS = {
    "stop-loss": "stop loss",
    "take-profit": "take profit",
    "stop-loss-limit": "stop loss",
    "take-profit-limit": "take profit",
    "trailing-stop": "trailing stop",
    "trailing-stop-limit": "trailing stop",
}


def rfc3339(epoch: float) -> str:
    """``2023-09-22T10:33:05.709950Z``: Kraken's WS v2 timestamp format."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339_seconds(epoch: float) -> str:
    """``2023-03-24T17:41:56Z``: the whole-second form CancelAllOrdersAfter answers with."""
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _price_text(pair: PairSpec, value: Decimal | None, expr: PriceExpr | None) -> str:
    if expr is not None and value is None:
        return expr.text(pair)
    return pair.price_str(value) if value is not None else "0"


def order_text(order: SimOrder) -> str:
    """``descr.order``: e.g. ``sell 0.10000000 XBTUSD @ stop loss 55.0 -> limit 54.0``."""
    pair = order.pair
    head = f"{order.side} {pair.vol_str(order.volume)} {pair.altname} @ "
    if order.ordertype == "market":
        return head + "market"
    price = _price_text(pair, order.price, order.price_expr)
    if order.ordertype in ("limit", "iceberg"):
        return f"{head}limit {price}"
    text = f"{head}{_WORDS[order.ordertype]} {price}"
    if order.ordertype in LIMIT_AFTER_TRIGGER:
        text += f" -> limit {_price_text(pair, order.price2, order.price2_expr)}"
    return text


def close_text(order: SimOrder) -> str:
    """``descr.close``: e.g. ``close position @ stop loss 22000.0 -> limit 21000.0``."""
    close = order.close
    if close is None:
        return ""
    pair = order.pair
    word = "limit" if close.ordertype in ("limit", "iceberg") else _WORDS[close.ordertype]
    text = f"close position @ {word} {close.price.text(pair)}"
    if close.price2 is not None:
        text += f" -> limit {close.price2.text(pair)}"
    return text


def describe(order: SimOrder) -> dict[str, str]:
    """AddOrder's ``descr``."""
    descr = {"order": order_text(order)}
    if order.close is not None:
        descr["close"] = close_text(order)
    return descr


def average_price(order: SimOrder) -> Decimal:
    if not order.vol_exec:
        return _ZERO
    return (order.cost / order.vol_exec).quantize(Decimal(1).scaleb(-order.pair.pair_decimals))


def rest_order(order: SimOrder, *, trades: bool = False) -> dict[str, Any]:
    """The order info object of QueryOrders / OpenOrders / ClosedOrders."""
    pair = order.pair
    info: dict[str, Any] = {
        "refid": order.refid,
        "userref": order.userref if order.userref is not None else 0,
    }
    if order.cl_ord_id is not None:
        info["cl_ord_id"] = order.cl_ord_id
    info.update(
        status=order.status,
        opentm=order.opentm,
        starttm=order.starttm or 0,
        expiretm=order.expiretm or 0,
        descr={
            "pair": pair.altname,
            "type": order.side,
            "ordertype": order.ordertype,
            "price": _price_text(pair, order.price, order.price_expr)
            if order.ordertype != "market"
            else "0",
            "price2": _price_text(pair, order.price2, order.price2_expr)
            if order.ordertype in LIMIT_AFTER_TRIGGER
            else "0",
            "leverage": "none",
            "order": order_text(order),
            "close": close_text(order),
        },
        vol=pair.vol_str(order.volume),
        vol_exec=pair.vol_str(order.vol_exec),
        cost=pair.cost_str(order.cost),
        fee=pair.cost_str(order.fee),
        price=pair.price_str(average_price(order)),
        stopprice=pair.price_str(order.stopprice),
        limitprice=pair.price_str(order.limitprice),
        misc=",".join(order.misc),
        oflags=order.flags_text(),
    )
    if order.ordertype in TRIGGER_TYPES:
        info["trigger"] = order.trigger_ref
    if trades and order.trade_ids:
        info["trades"] = list(order.trade_ids)
    info["reason"] = order.reason
    if not order.is_open:
        info["closetm"] = order.closetm
    return info


def rest_trade(trade: SimTrade) -> dict[str, Any]:
    """A trade object of QueryTrades / TradesHistory."""
    order = trade.order
    pair = order.pair
    return {
        "ordertxid": order.txid,
        "postxid": "TKH2SE-M7IF5-CFI7LT",
        "pair": pair.key,
        "time": trade.time,
        "type": order.side,
        "ordertype": order.ordertype,
        "price": pair.price_str(trade.price),
        "cost": pair.cost_str(trade.cost),
        "fee": pair.cost_str(trade.fee)
        if trade.fee_asset == pair.quote
        else pair.vol_str(trade.fee),
        "vol": pair.vol_str(trade.volume),
        "margin": pair.cost_str(_ZERO),
        "misc": "",
        "trade_id": trade.trade_id,
        "maker": trade.maker,
    }


def dump_order(order: SimOrder) -> dict[str, Any]:
    """One row of GET /sim/orders (plain JSON: money as strings)."""
    pair = order.pair
    return {
        "txid": order.txid,
        "cl_ord_id": order.cl_ord_id,
        "userref": order.userref,
        "api_key": order.api_key,
        "pair": pair.key,
        "symbol": pair.symbol,
        "side": order.side,
        "ordertype": order.ordertype,
        "status": order.status,
        "reason": order.reason,
        "vol": pair.vol_str(order.volume),
        "vol_exec": pair.vol_str(order.vol_exec),
        "price": pair.price_str(order.price) if order.price is not None else None,
        "price2": pair.price_str(order.price2) if order.price2 is not None else None,
        "avg_price": pair.price_str(average_price(order)),
        "cost": pair.cost_str(order.cost),
        "fee": str(order.fee),
        "timeinforce": order.timeinforce,
        "oflags": order.flags_text(),
        "triggered": order.triggered,
        "refid": order.refid,
        "opentm": order.opentm,
        "closetm": order.closetm or None,
        "expiretm": order.expiretm or None,
        "source": order.source,
    }


def dump_trade(trade: SimTrade) -> dict[str, Any]:
    """One row of GET /sim/trades."""
    order = trade.order
    return {
        "trade_id": trade.trade_id,
        "txid": trade.txid,
        "ordertxid": order.txid,
        "api_key": order.api_key,
        "pair": order.pair.key,
        "side": order.side,
        "price": order.pair.price_str(trade.price),
        "vol": order.pair.vol_str(trade.volume),
        "cost": order.pair.cost_str(trade.cost),
        "fee": str(trade.fee),
        "fee_asset": trade.fee_asset,
        "maker": trade.maker,
        "time": trade.time,
    }


def rest_ticker(market: Any) -> dict[str, Any]:
    """The Ticker object of one pair (``a``, ``b``, ``c``, ``v``, ``p``, ``t``, ``l``, ``h``, ``o``)."""
    pair: PairSpec = market.pair
    lot = fmt(market.per_step, 3)
    whole = str(max(1, int(market.per_step)))
    volume = pair.vol_str(market.volume)
    vwap = pair.price_str(market.vwap())
    return {
        "a": [pair.price_str(market.ask), whole, lot],
        "b": [pair.price_str(market.bid), whole, lot],
        "c": [pair.price_str(market.last), pair.vol_str(market.per_step)],
        "v": [volume, volume],
        "p": [vwap, vwap],
        "t": [market.trades, market.trades],
        "l": [pair.price_str(market.low), pair.price_str(market.low)],
        "h": [pair.price_str(market.high), pair.price_str(market.high)],
        "o": pair.price_str(market.open),
    }


def rest_pair(pair: PairSpec, table: PairTable, maker_pct: Decimal, taker_pct: Decimal):
    """The AssetPairs object of one pair."""
    return {
        "altname": pair.altname,
        "wsname": pair.wsname,
        "aclass_base": "currency",
        "base": pair.base,
        "aclass_quote": "currency",
        "quote": pair.quote,
        "lot": "unit",
        "cost_decimals": pair.cost_decimals,
        "pair_decimals": pair.pair_decimals,
        "lot_decimals": pair.lot_decimals,
        "lot_multiplier": 1,
        "leverage_buy": [],
        "leverage_sell": [],
        "fees": [[0, taker_pct]],
        "fees_maker": [[0, maker_pct]],
        "fee_volume_currency": "ZUSD",
        "margin_call": 80,
        "margin_stop": 40,
        "ordermin": str(pair.ordermin),
        "costmin": str(pair.costmin),
        "tick_size": str(pair.tick_size),
        "status": "online",
    }
