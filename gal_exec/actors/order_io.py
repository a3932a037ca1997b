"""What an order sends and records: its AddOrder request, its journal intent, its reports, and
the trades it learns of by REST. Pure functions shared by the OrderActor and the supervisor.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

from gal_exec.actors import protocol as p
from gal_exec.core import order as om
from gal_exec.core.clock import Clock
from gal_exec.core.desk import Reject
from gal_exec.core.ids import new_client_order_id
from gal_exec.core.ledger import Fill, quantized
from gal_exec.core.vocabulary import (
    NEEDS_TRIGGER,
    TRAILING,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from gal_exec.journal import OrderRecord
from gal_exec.kraken.codec import TradeInfo
from gal_exec.kraken.orders import OrderRequest, RelativePrice
from gal_exec.kraken.pairs import v2_asset
from gal_exec.messages import ExecutionReport

__all__ = [
    "build_order_request",
    "fee_asset",
    "fills_from_trades",
    "intent_record",
    "next_request_id",
    "place_order",
    "rejected_report",
    "report_from_emit",
    "spec_from_record",
]


_request_ids = itertools.count(1)


def next_request_id() -> int:
    """A request id no other request of this process has (the gateway matches answers by it)."""
    return next(_request_ids)


def place_order(
    spec: om.OrderSpec,
    quantity: Decimal,
    *,
    reply_to: p.Tellable,
    validate: bool,
    now: float,
    after: tuple[p.Forward, ...] = (),
) -> p.PlaceOrder:
    """The gateway's PlaceOrder for ``spec`` (answered to ``reply_to``, the order's actor)."""
    return p.PlaceOrder(
        request_id=next_request_id(),
        cl_ord_id=spec.cl_ord_id,
        pair=spec.symbol or spec.pair,
        order=build_order_request(spec, quantity, validate=validate),
        reply_to=reply_to,
        enqueued_at=spec.received_at or now,
        after=after,
    )


def build_order_request(
    spec: om.OrderSpec, quantity: Decimal, *, validate: bool = False
) -> OrderRequest:
    """The AddOrder request for ``spec`` (trailing types take their prices as + offsets)."""
    kind = spec.order_type
    price: Decimal | RelativePrice | None = None
    price2: Decimal | RelativePrice | None = None
    if kind == OrderType.LIMIT:
        price = spec.limit_price
    elif kind in TRAILING:
        price = RelativePrice(offset=spec.trigger_price or Decimal(0), sign="+")
        if kind == OrderType.TRAILING_STOP_LIMIT:
            # The limit is an offset from the trigger, away from the market for a fill.
            price2 = RelativePrice(
                offset=spec.limit_price or Decimal(0), sign="+" if spec.side == Side.BUY else "-"
            )
    elif kind in NEEDS_TRIGGER:
        price = spec.trigger_price
        if kind.endswith("-limit"):
            price2 = spec.limit_price
    timeinforce = spec.time_in_force if spec.time_in_force != "GTC" else None
    return OrderRequest(
        pair=spec.symbol or spec.pair,
        type="buy" if spec.side == Side.BUY else "sell",
        ordertype=kind,
        volume=quantity,
        price=price,
        price2=price2,
        timeinforce=timeinforce,
        expiretm=int(spec.expire_at) if spec.expire_at is not None else None,
        oflags=("post",) if spec.post_only else (),
        reduce_only=spec.reduce_only,
        cl_ord_id=spec.cl_ord_id,
        validate=validate,
    )


def intent_record(spec: om.OrderSpec, now: float) -> OrderRecord:
    """The journal row written before the order's request leaves.

    It is marked ``sent`` at once: from the moment it is durable the request may leave, so recovery
    always resolves such an order by cl_ord_id before deciding to send it (one commit, not two).
    """
    deadline = now + spec.timeout_s if spec.timeout_s else None
    return OrderRecord(
        cl_ord_id=spec.cl_ord_id,
        signal_id=spec.signal_id,
        role=spec.role,
        parent_cl_ord_id=spec.parent_cl_ord_id,
        pair=spec.pair,
        side=spec.side,
        order_type=spec.order_type,
        quantity=spec.quantity,
        limit_price=spec.limit_price,
        trigger_price=spec.trigger_price,
        sl_price=spec.sl_price,
        tp_price=spec.tp_price,
        time_in_force=spec.time_in_force,
        expire_at=spec.expire_at,
        post_only=spec.post_only,
        reduce_only=spec.reduce_only,
        timeout_s=spec.timeout_s,
        deadline_at=deadline,
        sent=True,
        created_at=now,
        updated_at=now,
    )


def spec_from_record(
    record: OrderRecord,
    *,
    pair: str,
    symbol: str,
    price_decimals: int | None,
    now: float,
) -> om.OrderSpec:
    """The spec of a journaled order (its names as the pair's rules give them now). A resting
    limit's ``timeout_s`` becomes the time left of it."""
    return om.OrderSpec(
        cl_ord_id=record.cl_ord_id,
        signal_id=record.signal_id,
        role=record.role,
        parent_cl_ord_id=record.parent_cl_ord_id,
        pair=pair,
        symbol=symbol,
        price_decimals=price_decimals,
        side=Side(record.side),
        order_type=OrderType(record.order_type),
        quantity=record.quantity,
        limit_price=record.limit_price,
        trigger_price=record.trigger_price,
        time_in_force=TimeInForce(record.time_in_force),
        expire_at=record.expire_at,
        post_only=record.post_only,
        reduce_only=record.reduce_only,
        timeout_s=record.remaining_timeout(now),
        sl_price=record.sl_price,
        tp_price=record.tp_price,
    )


def report_from_emit(spec: om.OrderSpec, emit: om.Emit, engine_time: float) -> ExecutionReport:
    """The ExecutionReport of one Emit (a snapshot of the order when it happened)."""
    fill = emit.fill
    average = emit.average_price
    if average is not None and spec.price_decimals is not None:
        average = quantized(average, spec.price_decimals + 2)
    return ExecutionReport(
        signal_id=spec.signal_id,
        client_order_id=spec.cl_ord_id,
        exchange_order_id=emit.txid,
        parent_client_order_id=spec.parent_cl_ord_id,
        role=spec.role,
        pair=spec.pair,
        side=spec.side,
        order_type=spec.order_type,
        status=emit.status,
        quantity=emit.quantity,
        filled_quantity=emit.filled_quantity,
        last_fill_quantity=emit.fill_quantity if fill is not None else None,
        last_fill_price=fill.price if fill is not None else None,
        average_price=average,
        limit_price=emit.limit_price,
        trigger_price=emit.trigger_price,
        fee=emit.fee,
        fee_asset=emit.fee_asset or None,
        trade_id=(fill.trade_id if fill is not None and not fill.synthetic else None),
        reason=emit.reason,
        error_code=emit.error_code,
        exchange_time=(fill.time or None) if fill is not None else None,
        engine_time=engine_time,
        sequence=emit.sequence,
    )


def rejected_report(rejection: Reject, clock: Clock) -> ExecutionReport:
    """The one report of a signal (or command) refused before any order existed."""
    return ExecutionReport(
        signal_id=rejection.signal_id,
        client_order_id=new_client_order_id(clock=clock),
        pair=rejection.pair,
        side=rejection.side,
        order_type=rejection.order_type,
        status=OrderStatus.REJECTED,
        quantity=rejection.quantity,
        reason=rejection.reason,
        engine_time=clock.time(),
        sequence=1,
    )


def fee_asset(spec: om.OrderSpec) -> str:
    """The asset REST states an order's fees in: the pair's quote currency, as the stream names
    it (the engine sets no fee flags)."""
    return v2_asset(spec.pair.partition("/")[2]) if "/" in spec.pair else ""


def fills_from_trades(spec: om.OrderSpec, trades: dict[str, TradeInfo]) -> list[Fill]:
    """The order's trades as fills, keyed like the stream keys them (Kraken's trade_id)."""
    quote = fee_asset(spec)
    fills: list[Fill] = []
    for txid, trade in trades.items():
        if trade.ordertxid and trade.vol > 0 and trade.price > 0:
            fills.append(
                Fill(
                    trade_id=str(trade.trade_id) if trade.trade_id is not None else txid,
                    quantity=trade.vol,
                    price=trade.price,
                    fee=trade.fee,
                    fee_asset=quote,
                    time=trade.time,
                    liquidity="m" if trade.maker else "t" if trade.maker is not None else "",
                )
            )
    return fills
