"""The matching engine: orders rest against the simulated market (the sim's liquidity is the
other side), triggers fire, fills move balances, conditional closes spawn their secondaries.

Rules (documented because they are the simulator's, not Kraken's):

- A buy takes at the ask, a sell at the bid. Each step offers ``per_step`` base units per side;
  every fill in that step (at entry or resting) draws from it, in time priority.
- An order marketable when it enters the book (placement, trigger or amend) is a taker: it fills
  at the touch (never worse than its limit) now and on later steps. A resting order that the
  market reaches later is a maker and fills at its own limit price.
- Stops compare the last price (mid; ``index`` falls back to it) inclusively: a sell stop-loss
  fires at ``last <= price``, a sell take-profit at ``last >= price``, mirrored for buys. A
  trailing stop follows the best price since placement and fires ``price`` (``+`` offset, maybe
  %) away from it. A triggered order goes to the back of the queue.
- Post-only orders that would take are accepted and cancelled at once (reason "Post only
  order"), as Kraken does. IOC fills what this step offers and cancels the rest; FOK fills all
  now or cancels.
- Fees: maker/taker percentage of cost, in quote (``fciq``, the default) or base (``fcib``).
"""

from __future__ import annotations

import heapq
import random
import string
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from gal_exec.sim import errors, executions, views
from gal_exec.sim.accounts import Account, SimTrade
from gal_exec.sim.errors import SimError
from gal_exec.sim.orders import LIMIT_AFTER_TRIGGER, TRAILING, SimOrder, natural_direction
from gal_exec.sim.pairs import PairTable
from gal_exec.sim.prices import Market

__all__ = ["IdMaker", "MatchingEngine"]

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_ALPHABET = string.ascii_uppercase + string.digits


class IdMaker:
    """Kraken-shaped ids (``OQCLML-BW3P3-BUCMWZ``) from a seeded generator: reproducible runs."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._seen: set[str] = set()
        self.trade_number = 40_000_000

    def make(self, prefix: str) -> str:
        while True:
            chars = "".join(self._rng.choices(_ALPHABET, k=16))
            ident = f"{prefix}{chars[:5]}-{chars[5:10]}-{chars[10:]}"
            if ident not in self._seen:
                self._seen.add(ident)
                return ident

    def token(self) -> str:
        return "".join(self._rng.choices(string.ascii_letters + string.digits, k=43))


class MatchingEngine:
    """Markets, orders, accounts and the pending WS events; the exchange lock guards it all."""

    def __init__(
        self,
        pairs: PairTable,
        markets: dict[str, Market],
        *,
        maker_pct: Decimal,
        taker_pct: Decimal,
        ids: IdMaker,
        monotonic: Callable[[], float],
    ) -> None:
        self.pairs = pairs
        self.markets = markets
        self.maker_pct = maker_pct
        self.taker_pct = taker_pct
        self.ids = ids
        self._monotonic = monotonic
        self.orders: dict[str, SimOrder] = {}
        self.book: dict[str, dict[str, SimOrder]] = {key: {} for key in markets}
        self.accounts: dict[str, Account] = {}
        self.trades: list[SimTrade] = []
        self.events: list[tuple[str, dict]] = []
        self.tickers: list[dict] = []
        self.listening: set[str] = set()
        self.ticker_listening = False
        self.paused = False
        self._starts: list[tuple[float, int, str]] = []
        self._expiries: list[tuple[float, int, str]] = []
        self._heap_seq = 0

    # -- events ---------------------------------------------------------------------------

    def _emit(self, order: SimOrder, build: Callable[..., dict], *args) -> None:
        if order.api_key in self.listening:
            self.events.append((order.api_key, build(*args)))

    # -- placement ------------------------------------------------------------------------

    def place(self, order: SimOrder, now: float) -> None:
        """Accept a validated order: pending_new, then live (or scheduled), then match."""
        order.txid = self.ids.make("O")
        order.opentm = now
        order.changed_at = self._monotonic()
        order.status = "pending"
        account = self.accounts[order.api_key]
        self.orders[order.txid] = order
        account.track_open(order)
        self.update_hold(order)
        self._emit(order, executions.ws_full, order, "pending_new", views.rfc3339(now))
        if order.starttm > now:
            self._push(self._starts, order.starttm, order.txid)
            return
        self.activate(order, now)

    def activate(self, order: SimOrder, now: float) -> None:
        market = self.markets[order.pair.key]
        if order.post_only and self._marketable(order, market):
            self.close(order, "canceled", errors.REASON_POST_ONLY, now)
            return
        order.status = "open"
        self._emit(order, executions.ws_new, order, views.rfc3339(now))
        self.book[order.pair.key][order.txid] = order
        if order.expiretm:
            self._push(self._expiries, order.expiretm, order.txid)
        if order.ordertype in TRAILING:
            order.peak = market.last
            self._trail(order, market)
        if order.timeinforce == "FOK" and not self._can_fill_all(order, market):
            self.close(order, "canceled", errors.REASON_FOK, now)
            return
        self.check_trigger(order, now)
        if not order.waiting_trigger:
            order.crossing = self._marketable(order, market)
            self.match(order, now)
        if order.is_open and order.timeinforce == "IOC":
            self.close(order, "canceled", errors.REASON_IOC, now)

    def _push(self, heap: list, when: float, txid: str) -> None:
        self._heap_seq += 1
        heapq.heappush(heap, (when, self._heap_seq, txid))

    # -- matching -------------------------------------------------------------------------

    @staticmethod
    def _marketable(order: SimOrder, market: Market) -> bool:
        if order.waiting_trigger:
            return False
        limit = order.limit()
        if limit is None:
            return True
        return market.ask <= limit if order.buy else market.bid >= limit

    def _can_fill_all(self, order: SimOrder, market: Market) -> bool:
        budget = market.buy_budget if order.buy else market.sell_budget
        return (
            self._marketable(order, market)
            and budget >= order.remaining
            and not self.paused
            and not market.stale
        )

    def match(self, order: SimOrder, now: float) -> None:
        """Fill ``order`` from what this step still offers, if the market reaches it."""
        if self.paused or not order.is_open or order.status != "open" or order.waiting_trigger:
            return
        market = self.markets[order.pair.key]
        if market.stale or not self._marketable(order, market):
            return
        budget = market.buy_budget if order.buy else market.sell_budget
        quantity = min(order.remaining, budget).quantize(order.pair.lot_step, ROUND_FLOOR)
        if quantity <= 0:
            return
        limit = order.limit()
        touch = market.ask if order.buy else market.bid
        maker = not order.crossing and limit is not None
        price = limit if limit is not None and maker else touch
        if order.buy:
            market.buy_budget -= quantity
        else:
            market.sell_budget -= quantity
        self.fill(order, quantity, price, maker, now)

    def fill(self, order: SimOrder, quantity: Decimal, price: Decimal, maker: bool, now: float):
        pair = order.pair
        account = self.accounts[order.api_key]
        cost = quantity * price
        pct = self.maker_pct if maker else self.taker_pct
        if order.fee_in_base:
            fee_asset = pair.base
            fee = (quantity * pct / _HUNDRED).quantize(pair.lot_step, ROUND_HALF_UP)
            fee_usd = fee * self.usd_rate(pair.base)
        else:
            fee_asset = pair.quote
            places = Decimal(1).scaleb(-self.pairs.asset(pair.quote).decimals)
            fee = (cost * pct / _HUNDRED).quantize(places, ROUND_HALF_UP)
            fee_usd = fee * self.usd_rate(pair.quote)
        fee_usd = fee_usd.quantize(Decimal("0.0001"), ROUND_HALF_UP)
        sign = 1 if order.buy else -1
        account.credit(pair.base, sign * quantity)
        account.credit(pair.quote, -sign * cost)
        account.credit(fee_asset, -fee)
        order.vol_exec += quantity
        order.cost += cost
        order.fee += fee
        order.fee_usd += fee_usd
        self.ids.trade_number += 1
        trade = SimTrade(
            self.ids.make("T"),
            self.ids.trade_number,
            order,
            price,
            quantity,
            cost,
            fee,
            fee_asset,
            fee_usd,
            maker,
            now,
        )
        order.trade_ids.append(trade.txid)
        account.trades.append(trade)
        self.trades.append(trade)
        self.markets[pair.key].record_trade(price, quantity)
        stamp = views.rfc3339(now)
        fees_name = self.pairs.asset(fee_asset).ws_name
        self._emit(order, executions.ws_trade, trade, fees_name, stamp)
        if order.close is not None:
            self._spawn_close(order, quantity, price, now)
        if order.remaining <= 0:
            self.close(order, "closed", None, now)
        else:
            self.update_hold(order)

    def usd_rate(self, asset: str) -> Decimal:
        """USD value of one unit of ``asset`` (for ``fee_usd_equiv``)."""
        if asset == "ZUSD":
            return Decimal(1)
        for market in self.markets.values():
            if market.pair.base == asset and market.pair.quote == "ZUSD":
                return market.last
        return Decimal("1.08") if asset == "ZEUR" else _ZERO

    def _spawn_close(self, parent: SimOrder, quantity: Decimal, fill_price: Decimal, now: float):
        close = parent.close
        assert close is not None
        side = "sell" if parent.buy else "buy"
        reference = parent.limit() or fill_price
        pair = parent.pair
        child = SimOrder(
            txid="",
            api_key=parent.api_key,
            pair=pair,
            side=side,
            ordertype=close.ordertype,
            volume=quantity,
            price_expr=close.price,
            price2_expr=close.price2,
            oflags=tuple(flag for flag in parent.oflags if flag in ("fcib", "fciq")),
            userref=parent.userref,
            refid=parent.txid,
            trigger_ref=parent.trigger_ref,
            source=parent.source,
        )
        if close.ordertype == "iceberg":
            child.display_volume = quantity
        if close.ordertype not in TRAILING:
            natural = natural_direction(close.ordertype, side)
            child.price = pair.round_price(close.price.resolve(reference, natural))
            if close.price2 is not None:
                child.price2 = pair.round_price(
                    close.price2.resolve(reference, 1 if side == "buy" else -1)
                )
        self.place(child, now)

    # -- triggers -------------------------------------------------------------------------

    @staticmethod
    def _trail(order: SimOrder, market: Market) -> None:
        expr = order.price_expr
        assert expr is not None
        last = market.last
        order.peak = max(order.peak, last) if not order.buy else min(order.peak, last)
        offset = expr.offset(order.peak)
        stop = order.peak - offset if not order.buy else order.peak + offset
        order.stopprice = order.pair.round_price(stop)
        if order.ordertype == "trailing-stop-limit" and order.price2_expr is not None:
            limit = order.price2_expr.resolve(order.stopprice, 1)
            order.limitprice = order.pair.round_price(limit)

    def check_trigger(self, order: SimOrder, now: float) -> bool:
        """Fire ``order``'s trigger if the last price reached it; True if it fired now."""
        if not order.waiting_trigger:
            return False
        market = self.markets[order.pair.key]
        last = market.last
        ordertype = order.ordertype
        if ordertype in TRAILING:
            self._trail(order, market)
            fired = last >= order.stopprice if order.buy else last <= order.stopprice
        else:
            assert order.price is not None
            adverse = ordertype.startswith("stop-loss")
            rising_fires = order.buy == adverse
            fired = last >= order.price if rising_fires else last <= order.price
            if fired:
                order.stopprice = order.price
                if ordertype in LIMIT_AFTER_TRIGGER:
                    order.limitprice = order.price2 or _ZERO
        if not fired:
            return False
        order.triggered = True
        order.misc.append("touched" if ordertype.startswith("take-profit") else "stopped")
        book = self.book[order.pair.key]
        book.pop(order.txid, None)
        book[order.txid] = order
        order.crossing = self._marketable(order, market)
        self.update_hold(order)
        return True

    # -- closing and holds ----------------------------------------------------------------

    def close(self, order: SimOrder, status: str, reason: str | None, now: float) -> None:
        """End ``order``: closed (filled), canceled or expired, with its WS update."""
        if not order.is_open:
            return
        order.status = status
        order.reason = reason
        order.closetm = now
        self.book[order.pair.key].pop(order.txid, None)
        account = self.accounts[order.api_key]
        account.track_closed(order)
        self.update_hold(order)
        exec_type = "filled" if status == "closed" else status
        self._emit(order, executions.ws_closing, order, exec_type, views.rfc3339(now))

    def hold_needed(self, order: SimOrder) -> tuple[str, Decimal]:
        """The asset and amount an open order reserves (0 once it is closed)."""
        pair = order.pair
        remaining = order.remaining if order.is_open else _ZERO
        if not order.buy:
            amount = remaining
            if order.fee_in_base:
                amount += remaining * self.taker_pct / _HUNDRED
            return pair.base, amount.quantize(pair.lot_step, ROUND_CEILING)
        market = self.markets[pair.key]
        price = order.limit()
        if price is None:
            if order.ordertype in LIMIT_AFTER_TRIGGER and order.price2 is not None:
                price = order.price2
            elif order.waiting_trigger and order.ordertype not in TRAILING:
                price = max(order.price or market.ask, market.ask)
            else:
                price = max(order.stopprice, market.ask)
        amount = remaining * price
        if not order.fee_in_base:
            amount += amount * self.taker_pct / _HUNDRED
        places = Decimal(1).scaleb(-self.pairs.asset(pair.quote).decimals)
        return pair.quote, amount.quantize(places, ROUND_CEILING)

    def update_hold(self, order: SimOrder) -> None:
        account = self.accounts[order.api_key]
        asset, amount = self.hold_needed(order)
        if order.hold_asset:
            account.hold(order.hold_asset, -order.held)
        account.hold(asset, amount)
        order.hold_asset, order.held = asset, amount

    def check_funds(self, account: Account, order: SimOrder) -> None:
        asset, amount = self.hold_needed(order)
        if amount > account.available(asset):
            raise SimError(errors.INSUFFICIENT_FUNDS)

    # -- time and steps -------------------------------------------------------------------

    def after_move(self, pair_key: str, now: float) -> None:
        """Triggers, then fills, for one pair after its price moved."""
        if self.ticker_listening:
            self.tickers.append(executions.ws_ticker(self.markets[pair_key], views.rfc3339(now)))
        if self.paused:
            return
        book = self.book[pair_key]
        for order in [o for o in book.values() if o.waiting_trigger]:
            self.check_trigger(order, now)
        market = self.markets[pair_key]
        for order in list(book.values()):
            if market.buy_budget <= 0 and market.sell_budget <= 0:
                break
            self.match(order, now)

    def step_all(self, now: float) -> None:
        for key, market in self.markets.items():
            market.step()
            self.after_move(key, now)

    def process_time(self, now: float) -> None:
        """Scheduled starts, GTD expiries and dead man's switches due by ``now``."""
        while self._starts and self._starts[0][0] <= now:
            when, _, txid = heapq.heappop(self._starts)
            order = self.orders[txid]
            if order.status == "pending":
                self.activate(order, when)
        while self._expiries and self._expiries[0][0] <= now:
            when, _, txid = heapq.heappop(self._expiries)
            order = self.orders[txid]
            if order.is_open and order.expiretm == when:
                self.close(order, "expired", errors.REASON_EXPIRED, when)
        for account in self.accounts.values():
            if account.dead_man_at is not None and account.dead_man_at <= now:
                when = account.dead_man_at
                account.dead_man_at = None
                for order in list(account.open.values()):
                    self.close(order, "canceled", errors.REASON_DEAD_MAN, when)
