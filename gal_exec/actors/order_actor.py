"""OrderActor: the Pykka shell around one order's OrderModel.

It translates messages into calls on the model and carries out the effects the model returns:
requests to the gateway, timers, reports to the sink, notes to the supervisor and to the OCO sibling.
It never blocks: every answer arrives as a message.
"""

from __future__ import annotations

import itertools
import logging
from decimal import Decimal
from typing import Any

import msgspec
import pykka

from gal_exec.actors import protocol as p
from gal_exec.core import order as om
from gal_exec.core.ledger import Fill, quantized
from gal_exec.core.order_state import TERMINAL_STATES, OrderState
from gal_exec.core.timers import TimerFired
from gal_exec.journal import OrderRecord
from gal_exec.kraken.errors import is_unknown_order
from gal_exec.kraken.orders import OrderRequest, RelativePrice
from gal_exec.kraken.updates import update_from_order_info
from gal_exec.messages import ExecutionReport

__all__ = ["OrderActor", "OrderDeps", "build_order_request", "intent_record"]

log = logging.getLogger("gal_exec.order")
_request_ids = itertools.count(1)

_TRIGGERED = {
    "stop-loss",
    "take-profit",
    "stop-loss-limit",
    "take-profit-limit",
    "trailing-stop",
    "trailing-stop-limit",
}
_LINGER_S = 30.0  # stay reachable this long after the end, so a late fill is still accounted


class OrderDeps(msgspec.Struct, kw_only=True):
    """Collaborators shared by every OrderActor of one engine."""

    gateway: Any
    sink: Any
    supervisor: Any
    timers: Any
    clock: Any
    writer: Any = None  # gal_exec.journal.JournalWriter, or None when the journal is off
    validate_only: bool = False
    linger_s: float = _LINGER_S


def build_order_request(
    spec: om.OrderSpec, quantity: Decimal, *, validate: bool = False
) -> OrderRequest:
    """The AddOrder request for ``spec`` (trailing types take their prices as + offsets)."""
    kind = spec.order_type
    price: Decimal | RelativePrice | None = None
    price2: Decimal | RelativePrice | None = None
    if kind == "limit":
        price = spec.limit_price
    elif kind in ("trailing-stop", "trailing-stop-limit"):
        price = RelativePrice(offset=spec.trigger_price or Decimal(0), sign="+")
        if kind == "trailing-stop-limit":
            # The limit is an offset from the trigger, away from the market for a fill.
            sign = "+" if spec.side == "buy" else "-"
            price2 = RelativePrice(offset=spec.limit_price or Decimal(0), sign=sign)
    elif kind in _TRIGGERED:
        price = spec.trigger_price
        if kind.endswith("-limit"):
            price2 = spec.limit_price
    timeinforce = spec.time_in_force if spec.time_in_force != "GTC" else None
    return OrderRequest(
        pair=spec.symbol or spec.pair,
        type=spec.side,  # type: ignore[arg-type]
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
        role=spec.role,  # type: ignore[arg-type]
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


class OrderActor(pykka.ThreadingActor):
    """Owns one client order from intent to a terminal state."""

    # Daemon threads: starting one does not scan every live non-daemon thread (thousands of
    # orders), and a forgotten one never keeps the process alive.
    use_daemon_thread = True

    def __init__(
        self,
        spec: om.OrderSpec,
        settings: om.OrderSettings,
        deps: OrderDeps,
        *,
        position: Decimal | None = None,
        recover: tuple[OrderState, str | None, list[Fill], int] | None = None,
        stream_up: bool = False,
        sibling_filled: Decimal = Decimal(0),
        entry_final: bool = False,
        intent_submitted: bool = False,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.deps = deps
        self.model = om.OrderModel(spec, settings)
        self.model.stream_up = stream_up
        if position is not None:
            self.model.position = position
        self.model.sibling_filled = sibling_filled
        self.model.entry_final = entry_final
        self._recover = recover
        self._intent_submitted = intent_submitted  # the supervisor journals the intent
        self.sequence = recover[3] if recover else 0
        self.sibling: Any = None
        self._timers: dict[str, int] = {}
        self._pending: dict[int, str] = {}  # request id -> what it was
        self._told_sibling = Decimal(0)
        self._identified = False
        self._status_pending = False

    # ---- Pykka hooks -----------------------------------------------------------------------

    def on_start(self) -> None:
        if self._recover is not None:
            state, txid, fills, _ = self._recover
            now = self.deps.clock.monotonic()
            if txid is not None and state not in TERMINAL_STATES:
                self.deps.gateway.tell(
                    p.OrderAdopted(
                        pair=self.spec.symbol or self.spec.pair, cl_ord_id=self.spec.cl_ord_id
                    )
                )
            self._run(self.model.recover(state, txid, fills, now))
        else:
            effects = self.model.start()
            if self._intent_submitted:
                effects = [e for e in effects if not isinstance(e, om.JournalIntent)]
            self._run(effects)

    def on_failure(self, exception_type, exception_value, traceback) -> None:  # type: ignore[override]
        log.error(
            "order %s crashed: %s: %s",
            self.spec.cl_ord_id,
            exception_type.__name__,
            exception_value,
        )
        p.tell_quietly(
            self.deps.supervisor,
            p.OrderCrashed(
                cl_ord_id=self.spec.cl_ord_id, error=f"{exception_type.__name__}: {exception_value}"
            ),
        )

    def on_stop(self) -> None:
        for key in self._timers:
            self.deps.timers.cancel(self._timer_key(key))
        p.tell_quietly(self.deps.supervisor, p.OrderStopped(cl_ord_id=self.spec.cl_ord_id))

    def on_receive(self, message: Any) -> Any:
        model = self.model
        now = self.deps.clock.monotonic()
        match message:
            case p.ExchangeUpdate(update=update):
                effects = model.exchange_update(update, now)
            case p.PlaceResult():
                effects = self._place_result(message, now)
            case p.CancelResult(error=error):
                unknown = error is not None and is_unknown_order(error.raw)
                effects = model.cancel_result(error is None, unknown_order=unknown)
            case p.AmendResult(error=error):
                if error is not None:
                    log.warning("amend of %s failed: %s", self.spec.cl_ord_id, error.raw)
                effects = model.amend_result(error is None, now)
            case p.StatusResult():
                self._status_pending = False
                effects = self._status_result(message, now)
            case p.WithdrawResult(withdrawn=withdrawn):
                effects = model.withdraw_result(withdrawn)
            case p.LookupResult():
                effects = self._lookup_result(message, now)
            case TimerFired(key=key, generation=generation):
                name = key.rsplit(":", 1)[-1]
                if self._timers.get(name) != generation:
                    return None  # cancelled or superseded
                del self._timers[name]
                if name == "linger":
                    self.stop()
                    return None
                effects = model.timer(name)
            case p.IntentDurable():
                effects = model.intent_durable()
            case p.JournalFailed(error=error):
                effects = model.place_failed(
                    "permanent", "journal", f"journal write failed: {error}"
                )
            case p.CancelRequest(reason=reason):
                effects = model.cancel(reason)
            case p.VerifyStatus():
                effects = [om.QueryStatus()] if not model.terminal else []
            case p.StreamChanged(up=up, gap=gap):
                effects = model.stream_changed(up, gap=gap)
            case p.SetPosition(filled_quantity=quantity, final=final):
                effects = model.set_position(quantity, final=final)
            case p.SiblingFilled(filled_quantity=quantity):
                effects = model.set_sibling_filled(quantity)
            case p.Link(sibling=sibling):
                self.sibling = sibling
                effects = []
                self._tell_sibling()
            case p.GetHealth():
                return self._snapshot()
            case _:
                log.warning("order %s ignored %r", self.spec.cl_ord_id, message)
                return None
        self._run(effects)
        return None

    # ---- answers from the gateway ----------------------------------------------------------

    def _place_result(self, result: p.PlaceResult, now: float) -> list[om.Effect]:
        if result.txid is not None:
            return self.model.placed(result.txid, now)
        error = result.error
        if error is None:  # validate=true: accepted, nothing placed
            return self.model.validated()
        return self.model.place_failed(str(error.category), error.code, error.raw)

    def _status_result(self, result: p.StatusResult, now: float) -> list[om.Effect]:
        if result.error is not None:
            return []  # the next poll, audit or stream update will tell
        if result.info is None:
            return self.model.not_found()
        return self.model.exchange_update(update_from_order_info(result.txid, result.info), now)

    def _lookup_result(self, result: p.LookupResult, now: float) -> list[om.Effect]:
        if result.error is not None:
            return self.model.lookup_failed()
        if not result.found or result.info is None or result.txid is None:
            return self.model.lookup_result(None, now)
        return self.model.lookup_result(update_from_order_info(result.txid, result.info), now)

    # ---- effects ---------------------------------------------------------------------------

    def _run(self, effects: list[om.Effect]) -> None:
        for effect in effects:
            self._do(effect)
        if self.model.txid is not None and not self._identified:
            self._identified = True
            p.tell_quietly(
                self.deps.supervisor,
                p.OrderIdentified(cl_ord_id=self.spec.cl_ord_id, txid=self.model.txid),
            )
        self._tell_sibling()

    def _do(self, effect: om.Effect) -> None:
        deps = self.deps
        spec = self.spec
        match effect:
            case om.Emit():
                self._emit(effect)
            case om.JournalIntent():
                self._journal_intent()
            case om.Place(quantity=quantity):
                request = build_order_request(spec, quantity, validate=deps.validate_only)
                deps.gateway.tell(
                    p.PlaceOrder(
                        request_id=next(_request_ids),
                        cl_ord_id=spec.cl_ord_id,
                        pair=spec.symbol or spec.pair,
                        order=request,
                        reply_to=self.actor_ref,
                        enqueued_at=spec.received_at or deps.clock.monotonic(),
                    )
                )
            case om.Cancel():
                deps.gateway.tell(
                    p.CancelOrder(
                        request_id=next(_request_ids),
                        cl_ord_id=spec.cl_ord_id,
                        txid=self.model.txid,
                        pair=spec.symbol or spec.pair,
                        order_age_s=self._age(),
                        reply_to=self.actor_ref,
                    )
                )
            case om.Amend(quantity=quantity):
                deps.gateway.tell(
                    p.AmendOrder(
                        request_id=next(_request_ids),
                        cl_ord_id=spec.cl_ord_id,
                        txid=self.model.txid,
                        pair=spec.symbol or spec.pair,
                        order_qty=quantity,
                        order_age_s=self._age(),
                        reply_to=self.actor_ref,
                    )
                )
            case om.QueryStatus():
                if self.model.txid is None:
                    self._do(om.Lookup())
                    return
                if self._status_pending:
                    return  # one status query at a time: its answer serves both
                self._status_pending = True
                deps.gateway.tell(
                    p.QueryOrderStatus(
                        request_id=next(_request_ids),
                        cl_ord_id=spec.cl_ord_id,
                        txid=self.model.txid,
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
                        request_id=next(_request_ids),
                        cl_ord_id=spec.cl_ord_id,
                        reply_to=self.actor_ref,
                    )
                )
            case om.StartTimer(name=name, delay_s=delay):
                self._start_timer(name, delay)
            case om.StopTimer(name=name):
                if self._timers.pop(name, None) is not None:
                    deps.timers.cancel(self._timer_key(name))
            case om.PositionChanged(filled_quantity=quantity, final=final):
                if spec.sl_price is not None or spec.tp_price is not None:
                    p.tell_quietly(
                        deps.supervisor,
                        p.Protect(
                            parent_cl_ord_id=spec.cl_ord_id, filled_quantity=quantity, final=final
                        ),
                    )
            case om.Finished():
                p.tell_quietly(
                    deps.supervisor,
                    p.OrderFinished(
                        cl_ord_id=spec.cl_ord_id,
                        filled_quantity=self.model.ledger.filled_quantity,
                    ),
                )
                # Always: the gateway may count a placement whose outcome was never confirmed.
                deps.gateway.tell(
                    p.OrderReleased(pair=spec.symbol or spec.pair, cl_ord_id=spec.cl_ord_id)
                )
                self._start_timer("linger", deps.linger_s)

    def _start_timer(self, name: str, delay: float) -> None:
        self._timers[name] = self.deps.timers.schedule(self._timer_key(name), delay, self.actor_ref)

    def _timer_key(self, name: str) -> str:
        return f"{self.spec.cl_ord_id}:{name}"

    def _age(self) -> float:
        placed = self.model.placed_at
        return 0.0 if placed is None else max(0.0, self.deps.clock.monotonic() - placed)

    def _journal_intent(self) -> None:
        writer = self.deps.writer
        ref = self.actor_ref
        if writer is None:
            ref.tell(p.IntentDurable())
            return
        record = intent_record(self.spec, self.deps.clock.time())
        writer.submit(
            lambda journal: journal.record_intent(record),
            on_durable=lambda _result: p.tell_quietly(ref, p.IntentDurable()),
            on_error=lambda exc: p.tell_quietly(ref, p.JournalFailed(error=str(exc))),
        )

    def _emit(self, emit: om.Emit) -> None:
        model = self.model
        ledger = model.ledger
        spec = self.spec
        self.sequence += 1
        fill = emit.fill
        average = ledger.average_price
        if average is not None and spec.price_decimals is not None:
            average = quantized(average, spec.price_decimals + 2)
        report = ExecutionReport(
            signal_id=spec.signal_id,
            client_order_id=spec.cl_ord_id,
            exchange_order_id=model.txid,
            parent_client_order_id=spec.parent_cl_ord_id,
            role=spec.role,  # type: ignore[arg-type]
            pair=spec.pair,
            side=spec.side,
            order_type=spec.order_type,
            status=model.state.value,  # type: ignore[arg-type]
            quantity=ledger.order_quantity,
            filled_quantity=ledger.filled_quantity,
            last_fill_quantity=emit.fill_quantity if fill is not None else None,
            last_fill_price=fill.price if fill is not None else None,
            average_price=average,
            fee=ledger.total_fee,
            fee_asset=ledger.fee_asset or None,
            trade_id=(fill.trade_id if fill is not None and not fill.synthetic else None),
            reason=emit.reason,
            error_code=emit.error_code,
            exchange_time=(fill.time or None) if fill is not None else None,
            engine_time=self.deps.clock.time(),
            sequence=self.sequence,
        )
        self.deps.sink.tell(report)

    def _tell_sibling(self) -> None:
        if self.sibling is None or not self.model.is_child:
            return
        filled = self.model.ledger.filled_quantity
        if filled > self._told_sibling:
            self._told_sibling = filled
            self.sibling.tell(p.SiblingFilled(filled_quantity=filled))

    def _snapshot(self) -> dict[str, Any]:
        model = self.model
        return {
            "cl_ord_id": self.spec.cl_ord_id,
            "state": model.state.value,
            "txid": model.txid,
            "filled_quantity": str(model.ledger.filled_quantity),
            "quantity": str(model.ledger.order_quantity),
        }
