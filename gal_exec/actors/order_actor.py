"""OrderActor: the Pykka shell around one order's OrderModel.

It is started without an order (the supervisor keeps a few ready, so none is built on the path
of a signal; it runs on the order dispatcher, see ``runtime``) and told ``Own(model)``: from then
on it turns messages into calls on the model and carries out the effects the model returns
(requests to the gateway, timers, reports to the sink, notes to the supervisor and to its OCO
sibling). It never blocks: every answer arrives as a message. All of its work happens in
messages, so any failure reaches ``on_failure`` and the supervisor's restart path.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from types import TracebackType
from typing import Any, assert_never, cast

import msgspec
import pykka

from gal_exec.actors import protocol as p
from gal_exec.actors.order_io import (
    fee_asset,
    fills_from_trades,
    next_request_id,
    place_order,
    rejected_report,
    report_from_emit,
)
from gal_exec.actors.runtime import DispatchedActor
from gal_exec.core import desk as dk
from gal_exec.core import order as om
from gal_exec.core.clock import Clock
from gal_exec.core.timers import TimerFired
from gal_exec.core.updates import OrderUpdate
from gal_exec.kraken.errors import is_unknown_order
from gal_exec.kraken.updates import update_from_order_info

__all__ = ["OrderActor", "OrderActorPool", "OrderDeps", "OrderHealth"]

log = logging.getLogger("gal_exec.order")
_LINGER_S = 30.0  # stay reachable this long after the end, so a late fill is still accounted

Step = (
    dk.IntentDurable
    | p.JournalFailed
    | OrderUpdate
    | p.OrderUpdates
    | p.PlaceResult
    | p.CancelResult
    | p.AmendResult
    | p.StatusResult
    | p.TradesResult
    | p.WithdrawResult
    | p.LookupResult
    | TimerFired
    | dk.CancelOrder
    | dk.AmendOrder
    | dk.VerifyStatus
    | dk.StreamChanged
    | dk.SetPosition
    | p.SiblingFilled
    | p.Link
)
"""What an order actor does with the order it owns (a step of its model)."""

Inbox = p.Own | p.GetHealth | Step


class OrderDeps(msgspec.Struct, kw_only=True):
    """Collaborators shared by every OrderActor of one engine."""

    gateway: p.Tellable
    sink: p.Tellable
    supervisor: p.Tellable
    timers: p.TimerScheduler
    clock: Clock
    validate_only: bool = False
    linger_s: float = _LINGER_S


class OrderHealth(msgspec.Struct, frozen=True, kw_only=True):
    cl_ord_id: str | None
    state: str | None
    txid: str | None
    filled_quantity: str
    quantity: str
    anomalies: int


class OrderActor(DispatchedActor):
    """Owns one client order from intent to a terminal state.

    It runs on the order dispatcher, not on a thread of its own (see ``runtime``): it never
    blocks, and thousands of them live at once.
    """

    def __init__(self, deps: OrderDeps) -> None:
        super().__init__()
        self.deps = deps
        self.model: om.OrderModel | None = None
        self.sibling: p.Tellable | None = None
        self._timers: dict[str, int] = {}
        self._told_sibling = Decimal(0)
        self._identified = False
        self._status_pending = False
        self._amend_queries: set[int] = set()  # status queries sent to resolve an amend
        self._amends: dict[int, bool] = {}  # amends sent: request id -> a child's own resize
        self._early: list[Step] = []  # messages that came before Own (see Own)

    # ---- Pykka hooks -----------------------------------------------------------------------

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        model = self.model
        name = model.spec.cl_ord_id if model is not None else "(not yet owned)"
        kind = exception_type.__name__ if exception_type is not None else "Exception"
        log.error("order %s crashed: %s: %s", name, kind, exception_value)
        if model is not None:
            error = f"{kind}: {exception_value}"
            p.tell_quietly(
                self.deps.supervisor, p.OrderCrashed(cl_ord_id=model.spec.cl_ord_id, error=error)
            )

    def on_stop(self) -> None:
        model = self.model
        if model is None:
            return
        for name in self._timers:
            self.deps.timers.cancel(self._timer_key(name))
        p.tell_quietly(self.deps.supervisor, p.OrderStopped(cl_ord_id=model.spec.cl_ord_id))

    def on_receive(self, message: Any) -> OrderHealth | None:
        return self._handle(cast(Inbox, message))

    def _handle(self, message: Inbox) -> OrderHealth | None:
        if isinstance(message, p.GetHealth):
            return self._health()
        if isinstance(message, p.Own):
            self._own(message)
            return None
        model = self.model
        if model is None:
            # A pooled actor hears only of the order it is about to own: a stream update or a
            # command may overtake its Own (which rides behind the placement); each waits.
            self._early.append(message)
            return None
        self._step(model, message)
        return None

    def _step(self, model: om.OrderModel, message: Step) -> None:
        now = self.deps.clock.monotonic()
        effects: list[om.Effect]
        match message:
            case OrderUpdate():
                effects = model.exchange_update(message, now)
            case p.OrderUpdates(updates=updates):
                for update in updates:
                    self._step(model, update)
                return
            case p.PlaceResult(txid=txid, error=error):
                if txid is not None:
                    effects = model.placed(txid, now)
                elif error is not None:
                    effects = model.place_failed(str(error.category), error.code, error.raw)
                else:
                    effects = model.validated()  # validate_only: checked, nothing placed
            case p.CancelResult(error=error):
                unknown = error is not None and is_unknown_order(error.raw)
                effects = model.cancel_result(error is None, unknown_order=unknown)
            case p.AmendResult(request_id=request_id, error=error):
                resize = self._amends.pop(request_id, None)
                if error is None:
                    effects = model.amend_result(True, now, resize=resize)
                else:
                    log.warning("amend of %s failed: %s", model.spec.cl_ord_id, error.raw)
                    effects = model.amend_result(
                        False,
                        now,
                        category=str(error.category),
                        code=error.code,
                        raw=error.raw,
                        resize=resize,
                    )
            case p.StatusResult(request_id=request_id, error=error, info=info, txid=txid) if (
                request_id in self._amend_queries
            ):
                self._amend_queries.discard(request_id)
                if error is not None:
                    effects = model.amend_lookup_failed()
                elif info is None:
                    effects = model.amend_lookup(None, now)
                else:
                    update = update_from_order_info(txid, info, fee_asset=fee_asset(model.spec))
                    effects = model.amend_lookup(update, now)
            case p.StatusResult(error=error, info=info, txid=txid):
                self._status_pending = False
                if error is not None:
                    effects = []  # the next poll, audit or stream update will tell
                elif info is None:
                    effects = model.not_found()
                else:
                    update = update_from_order_info(txid, info, fee_asset=fee_asset(model.spec))
                    effects = model.exchange_update(update, now)
            case p.TradesResult(error=error, trades=trades):
                fills = None if error is not None else fills_from_trades(model.spec, trades)
                effects = model.trades_result(fills)
            case p.WithdrawResult(withdrawn=withdrawn):
                effects = model.withdraw_result(withdrawn)
            case p.LookupResult(error=error, found=found, info=info, txid=txid):
                if error is not None:
                    effects = model.lookup_failed()
                elif not found or info is None or txid is None:
                    effects = model.lookup_result(None, now)
                else:
                    update = update_from_order_info(txid, info, fee_asset=fee_asset(model.spec))
                    effects = model.lookup_result(update, now)
            case TimerFired(key=key, generation=generation):
                name = key.rsplit(":", 1)[-1]
                if self._timers.get(name) != generation:
                    return  # cancelled or superseded
                del self._timers[name]
                if name == "linger":
                    self.stop()
                    return
                effects = model.timer(name)
            case dk.IntentDurable():
                effects = model.intent_durable()
            case p.JournalFailed(error=error):
                effects = model.place_failed(
                    "permanent", "journal", f"journal write failed: {error}"
                )
            case dk.CancelOrder(reason=reason):
                effects = model.cancel(reason)
            case dk.AmendOrder(change=change):
                effects = model.amend(change)
            case dk.VerifyStatus():
                effects = [] if model.terminal else [om.QueryStatus()]
            case dk.StreamChanged(up=up, gap=gap):
                effects = model.stream_changed(up, gap=gap)
            case dk.SetPosition(filled_quantity=quantity, final=final):
                effects = model.set_position(quantity, final=final)
            case p.SiblingFilled(filled_quantity=quantity):
                effects = model.set_sibling_filled(quantity)
            case p.Link(sibling=sibling):
                self.sibling = sibling
                self._told_sibling = Decimal(0)  # a new sibling (or a restarted one) hears all
                effects = []
            case _:
                p.unexpected(message, actor="OrderActor", log=log)
                return
        self._run(model, effects)

    def _own(self, message: p.Own) -> None:
        if self.model is not None:
            log.error("order actor already runs %s; refused another", self.model.spec.cl_ord_id)
            return
        model = self.model = message.model
        effects: list[om.Effect] = []
        if message.resume:
            if model.txid is not None and not model.terminal:
                self.deps.gateway.tell(
                    p.OrderAdopted(pair=self._pair(), cl_ord_id=model.spec.cl_ord_id)
                )
            effects = model.resume(self.deps.clock.monotonic())
        elif message.durable:
            effects = model.intent_durable()
            if message.sent:
                # The supervisor told the gateway this placement with the commit.
                effects = [e for e in effects if not isinstance(e, om.Place)]
        self._run(model, effects)
        early, self._early = self._early, []
        for step in early:
            self._step(model, step)

    # ---- effects ---------------------------------------------------------------------------

    def _run(self, model: om.OrderModel, effects: list[om.Effect]) -> None:
        for effect in effects:
            self._do(model, effect)
        if model.txid is not None and not self._identified:
            self._identified = True
            p.tell_quietly(
                self.deps.supervisor,
                p.OrderIdentified(cl_ord_id=model.spec.cl_ord_id, txid=model.txid),
            )
        self._tell_sibling(model)

    def _do(self, model: om.OrderModel, effect: om.Effect) -> None:
        deps = self.deps
        spec = model.spec
        match effect:
            case om.Emit():
                report = report_from_emit(spec, effect, deps.clock.time())
                deps.sink.tell(report)
                if effect.fill is not None:
                    p.tell_quietly(deps.supervisor, p.OrderFilled(report=report))
            case om.Place(quantity=quantity):
                deps.gateway.tell(
                    place_order(
                        spec,
                        quantity,
                        reply_to=self.actor_ref,
                        validate=deps.validate_only,
                        now=deps.clock.monotonic(),
                    )
                )
            case om.Cancel():
                deps.gateway.tell(
                    p.CancelOrder(
                        request_id=next_request_id(),
                        cl_ord_id=spec.cl_ord_id,
                        txid=model.txid,
                        pair=self._pair(),
                        order_age_s=self._age(model),
                        reply_to=self.actor_ref,
                    )
                )
            case om.Amend(quantity=quantity, limit_price=limit, trigger_price=trigger):
                request_id = next_request_id()
                self._amends[request_id] = effect.resize
                deps.gateway.tell(
                    p.AmendOrder(
                        request_id=request_id,
                        cl_ord_id=spec.cl_ord_id,
                        txid=model.txid,
                        pair=self._pair(),
                        order_qty=quantity,
                        limit_price=limit,
                        trigger_price=trigger,
                        order_age_s=self._age(model),
                        reply_to=self.actor_ref,
                    )
                )
            case om.AmendRefused(reason=reason):
                text = f"amend of {spec.cl_ord_id} refused: {reason}"
                log.warning("%s", text)
                refusal = dk.Reject(
                    signal_id=spec.signal_id,
                    reason=text,
                    pair=spec.pair,
                    side=spec.side,
                    order_type=spec.order_type,
                )
                deps.sink.tell(rejected_report(refusal, deps.clock))
            case om.QueryAmend():
                if model.txid is not None:
                    request_id = next_request_id()
                    self._amend_queries.add(request_id)
                    deps.gateway.tell(
                        p.QueryOrderStatus(
                            request_id=request_id,
                            cl_ord_id=spec.cl_ord_id,
                            txid=model.txid,
                            reply_to=self.actor_ref,
                        )
                    )
            case om.FiguresChanged(quantity=quantity, limit_price=limit, trigger_price=trigger):
                p.tell_quietly(
                    deps.supervisor,
                    p.OrderAmended(
                        cl_ord_id=spec.cl_ord_id,
                        quantity=quantity,
                        limit_price=limit,
                        trigger_price=trigger,
                    ),
                )
            case om.QueryStatus():
                if model.txid is None:
                    self._do(model, om.Lookup())
                elif not self._status_pending:  # one status query at a time serves both
                    self._status_pending = True
                    deps.gateway.tell(
                        p.QueryOrderStatus(
                            request_id=next_request_id(),
                            cl_ord_id=spec.cl_ord_id,
                            txid=model.txid,
                            reply_to=self.actor_ref,
                        )
                    )
            case om.FetchTrades(trade_ids=trade_ids):
                deps.gateway.tell(
                    p.QueryTrades(
                        request_id=next_request_id(),
                        cl_ord_id=spec.cl_ord_id,
                        trade_ids=trade_ids,
                        reply_to=self.actor_ref,
                    )
                )
            case om.Withdraw():
                deps.gateway.tell(
                    p.WithdrawPlacement(cl_ord_id=spec.cl_ord_id, reply_to=self.actor_ref)
                )
            case om.Lookup():
                deps.gateway.tell(
                    p.LookupOrder(
                        request_id=next_request_id(),
                        cl_ord_id=spec.cl_ord_id,
                        reply_to=self.actor_ref,
                    )
                )
            case om.StartTimer(name=name, delay_s=delay):
                self._start_timer(name, delay)
            case om.StopTimer(name=name):
                if self._timers.pop(name, None) is not None:
                    deps.timers.cancel(self._timer_key(name))
            case om.PositionChanged(filled_quantity=quantity, average_price=average, final=final):
                if spec.protected:
                    p.tell_quietly(
                        deps.supervisor,
                        p.EntryFilled(
                            cl_ord_id=spec.cl_ord_id,
                            filled_quantity=quantity,
                            average_price=average,
                            final=final,
                        ),
                    )
            case om.Anomaly(reason=reason):
                log.warning("order %s: %s", spec.cl_ord_id, reason)
                p.tell_quietly(
                    deps.supervisor, p.OrderAnomaly(cl_ord_id=spec.cl_ord_id, reason=reason)
                )
            case om.Finished():
                p.tell_quietly(
                    deps.supervisor,
                    p.OrderFinished(
                        cl_ord_id=spec.cl_ord_id, filled_quantity=model.ledger.filled_quantity
                    ),
                )
                # Always: the gateway may count a placement whose outcome was never confirmed.
                deps.gateway.tell(p.OrderReleased(pair=self._pair(), cl_ord_id=spec.cl_ord_id))
                self._start_timer("linger", deps.linger_s)
            case _:
                assert_never(effect)

    def _pair(self) -> str:
        assert self.model is not None
        spec = self.model.spec
        return spec.symbol or spec.pair

    def _start_timer(self, name: str, delay: float) -> None:
        self._timers[name] = self.deps.timers.schedule(self._timer_key(name), delay, self.actor_ref)

    def _timer_key(self, name: str) -> str:
        assert self.model is not None
        return f"{self.model.spec.cl_ord_id}:{name}"

    def _age(self, model: om.OrderModel) -> float:
        placed = model.placed_at
        return 0.0 if placed is None else max(0.0, self.deps.clock.monotonic() - placed)

    def _tell_sibling(self, model: om.OrderModel) -> None:
        if self.sibling is None or not model.is_child:
            return
        filled = model.ledger.filled_quantity
        if filled > self._told_sibling:
            self._told_sibling = filled
            p.tell_quietly(self.sibling, p.SiblingFilled(filled_quantity=filled))

    def _health(self) -> OrderHealth:
        model = self.model
        if model is None:
            return OrderHealth(
                cl_ord_id=None,
                state=None,
                txid=None,
                filled_quantity="0",
                quantity="0",
                anomalies=0,
            )
        return OrderHealth(
            cl_ord_id=model.spec.cl_ord_id,
            state=model.state.value,
            txid=model.txid,
            filled_quantity=str(model.ledger.filled_quantity),
            quantity=str(model.ledger.order_quantity),
            anomalies=model.anomalies,
        )


class OrderActorPool:
    """OrderActors started ahead of need, so none is built on a signal's path. The owner
    refills it off that path (``refill``) and stops every actor it handed out (``stop``)."""

    def __init__(self, deps: OrderDeps, size: int) -> None:
        self.deps = deps
        self.size = size
        self.ready: list[pykka.ActorRef[OrderActor]] = []

    def take(self) -> pykka.ActorRef[OrderActor]:
        return self.ready.pop() if self.ready else OrderActor.start(self.deps)

    @property
    def low(self) -> bool:
        return self.size > 0 and len(self.ready) < self.size // 2

    def refill(self) -> None:
        while len(self.ready) < self.size:
            self.ready.append(OrderActor.start(self.deps))

    def stop(self, handed_out: list[pykka.ActorRef[OrderActor]]) -> None:
        """Stop ``handed_out`` and the ready ones: all at once, then wait."""
        stopping = []
        for ref in [*handed_out, *self.ready]:
            try:
                stopping.append(ref.stop(block=False))
            except pykka.ActorDeadError:
                pass
        for future in stopping:
            try:
                future.get(timeout=5.0)
            except (pykka.ActorDeadError, pykka.Timeout):
                pass
        self.ready.clear()
