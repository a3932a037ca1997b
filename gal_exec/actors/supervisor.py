"""ExecutionSupervisor: the Pykka shell around the Desk (gal_exec.core.desk).

It checks every message that reaches it as the JSON path checks a line (a bad one is a rejected
report, never a crash), hands each event to the Desk and carries out the effects: it journals a
new order's birth (its signal, intent and first report in one commit), runs orders in OrderActors
(kept ready in a small pool, so no thread starts on a signal's path), tells them commands and
updates, links OCO pairs, and owns and stops every OrderActor it started.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, assert_never, cast

import msgspec
import pykka

from gal_exec.actors import protocol as p
from gal_exec.actors.market_protocol import QuotesConfirmed, QuoteUpdate
from gal_exec.actors.order_actor import OrderActor, OrderActorPool, OrderDeps
from gal_exec.actors.order_io import (
    intent_record,
    place_order,
    rejected_report,
    report_from_emit,
)
from gal_exec.actors.report_sink import FollowBatch, Journaled, ReloadOrder
from gal_exec.core import desk as dk
from gal_exec.core import order as om
from gal_exec.core.amend import Figures
from gal_exec.core.clock import Clock
from gal_exec.core.positions import AssetBalance
from gal_exec.core.timers import TimerFired
from gal_exec.journal import Journal, JournalWriter
from gal_exec.kraken.codec import BalanceExEntry
from gal_exec.messages import (
    AmendSignal,
    BatchSubmit,
    CancelSignal,
    Halt,
    Resume,
    TradeSignalApproved,
    encode,
    validate_inbound,
)

__all__ = ["ExecutionSupervisor", "Restore"]

log = logging.getLogger("gal_exec.supervisor")

_AUDIT_KEY = "supervisor:audit"
_POOL_KEY = "supervisor:pool"


class Restore(msgspec.Struct, frozen=True, kw_only=True):
    """Told once at start: the models the journal replay rebuilt (gal_exec.core.desk.Desk.replay)."""

    models: dict[str, om.OrderModel]


Inbox = (
    TradeSignalApproved
    | BatchSubmit
    | CancelSignal
    | AmendSignal
    | Halt
    | Resume
    | QuoteUpdate
    | QuotesConfirmed
    | p.ExchangeUpdates
    | p.OrderIdentified
    | p.EntryFilled
    | p.OrderFilled
    | p.OrderAmended
    | p.BalancesResult
    | p.OrderFinished
    | p.OrderStopped
    | p.OrderCrashed
    | p.OrderAnomaly
    | p.OrderDurable
    | p.OrderReloaded
    | Restore
    | p.StreamStatus
    | TimerFired
    | p.OpenOrdersListed
    | p.BreakerChanged
    | p.HaltRequested
    | p.GetHealth
)


class ExecutionSupervisor(pykka.ThreadingActor):
    def __init__(
        self,
        *,
        desk: dk.Desk,
        gateway: p.Tellable,
        sink: p.Tellable,
        timers: p.TimerScheduler,
        clock: Clock,
        writer: JournalWriter | None = None,
        validate_only: bool = False,
        audit_interval_s: float = 30.0,
        pool_size: int = 8,
    ) -> None:
        super().__init__()
        self.desk = desk
        self.gateway = gateway
        self.sink = sink
        self.timers = timers
        self.clock = clock
        self.writer = writer
        self.audit_interval_s = audit_interval_s
        self.deps = OrderDeps(
            gateway=gateway,
            sink=sink,
            supervisor=cast(p.Tellable, None),
            timers=timers,
            clock=clock,
            validate_only=validate_only,
        )
        self.refs: dict[str, pykka.ActorRef[OrderActor]] = {}
        self.pool = OrderActorPool(self.deps, pool_size)
        self._audit: int | None = None
        self._refill: int | None = None
        self._request_id = 0

    # ---- Pykka hooks -----------------------------------------------------------------------

    def on_start(self) -> None:
        self.deps.supervisor = self.actor_ref
        self._schedule_refill()

    def on_stop(self) -> None:
        """Stop every order actor this supervisor started (none is found through a registry)."""
        for key in (_AUDIT_KEY, _POOL_KEY):
            self.timers.cancel(key)
        self.pool.stop(list(self.refs.values()))
        self.refs.clear()

    def on_receive(self, message: Any) -> dk.DeskHealth | None:
        return self._handle(cast(Inbox, message))

    def _handle(self, message: Inbox) -> dk.DeskHealth | None:
        desk = self.desk
        effects: list[dk.DeskEffect]
        match message:
            case p.ExchangeUpdates(updates=updates):
                effects = []
                for update in updates:
                    effects += desk.route(update)
            case (
                TradeSignalApproved()
                | BatchSubmit()
                | CancelSignal()
                | AmendSignal()
                | Halt()
                | Resume()
            ):
                effects = self._inbound(message)
            case QuoteUpdate(quote=quote):
                desk.quote(quote)
                effects = []
            case QuotesConfirmed(pairs=pairs, time=time):
                desk.quotes_confirmed(pairs, time)
                effects = []
            case p.OrderIdentified(cl_ord_id=cl_ord_id, txid=txid):
                effects = desk.identified(cl_ord_id, txid)
            case p.EntryFilled(
                cl_ord_id=cl, filled_quantity=filled, average_price=avg, final=final
            ):
                effects = desk.filled(cl, filled, average=avg, final=final)
            case p.OrderFilled(report=report):
                desk.fill_reported(report)
                effects = []
            case p.OrderAmended(cl_ord_id=cl_ord_id, quantity=quantity):
                figures = Figures(
                    quantity=quantity,
                    limit_price=message.limit_price,
                    trigger_price=message.trigger_price,
                )
                effects = desk.amended(cl_ord_id, figures)
            case p.BalancesResult(error=None, balances=balances) if balances is not None:
                desk.balances_fetched(_asset_balances(balances), self.clock.time())
                effects = []
            case p.BalancesResult(error=error):
                reason = error.raw if error is not None else "no balances in the answer"
                log.warning("balances: %s", reason)
                desk.balances_failed(reason)
                effects = []
            case p.OrderFinished(cl_ord_id=cl_ord_id, filled_quantity=filled):
                effects = desk.finished(cl_ord_id, filled)
            case p.OrderStopped(cl_ord_id=cl_ord_id):
                desk.stopped(cl_ord_id)
                self.refs.pop(cl_ord_id, None)
                effects = []
            case p.OrderCrashed(cl_ord_id=cl_ord_id, error=error):
                log.error("order %s crashed: %s", cl_ord_id, error)
                self.refs.pop(cl_ord_id, None)
                effects = desk.crashed(cl_ord_id)
            case p.OrderAnomaly(cl_ord_id=cl_ord_id, reason=reason):
                desk.anomaly(cl_ord_id, reason)
                effects = []
            case p.OrderDurable(cl_ord_id=cl_ord_id):
                effects = desk.durable(cl_ord_id)
            case p.OrderReloaded(spec=spec, reports=reports):
                effects = desk.reloaded(spec, reports)
            case Restore(models=models):
                effects = desk.restore(models)
            case p.StreamStatus(up=up, gap=gap):
                effects = desk.stream(up, gap=gap)
                self._audit_timer(up)
            case TimerFired(key=key, generation=generation):
                effects = self._timer(key, generation)
            case p.OpenOrdersListed(error=None, orders=orders):
                effects = desk.audit_result(orders)
            case p.OpenOrdersListed():
                effects = []
            case p.BreakerChanged(category=category, state=state):
                desk.breaker(category, state)
                effects = []
            case p.HaltRequested(reason=reason):
                effects = desk.halt(reason, cancel_open=False)
            case p.GetHealth():
                return desk.health()
            case _:
                p.unexpected(message, actor="ExecutionSupervisor", log=log)
                return None
        for effect in effects:
            self._do(effect)
        return None

    def _inbound(
        self,
        message: TradeSignalApproved | BatchSubmit | CancelSignal | AmendSignal | Halt | Resume,
    ) -> list[dk.DeskEffect]:
        checked = validate_inbound(message)
        desk = self.desk
        if isinstance(checked, str):
            signal_id = getattr(message, "signal_id", None) or getattr(message, "batch_id", "")
            name = signal_id if isinstance(signal_id, str) else ""
            return desk.refused(type(message).__name__, name, checked)
        match checked:
            case TradeSignalApproved():
                return desk.signal(checked)
            case BatchSubmit():
                return desk.batch(checked)
            case CancelSignal(signal_id=signal_id):
                return desk.cancel_signal(signal_id)
            case AmendSignal():
                return desk.amend(checked)
            case Halt(reason=reason, cancel_open=cancel_open):
                return desk.halt(reason or "halt requested", cancel_open=cancel_open)
            case Resume():
                return desk.resume()
            case _:
                assert_never(checked)

    # ---- effects ---------------------------------------------------------------------------

    def _do(self, effect: dk.DeskEffect) -> None:
        match effect:
            case dk.Tell(cl_ord_id=cl_ord_id, message=message):
                ref = self.refs.get(cl_ord_id)
                if ref is not None:
                    p.tell_quietly(ref, message)
            case dk.Run(model=model, resume=resume, durable=durable):
                ref = self.pool.take()
                if self.pool.low:
                    self._schedule_refill()
                self.refs[model.spec.cl_ord_id] = ref
                if resume or durable or model.started:
                    ref.tell(p.Own(model=model, resume=resume, durable=durable))
                # else a new order: its birth (the Journal effect that follows) starts the model
                # and hands it over, so only one thread ever touches it
            case dk.Journal(model=model, signal=signal, to_order=to_order):
                self._birth(model, signal, to_order)
            case dk.Link(first=first, second=second):
                a, b = self.refs.get(first), self.refs.get(second)
                if a is not None and b is not None:
                    p.tell_quietly(a, p.Link(sibling=b))
                    p.tell_quietly(b, p.Link(sibling=a))
            case dk.Reject():
                self.sink.tell(rejected_report(effect, self.clock))
            case dk.Report(model=model, effects=model_effects):
                for step in model_effects:
                    if isinstance(step, om.Emit):
                        self.sink.tell(report_from_emit(model.spec, step, self.clock.time()))
            case dk.Reload(spec=spec):
                self.sink.tell(ReloadOrder(spec=spec, reply_to=self.actor_ref))
            case dk.ListOpenOrders():
                self._request_id += 1
                self.gateway.tell(
                    p.ListOpenOrders(request_id=self._request_id, reply_to=self.actor_ref)
                )
            case dk.OpenBatch(plan=plan):
                self.sink.tell(FollowBatch(plan=plan))
            case dk.JournalLevels(cl_ord_id=cl_ord_id):
                levels = {
                    name: value
                    for name, value in (
                        ("sl_price", effect.sl_price),
                        ("tp_price", effect.tp_price),
                    )
                    if value is not None
                }
                if self.writer is not None and levels:
                    self.writer.submit(lambda journal: journal.update_order(cl_ord_id, **levels))
            case dk.FetchBalances():
                self._request_id += 1
                self.gateway.tell(
                    p.QueryBalances(request_id=self._request_id, reply_to=self.actor_ref)
                )
            case dk.Settle(signal_id=signal_id):
                if self.writer is not None:
                    self.writer.submit(lambda journal: journal.settle_signal(signal_id))
            case dk.Note(level=level, text=text):
                log.log(logging.getLevelName(level.upper()), "%s", text)
            case _:
                raise AssertionError(f"unhandled desk effect {effect!r}")

    def _birth(self, model: om.OrderModel, signal: Any, to_order: bool) -> None:
        """Journal a new order (signal, intent, first report) in one commit; the order may send
        only once it is durable. (An order refused before it starts is born rejected, ended.)

        A new entry's placement is staged: built now, told to the gateway by the commit's
        callback, which runs at once in this thread when the journal writer is idle and no other
        message waits here (an eager commit). The signal then reaches the wire in two thread
        hand-overs (caller -> supervisor -> gateway); the order's actor learns of it after, off
        that path."""
        first, _ = model.start()
        spec, now = model.spec, self.clock.time()
        report = report_from_emit(spec, first, now)
        ref = self.refs.get(spec.cl_ord_id) if to_order else None
        me, sink, writer, gateway = self.actor_ref, self.sink, self.writer, self.gateway
        place: p.PlaceOrder | None = None
        if ref is not None:
            quantity = model.first_placement()
            if quantity is not None:
                place = place_order(
                    spec,
                    quantity,
                    reply_to=ref,
                    validate=self.deps.validate_only,
                    now=self.clock.monotonic(),
                )
            ref.tell(p.Own(model=model, staged=place is not None))

        def durable(_result: object) -> None:
            if place is not None:
                gateway.tell(place)  # first: the wire waits for nothing else
            # The sink hears of the first report before the order may emit its second: the
            # order's actor holds the gateway's answer until IntentDurable, so report 1 is
            # always queued at the sink ahead of report 2.
            sink.tell(Journaled(report=report) if writer is not None else report)
            if ref is not None:
                p.tell_quietly(ref, dk.IntentDurable(sent=place is not None))
            else:
                p.tell_quietly(me, p.OrderDurable(cl_ord_id=spec.cl_ord_id))

        def failed(exc: Exception) -> None:
            log.error("journal could not store the intent of %s: %s", spec.cl_ord_id, exc)
            sink.tell(report)
            if ref is not None:
                p.tell_quietly(ref, p.JournalFailed(error=str(exc)))

        if writer is None:
            durable(None)  # no journal: nothing to wait for
            return
        record = intent_record(spec, now)
        raw = (encode(signal), now) if signal is not None else None

        def write(journal: Journal) -> None:
            journal.record_birth(record, report, signal=raw)

        # Eager (commit here, now) when nothing else waits for the supervisor; in a burst the
        # writer thread commits the births together (one commit for many), which keeps the
        # supervisor taking the next signals meanwhile.
        writer.submit(write, on_durable=durable, on_error=failed, eager=self.actor_inbox.empty())

    # ---- order actors ----------------------------------------------------------------------

    def _schedule_refill(self) -> None:
        if self._refill is None and self.pool.size > 0:
            self._refill = self.timers.schedule(_POOL_KEY, 0.0, self.actor_ref)

    def _timer(self, key: str, generation: int) -> list[dk.DeskEffect]:
        if key == _POOL_KEY and generation == self._refill:
            # Queued behind whatever was waiting: the pool refills off the signals' path.
            self._refill = None
            self.pool.refill()
            return []
        if key == _AUDIT_KEY and generation == self._audit:
            self._audit = self.timers.schedule(_AUDIT_KEY, self.audit_interval_s, self.actor_ref)
            return self.desk.audit_due()
        return []

    def _audit_timer(self, up: bool) -> None:
        if up and self._audit is None:
            self._audit = self.timers.schedule(_AUDIT_KEY, self.audit_interval_s, self.actor_ref)
        elif not up and self._audit is not None:
            self.timers.cancel(_AUDIT_KEY)
            self._audit = None


def _asset_balances(entries: dict[str, BalanceExEntry]) -> dict[str, AssetBalance]:
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
