"""The order-entry half of the Exchange: AddOrder, AddOrderBatch, AmendOrder, CancelOrder,
CancelOrderBatch, CancelAll, CancelAllOrdersAfter, with Kraken's validation, rate limits and
answers. ``Exchange`` inherits it; every method takes the exchange lock through ``_op``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from gal_exec.sim import errors, executions, views
from gal_exec.sim._exchange_state import ExchangeState
from gal_exec.sim.accounts import Account
from gal_exec.sim.errors import SimError, invalid_arguments
from gal_exec.sim.limits import amend_cost, cancel_cost
from gal_exec.sim.orders import (
    LIMIT_AFTER_TRIGGER,
    TRIGGER_TYPES,
    PriceExpr,
    SimOrder,
    natural_direction,
    parse_order,
    parse_price,
)
from gal_exec.sim.pairs import PairSpec
from gal_exec.sim.params import (
    decimal_places,
    get_bool,
    get_decimal,
    get_int,
    get_text,
    parse_rfc3339,
)

__all__ = ["TradingApi"]


class TradingApi(ExchangeState):
    """Order entry and cancellation (mixed into ``Exchange``)."""

    # -- helpers --------------------------------------------------------------------------

    def _check_status(self, *, post_only: bool = False, cancel: bool = False) -> None:
        if self.status == "maintenance":
            raise SimError(errors.SERVICE_UNAVAILABLE)
        if cancel:
            return
        if self.status == "cancel_only":
            raise SimError(errors.CANCEL_ONLY)
        if self.status == "post_only" and not post_only:
            raise SimError(errors.POST_ONLY_MODE)

    def _parse(
        self, account: Account, params: Mapping[str, Any], pair: PairSpec, now: float
    ) -> SimOrder:
        market = self.engine.markets[pair.key]
        side = params.get("type")
        touch = market.ask if side == "buy" else market.bid
        order = parse_order(
            params, pair=pair, api_key=account.api_key, last=market.last, now=now, touch=touch
        )
        self._check_status(post_only=order.post_only)
        self.check_not_stale(pair.key)
        return order

    def _check_capacity(self, account: Account, order: SimOrder) -> None:
        limit = self.limits.open_orders_limit
        if limit is not None and account.open_per_pair.get(order.pair.key, 0) >= limit:
            raise SimError(errors.ORDERS_LIMIT)
        if order.cl_ord_id is not None and order.cl_ord_id in account.by_cl_ord_id:
            raise SimError(errors.DUPLICATE_CL_ORD_ID)

    def _pair_param(self, value: Any) -> PairSpec:
        if value is None or str(value).strip() == "":
            raise invalid_arguments("pair")
        pair = self.pairs.find(str(value))
        if pair is None:
            raise SimError(errors.UNKNOWN_PAIR)
        return pair

    # -- AddOrder -------------------------------------------------------------------------

    def add_order(self, api_key: str, params: dict, *, source: str = "rest") -> dict:
        """AddOrder: ``{"descr": {...}, "txid": ["O..."]}`` (no txid when validating)."""
        with self._op() as now:
            account = self._account(api_key)
            pair = self._pair_param(params.get("pair"))
            validate = get_bool(params, "validate")
            if not validate:
                # Kraken counts the transaction on receipt, even if validation then fails.
                self.limits.charge_trading(api_key, pair.key, 1)
            order = self._parse(account, params, pair, now)
            if validate:
                return {"descr": views.describe(order)}
            self._check_capacity(account, order)
            self.engine.check_funds(account, order)
            order.source = source
            self.engine.place(order, now)
            return {"descr": views.describe(order), "txid": [order.txid]}

    def add_order_batch(
        self,
        api_key: str,
        pair: str | None,
        orders: object,
        *,
        validate: bool = False,
        deadline: str | None = None,
        source: str = "rest",
    ) -> dict:
        """AddOrderBatch: validate all (one error rejects the batch), then place each."""
        with self._op() as now:
            account = self._account(api_key)
            spec = self._pair_param(pair)
            if not isinstance(orders, list) or not 2 <= len(orders) <= 15:
                raise invalid_arguments("orders")
            if not validate:
                self.limits.charge_trading(api_key, spec.key, len(orders) / 2)
            parsed: list[SimOrder] = []
            for params in orders:
                if not isinstance(params, Mapping):
                    raise invalid_arguments("orders")
                merged = dict(params)
                merged["pair"] = spec.key
                if deadline is not None:
                    merged.setdefault("deadline", deadline)
                parsed.append(self._parse(account, merged, spec, now))
            ids = [order.cl_ord_id for order in parsed if order.cl_ord_id is not None]
            if len(ids) != len(set(ids)):
                raise SimError(errors.DUPLICATE_CL_ORD_ID)
            if validate:
                return {"orders": [{"descr": views.describe(order)} for order in parsed]}
            results: list[dict] = []
            for order in parsed:
                try:
                    self._check_capacity(account, order)
                    self.engine.check_funds(account, order)
                except SimError as exc:
                    results.append({"error": exc.message})
                    continue
                order.source = source
                self.engine.place(order, now)
                results.append({"txid": order.txid, "descr": views.describe(order)})
            return {"orders": results}

    # -- AmendOrder -----------------------------------------------------------------------

    def amend_order(self, api_key: str, params: dict, *, source: str = "rest") -> dict:
        """AmendOrder in place (same txid): quantity, display quantity, limit price, trigger
        price. A quantity below what has filled is taken as the filled quantity and the rest is
        cancelled (charged like a cancel)."""
        with self._op() as now:
            account = self._account(api_key)
            txid, cl_ord_id = get_text(params, "txid"), get_text(params, "cl_ord_id")
            if txid is None and cl_ord_id is None:
                raise invalid_arguments("txid")
            order = self._find_open(account, txid, cl_ord_id)
            self._check_status(post_only=order.post_only)
            age = self.clock.monotonic() - order.changed_at
            self.limits.charge_trading(api_key, order.pair.key, amend_cost(age))
            self._amend(order, params, now)
            if order.status == "canceled":
                self.limits.charge_trading(api_key, order.pair.key, cancel_cost(age), always=True)
            return {"amend_id": self.engine.ids.make("T")}

    def _find_open(self, account: Account, txid: str | None, cl_ord_id: str | None):
        order = (
            account.open.get(txid)
            if txid is not None
            else account.by_cl_ord_id.get(cl_ord_id or "")
        )
        if order is None:
            raise SimError(errors.UNKNOWN_ORDER)
        return order

    def _amend_price(
        self, order: SimOrder, params: Mapping[str, Any], name: str, natural: int
    ) -> Decimal | None:
        if get_text(params, name) is None:
            return None
        expr = parse_price(params[name], name)
        pair = order.pair
        if not expr.relative:
            if not pair.on_tick(expr.amount):
                raise SimError(errors.TICK_SIZE)
            return expr.amount
        return pair.round_price(expr.resolve(self.engine.markets[pair.key].last, natural))

    def _amend(self, order: SimOrder, params: Mapping[str, Any], now: float) -> None:
        """Kraken's rules: the ids and the fills stay; a new limit price, or more quantity,
        puts the order at the back of its price's queue (less quantity keeps its place); a
        quantity below the filled one cancels the rest."""
        engine = self.engine
        pair = order.pair
        quantity = get_decimal(params, "order_qty")
        if quantity is not None and (quantity <= 0 or decimal_places(quantity) > pair.lot_decimals):
            raise invalid_arguments("order_qty")
        cancels_rest = quantity is not None and quantity < order.vol_exec
        if quantity is not None and not cancels_rest and quantity < pair.ordermin:
            raise SimError(errors.ORDER_MINIMUM)
        display = get_decimal(params, "display_qty")
        if display is not None:
            remaining = (quantity if quantity is not None else order.volume) - order.vol_exec
            if order.ordertype != "iceberg" or display <= 0 or display * 15 < remaining:
                raise invalid_arguments("display_qty")
        limit = self._amend_price(order, params, "limit_price", -1 if order.buy else 1)
        trigger = self._amend_price(
            order, params, "trigger_price", natural_direction(order.ordertype, order.side)
        )
        post_only = get_bool(params, "post_only")
        deadline = get_text(params, "deadline")
        if deadline is not None:
            try:
                if parse_rfc3339(deadline) < now:
                    raise SimError(errors.DEADLINE_ELAPSED)
            except ValueError:
                raise invalid_arguments("deadline") from None
        if limit is not None and order.ordertype not in ("limit", "iceberg", *LIMIT_AFTER_TRIGGER):
            raise invalid_arguments("limit_price")
        if trigger is not None and (
            order.ordertype not in TRIGGER_TYPES
            or order.triggered
            or order.ordertype.startswith("trailing")
        ):
            raise invalid_arguments("trigger_price")
        if quantity is None and limit is None and trigger is None and display is None:
            raise invalid_arguments("order_qty")
        grows = quantity is not None and quantity > order.volume
        saved = (
            order.volume,
            order.display_volume,
            order.price,
            order.price2,
            order.limitprice,
            order.price_expr,
            order.price2_expr,
        )
        if quantity is not None:
            order.volume = max(quantity, order.vol_exec)
        if display is not None:
            order.display_volume = display
        if limit is not None:
            if order.ordertype in ("limit", "iceberg"):
                order.price, order.price_expr = limit, PriceExpr("", limit, False)
            else:
                order.price2, order.price2_expr = limit, PriceExpr("", limit, False)
                if order.triggered:
                    order.limitprice = limit
        if trigger is not None:
            order.price, order.price_expr = trigger, PriceExpr("", trigger, False)
        market = engine.markets[pair.key]
        crossing = engine._marketable(order, market)
        try:
            if post_only and limit is not None and crossing:
                raise SimError(errors.POST_ONLY_AMEND)
            asset, needed = engine.hold_needed(order)
            held = order.held if order.hold_asset == asset else Decimal(0)
            if needed - held > engine.accounts[order.api_key].available(asset):
                raise SimError(errors.INSUFFICIENT_FUNDS)
        except SimError:
            (
                order.volume,
                order.display_volume,
                order.price,
                order.price2,
                order.limitprice,
                order.price_expr,
                order.price2_expr,
            ) = saved
            raise
        order.amended = True
        if "amended" not in order.misc:
            order.misc.append("amended")
        order.changed_at = self.clock.monotonic()
        if limit is not None or grows:
            book = engine.book[pair.key]
            if book.pop(order.txid, None) is not None:
                book[order.txid] = order
        order.crossing = crossing
        engine.update_hold(order)
        engine._emit(order, executions.ws_amended, order, views.rfc3339(now))
        if cancels_rest:
            engine.close(order, "canceled", errors.REASON_AMEND_QTY, now)
        elif order.remaining <= 0:
            engine.close(order, "closed", None, now)
        else:
            engine.match(order, now)

    # -- cancels --------------------------------------------------------------------------

    def _charge_cancels(self, api_key: str, orders: list[SimOrder], *, batch: bool):
        costs: dict[str, float] = {}
        now = self.clock.monotonic()
        for order in orders:
            costs[order.pair.key] = costs.get(order.pair.key, 0) + cancel_cost(
                now - order.changed_at
            )
        if not batch:
            for pair_key, cost in costs.items():
                self.limits.check_trading(api_key, pair_key, cost)
        for pair_key, cost in costs.items():
            self.limits.charge_trading(api_key, pair_key, cost, always=True)

    def _targets(self, account: Account, ident: Any) -> list[SimOrder]:
        """Open orders named by a txid, or by a userref (an integer, or digits)."""
        text = str(ident).strip()
        if isinstance(ident, int) or text.lstrip("-").isdigit():
            userref = int(text)
            return [order for order in account.open.values() if order.userref == userref]
        order = account.open.get(text)
        return [order] if order is not None else []

    def cancel_order(
        self,
        api_key: str,
        *,
        txid: Any = None,
        userref: Any = None,
        cl_ord_id: str | None = None,
        source: str = "rest",
    ) -> dict:
        """CancelOrder by txid (or an integer userref in ``txid``), userref or cl_ord_id."""
        with self._op() as now:
            account = self._account(api_key)
            self._check_status(cancel=True)
            if cl_ord_id is not None:
                found = account.by_cl_ord_id.get(str(cl_ord_id))
                if found is None:
                    raise SimError(errors.UNKNOWN_ORDER)
                targets = [found]
            elif txid is not None and str(txid).strip():
                targets = self._targets(account, txid)
                text = str(txid).strip()
                if not targets and not (isinstance(txid, int) or text.lstrip("-").isdigit()):
                    raise SimError(errors.UNKNOWN_ORDER)
            elif userref is not None:
                targets = self._targets(account, int(userref))
            else:
                raise invalid_arguments("txid")
            self._charge_cancels(api_key, targets, batch=False)
            for order in targets:
                self.engine.close(order, "canceled", errors.REASON_USER, now)
            return {"count": len(targets)}

    def cancel_order_batch(self, api_key: str, ids: list, cl_ord_ids: list) -> dict:
        """CancelOrderBatch: up to 50 txids/userrefs and cl_ord_ids; unknown ids are skipped."""
        with self._op() as now:
            account = self._account(api_key)
            self._check_status(cancel=True)
            ids, cl_ord_ids = list(ids or []), list(cl_ord_ids or [])
            if not ids and not cl_ord_ids:
                raise invalid_arguments("orders")
            if len({str(i) for i in ids}) + len(set(map(str, cl_ord_ids))) > 50:
                raise invalid_arguments("orders")
            targets: dict[str, SimOrder] = {}
            for ident in ids:
                for order in self._targets(account, ident):
                    targets[order.txid] = order
            for cl_ord_id in cl_ord_ids:
                named = account.by_cl_ord_id.get(str(cl_ord_id))
                if named is not None:
                    targets[named.txid] = named
            self._charge_cancels(api_key, list(targets.values()), batch=True)
            for order in targets.values():
                self.engine.close(order, "canceled", errors.REASON_USER, now)
            return {"count": len(targets)}

    def cancel_all(self, api_key: str) -> dict:
        """CancelAll: every open order of the account, untriggered and scheduled ones too."""
        with self._op() as now:
            account = self._account(api_key)
            self._check_status(cancel=True)
            targets = list(account.open.values())
            for order in targets:
                self.engine.close(order, "canceled", errors.REASON_USER, now)
            return {"count": len(targets)}

    def cancel_all_orders_after(self, api_key: str, timeout_s: Any) -> dict:
        """The dead man's switch: cancel everything ``timeout_s`` from now unless re-armed."""
        with self._op() as now:
            account = self._account(api_key)
            timeout = get_int({"timeout": timeout_s}, "timeout", (0, 86399))
            if timeout is None:
                raise invalid_arguments("timeout")
            current = views.rfc3339_seconds(now)
            if timeout == 0:
                account.dead_man_at = None
                return {"currentTime": current, "triggerTime": "0"}
            account.dead_man_at = now + timeout
            return {"currentTime": current, "triggerTime": views.rfc3339_seconds(now + timeout)}
