"""Positions from the engine's own fills, and the position limit of the pre-trade checks.

A pair's position is the net base quantity its fills bought and sold (buys add, sells subtract),
with the average price of what is open, the P&L realised by closing it (in the quote currency,
before fees) and the fees paid. Each fill counts once, keyed by its order and trade id, however
often it is seen (the live reports, the journal at start). A fee paid in the base asset leaves
the position like a sale at the fill's price (it is part of what the base balance lost); its
value at that price is counted with the fees, so ``net_pnl = realized_pnl - fees_value``.

The limit: ``risk.max_position_per_pair`` (base units) bounds what a pair's position could become
if every working entry filled: a buy is refused when the position plus the open buys plus the
buy exceed it, a sell when the position minus the open sells minus the sell fall below its
negative. Protective children are never checked (they only close what their entry opened) and
never counted.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

import msgspec

from gal_exec.core.order import ReportLike
from gal_exec.core.vocabulary import Side

__all__ = [
    "AccountView",
    "AssetBalance",
    "FillReport",
    "PositionBook",
    "PositionFill",
    "PositionLimitView",
    "PositionView",
    "TrialPositions",
    "WorkingOrders",
    "position_problem",
]

_ZERO = Decimal(0)
_SIDES = frozenset(side.value for side in Side)


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


class PositionFill(msgspec.Struct, frozen=True, kw_only=True):
    """One fill as positions see it. ``trade`` is the exchange's trade id, or ``cum:<filled>``
    for quantity known only from the order's totals."""

    order: str
    trade: str
    pair: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal = _ZERO
    fee_asset: str = ""
    time: float = 0.0


class FillReport(ReportLike, Protocol):
    """What the book reads from a report: a ReportLike plus its order, pair and side
    (gal_exec.messages.ExecutionReport has all of it)."""

    @property
    def client_order_id(self) -> str: ...
    @property
    def pair(self) -> str: ...
    @property
    def side(self) -> str: ...


class PositionView(msgspec.Struct, frozen=True, kw_only=True):
    """A pair's position. ``quantity`` is signed (short below 0) in the base asset;
    ``average_price`` is that of the open quantity (None when flat); money is in the quote asset.
    ``fees`` are by asset; ``fees_value`` is their value in the quote asset (fees in an asset that
    is neither the base nor the quote are not valued)."""

    pair: str
    base: str
    quote: str
    quantity: Decimal
    average_price: Decimal | None
    realized_pnl: Decimal
    fees: dict[str, Decimal]
    fees_value: Decimal
    net_pnl: Decimal
    bought: Decimal
    sold: Decimal
    trades: int
    updated_at: float


class _Position:
    __slots__ = (
        "average",
        "base",
        "bought",
        "fees",
        "fees_value",
        "quantity",
        "quote",
        "realized",
        "sold",
        "trades",
        "updated_at",
    )

    def __init__(self, base: str, quote: str) -> None:
        self.base = base
        self.quote = quote
        self.quantity = _ZERO
        self.average: Decimal | None = None
        self.realized = _ZERO
        self.fees: dict[str, Decimal] = {}
        self.fees_value = _ZERO
        self.bought = _ZERO
        self.sold = _ZERO
        self.trades = 0
        self.updated_at = 0.0

    def trade(self, signed: Decimal, price: Decimal) -> None:
        """Move the position by ``signed`` base units at ``price``: add to it, or close part of
        it (realising P&L), or close it and open the other way at ``price``."""
        held = self.quantity
        after = held + signed
        if held == 0 or (held > 0) == (signed > 0):
            cost = abs(held) * (self.average or _ZERO) + abs(signed) * price
            self.average = cost / abs(after) if after else None
        else:
            closed = min(abs(signed), abs(held))
            direction = 1 if held > 0 else -1
            self.realized += closed * (price - (self.average or price)) * direction
            if after == 0:
                self.average = None
            elif (after > 0) != (held > 0):
                self.average = price  # reversed through zero: the rest opened at this fill
        self.quantity = after

    def fee(self, amount: Decimal, asset: str, price: Decimal) -> None:
        if not amount:
            return
        self.fees[asset] = self.fees.get(asset, _ZERO) + amount
        if asset == self.quote:
            self.fees_value += amount
        elif asset == self.base:
            self.trade(-amount, price)  # paid out of the base holding, like a sale at the fill
            self.fees_value += amount * price

    def view(self, pair: str) -> PositionView:
        return PositionView(
            pair=pair,
            base=self.base,
            quote=self.quote,
            quantity=self.quantity,
            average_price=self.average,
            realized_pnl=self.realized,
            fees=dict(self.fees),
            fees_value=self.fees_value,
            net_pnl=self.realized - self.fees_value,
            bought=self.bought,
            sold=self.sold,
            trades=self.trades,
            updated_at=self.updated_at,
        )


class PositionBook:
    """Every pair's position from fills, each counted once.

    ``assets`` names a pair's base and quote assets as fees name them (None: unknown pair, its
    fees are kept but not valued).
    """

    def __init__(self, assets: Callable[[str], tuple[str, str] | None]) -> None:
        self._assets = assets
        self._positions: dict[str, _Position] = {}
        self._seen: dict[str, set[str]] = {}  # trades counted, by order
        self._order_fee: dict[str, Decimal] = {}  # each order's cumulative fee so far

    def add(self, fill: PositionFill) -> bool:
        """Count ``fill``; False when it was counted already (or is not a fill)."""
        seen = self._seen.setdefault(fill.order, set())
        if fill.trade in seen or fill.quantity <= 0 or fill.price <= 0:
            return False
        seen.add(fill.trade)
        position = self._position(fill.pair)
        buy = fill.side == Side.BUY
        position.trade(fill.quantity if buy else -fill.quantity, fill.price)
        if buy:
            position.bought += fill.quantity
        else:
            position.sold += fill.quantity
        position.trades += 1
        position.fee(fill.fee, fill.fee_asset.upper(), fill.price)
        position.updated_at = max(position.updated_at, fill.time)
        return True

    def report(self, report: FillReport) -> bool:
        """Count the fill a report announces (its ``fee`` is the order's cumulative fee)."""
        quantity = report.last_fill_quantity
        price = report.last_fill_price
        if quantity is None or quantity <= 0 or price is None or report.side not in _SIDES:
            return False
        order = report.client_order_id
        before = self._order_fee.get(order, _ZERO)
        self._order_fee[order] = max(before, report.fee)
        trade = report.trade_id or f"cum:{report.filled_quantity.normalize():f}"
        return self.add(
            PositionFill(
                order=order,
                trade=trade,
                pair=report.pair,
                side=Side(report.side),
                quantity=quantity,
                price=price,
                fee=max(report.fee - before, _ZERO),
                fee_asset=report.fee_asset or "",
                time=report.exchange_time or report.engine_time,
            )
        )

    def forget(self, order: str) -> None:
        """An order that can report no more fills: drop what de-duplicates its trades."""
        self._seen.pop(order, None)
        self._order_fee.pop(order, None)

    def net(self, pair: str) -> Decimal:
        position = self._positions.get(pair)
        return position.quantity if position is not None else _ZERO

    def views(self) -> dict[str, PositionView]:
        return {pair: position.view(pair) for pair, position in sorted(self._positions.items())}

    def _position(self, pair: str) -> _Position:
        position = self._positions.get(pair)
        if position is None:
            assets = self._assets(pair)
            base, quote = assets if assets is not None else _split(pair)
            position = self._positions[pair] = _Position(base.upper(), quote.upper())
        return position


def _split(pair: str) -> tuple[str, str]:
    base, _, quote = pair.partition("/")
    return base, quote


# ---- working entries and the limit ---------------------------------------------------------------


class PositionLimitView(Protocol):
    """What the position limit reads: a pair's net position and its working entries by side."""

    def net(self, pair: str) -> Decimal: ...
    def working(self, pair: str, side: str) -> Decimal: ...


class WorkingOrders:
    """Entries not yet filled, by pair and side (the part that could still fill)."""

    def __init__(self) -> None:
        self._orders: dict[str, tuple[str, str, Decimal]] = {}
        self._sums: dict[tuple[str, str], Decimal] = {}

    def set(self, key: str, pair: str, side: str, remaining: Decimal) -> None:
        self.release(key)
        if remaining <= 0:
            return
        self._orders[key] = (pair, side, remaining)
        slot = (pair, side)
        self._sums[slot] = self._sums.get(slot, _ZERO) + remaining

    def remaining(self, key: str) -> Decimal:
        held = self._orders.get(key)
        return held[2] if held is not None else _ZERO

    def release(self, key: str) -> None:
        held = self._orders.pop(key, None)
        if held is None:
            return
        slot = (held[0], held[1])
        left = self._sums[slot] - held[2]
        if left:
            self._sums[slot] = left
        else:
            del self._sums[slot]

    def quantity(self, pair: str, side: str) -> Decimal:
        return self._sums.get((pair, side), _ZERO)


class AccountView:
    """The position limit's view of a desk: positions from fills plus working entries."""

    def __init__(self, book: PositionBook, working: WorkingOrders) -> None:
        self._book = book
        self._working = working

    def net(self, pair: str) -> Decimal:
        return self._book.net(pair)

    def working(self, pair: str, side: str) -> Decimal:
        return self._working.quantity(pair, side)


class TrialPositions:
    """A PositionLimitView plus orders being tried on (a batch under check, or an amend that
    replaces an order's working quantity), leaving the base as it is."""

    def __init__(self, base: PositionLimitView) -> None:
        self._base = base
        self._extra: dict[tuple[str, str], Decimal] = {}

    def add(self, pair: str, side: str, quantity: Decimal) -> None:
        slot = (pair, side)
        self._extra[slot] = self._extra.get(slot, _ZERO) + quantity

    def net(self, pair: str) -> Decimal:
        return self._base.net(pair)

    def working(self, pair: str, side: str) -> Decimal:
        return self._base.working(pair, side) + self._extra.get((pair, side), _ZERO)


def position_problem(
    pair: str, side: str, quantity: Decimal, view: PositionLimitView, limit: Decimal
) -> str | None:
    """Why an entry of ``quantity`` would take ``pair``'s position past ``limit``, or None."""
    if limit <= 0:
        return None
    net = view.net(pair)
    if side == Side.BUY:
        open_buys = view.working(pair, Side.BUY)
        after = net + open_buys + quantity
        if after <= limit:
            return None
        return (
            f"position limit: {pair} position {_text(net)} + open buys {_text(open_buys)} + this "
            f"buy {_text(quantity)} = {_text(after)} exceeds {_text(limit)}"
        )
    open_sells = view.working(pair, Side.SELL)
    after = net - open_sells - quantity
    if after >= -limit:
        return None
    return (
        f"position limit: {pair} position {_text(net)} - open sells {_text(open_sells)} - this "
        f"sell {_text(quantity)} = {_text(after)} exceeds -{_text(limit)}"
    )


class AssetBalance(msgspec.Struct, frozen=True, kw_only=True):
    """One asset of the account as Kraken's BalanceEx gives it: ``available = total - hold``
    (plus credit, when the account has any)."""

    total: Decimal
    hold: Decimal
    available: Decimal
