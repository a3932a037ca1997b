"""Kraken's observations as core values: order updates (WS v2 execution reports, REST order
records) as OrderUpdates, BalanceEx entries as AssetBalances."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from gal_exec.core.ledger import Fill
from gal_exec.core.positions import AssetBalance
from gal_exec.core.updates import ExchangeStatus, OrderUpdate, UpdateSource
from gal_exec.core.vocabulary import NEEDS_LIMIT_PRICE, NEEDS_TRIGGER, TRAILING
from gal_exec.kraken.codec import BalanceExEntry, OrderInfo
from gal_exec.kraken.codec import epoch_of as _epoch
from gal_exec.kraken.ws_codec import WsExecution

__all__ = ["asset_balances", "update_from_execution", "update_from_order_info"]

_WS_STATUS = {
    "pending_new": ExchangeStatus.PENDING,
    "new": ExchangeStatus.OPEN,
    "partially_filled": ExchangeStatus.OPEN,
    "filled": ExchangeStatus.FILLED,
    "canceled": ExchangeStatus.CANCELED,
    "expired": ExchangeStatus.EXPIRED,
}
_AMENDS = frozenset({"amended", "restated"})
"""exec_types that change an order's figures: our amend, or one the exchange made."""
_REST_STATUS = {
    "pending": ExchangeStatus.PENDING,
    "open": ExchangeStatus.OPEN,
    "canceled": ExchangeStatus.CANCELED,
    "expired": ExchangeStatus.EXPIRED,
}


def update_from_execution(execution: WsExecution, *, snapshot: bool = False) -> OrderUpdate:
    """One WS v2 executions entry. A trade carries its fill (keyed by trade_id) and the totals."""
    time = _epoch(execution.timestamp)
    fill = None
    if execution.exec_type == "trade" and execution.last_qty is not None:
        fee = Decimal(0)
        fee_asset = ""
        for entry in execution.fees or ():
            fee += entry.qty
            fee_asset = entry.asset
        trade_key = execution.trade_id if execution.trade_id is not None else execution.exec_id
        fill = Fill(
            trade_id=str(trade_key),
            quantity=execution.last_qty,
            price=execution.last_price if execution.last_price is not None else Decimal(0),
            fee=fee,
            fee_asset=fee_asset,
            time=time or 0.0,
            liquidity=execution.liquidity_ind or "",
        )
    status = _WS_STATUS.get(execution.order_status or "", ExchangeStatus.UNKNOWN)
    if snapshot and execution.exec_type == "trade":
        # Snapshot trade rows repeat past fills; their order_status is the status at that trade.
        status = ExchangeStatus.UNKNOWN
    cum_quantity = execution.cum_qty
    amended = execution.exec_type in _AMENDS
    limit_price = trigger_price = None
    if amended:
        if execution.limit_price_type in (None, "static"):
            limit_price = execution.limit_price
        triggers = execution.triggers
        if triggers is not None and triggers.price_type in (None, "static"):
            trigger_price = triggers.price
    return OrderUpdate(
        source=UpdateSource.SNAPSHOT if snapshot else UpdateSource.STREAM,
        cl_ord_id=execution.cl_ord_id,
        txid=execution.order_id,
        status=status,
        fill=fill,
        # A trade's totals include the trade itself, so they only matter if we missed one; the
        # fill is applied first and the totals close any gap.
        cum_quantity=cum_quantity if cum_quantity else None,
        cum_cost=execution.cum_cost if cum_quantity else None,
        average_price=execution.avg_price if cum_quantity else None,
        fee_asset=fill.fee_asset if fill is not None else "",
        order_quantity=execution.order_qty if amended else None,
        limit_price=limit_price,
        trigger_price=trigger_price,
        amended=amended,
        reason=execution.reason or execution.cancel_reason,
        time=time,
    )


def update_from_order_info(txid: str, info: OrderInfo, *, fee_asset: str = "") -> OrderUpdate:
    """A REST order record: cumulative figures and the ids of its trades. ``fee_asset`` is the
    asset REST states the fee in (the pair's quote currency, as the engine sets no fee flags)."""
    if info.status == "closed":
        status = ExchangeStatus.FILLED if info.vol_exec >= info.vol else ExchangeStatus.CANCELED
    else:
        status = _REST_STATUS.get(info.status, ExchangeStatus.UNKNOWN)
    executed = info.vol_exec
    limit_price, trigger_price = _rest_prices(info)
    return OrderUpdate(
        source=UpdateSource.REST,
        cl_ord_id=info.cl_ord_id,
        txid=txid,
        status=status,
        cum_quantity=executed if executed > 0 else None,
        cum_cost=info.cost if executed > 0 else None,
        average_price=info.price if executed > 0 and info.price > 0 else None,
        cum_fee=info.fee if executed > 0 else None,
        fee_asset=fee_asset if executed > 0 else "",
        order_quantity=info.vol,
        limit_price=limit_price,
        trigger_price=trigger_price,
        trade_ids=tuple(info.trades or ()),
        reason=info.reason,
        time=info.closetm or info.opentm or None,
    )


def _rest_prices(info: OrderInfo) -> tuple[Decimal | None, Decimal | None]:
    """(limit, trigger) from a REST record's ``descr``: ``price`` is a limit order's limit and a
    triggered type's trigger, ``price2`` the limit of a ``*-limit`` type. Trailing types show
    offsets there, not levels: None."""
    kind = info.descr.ordertype
    if kind in TRAILING:
        return None, None
    first, second = _level(info.descr.price), _level(info.descr.price2)
    if kind in NEEDS_TRIGGER:
        return (second if kind in NEEDS_LIMIT_PRICE else None), first
    if kind in NEEDS_LIMIT_PRICE:
        return first, None
    return None, None


def _level(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() and value > 0 else None


def asset_balances(entries: Mapping[str, BalanceExEntry]) -> dict[str, AssetBalance]:
    """BalanceEx's entries: available = balance + credit - credit_used - hold_trade."""
    balances: dict[str, AssetBalance] = {}
    for asset, entry in entries.items():
        credit = (entry.credit or Decimal(0)) - (entry.credit_used or Decimal(0))
        balances[asset] = AssetBalance(
            total=entry.balance,
            hold=entry.hold_trade,
            available=entry.balance + credit - entry.hold_trade,
        )
    return balances
