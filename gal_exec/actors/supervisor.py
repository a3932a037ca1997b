"""ExecutionSupervisor: the Pykka shell around the Desk (gal_exec.core.desk).

It checks every message that reaches it as the JSON path checks a line (a bad one is a rejected
report, never a crash), hands each event to the Desk and carries out the Desk's effects, on this
actor's thread, through DeskEffects (gal_exec.actors.desk_effects: births journaled before an
order acts, OrderActors run and owned, OCO pairs linked, reports and requests sent on). It stops
every OrderActor it started.
"""

from __future__ import annotations

import logging
from typing import Any, assert_never, cast

import msgspec

from gal_exec.actors import protocol as p
from gal_exec.actors.desk_effects import DeskEffects
from gal_exec.actors.market_protocol import QuotesConfirmed, QuoteUpdate
from gal_exec.actors.order_actor import OrderDeps
from gal_exec.actors.runtime import ThreadActor
from gal_exec.core import desk as dk
from gal_exec.core import order as om
from gal_exec.core.amend import Figures
from gal_exec.core.clock import Clock
from gal_exec.core.timers import TimerFired
from gal_exec.journal import JournalWriter
from gal_exec.kraken.updates import asset_balances
from gal_exec.messages import (
    AmendSignal,
    BatchSubmit,
    CancelSignal,
    Halt,
    Resume,
    TradeSignalApproved,
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


class ExecutionSupervisor(ThreadActor):
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
        self.timers = timers
        self.clock = clock
        self.audit_interval_s = audit_interval_s
        deps = OrderDeps(
            gateway=gateway,
            sink=sink,
            supervisor=cast(p.Tellable, None),  # this actor's ref, set in on_start
            timers=timers,
            clock=clock,
            validate_only=validate_only,
        )
        self.effects = DeskEffects(
            deps, writer=writer, pool_size=pool_size, idle=lambda: self.actor_inbox.empty()
        )
        self._audit: int | None = None
        self._refill: int | None = None

    # ---- Pykka hooks -----------------------------------------------------------------------

    def on_start(self) -> None:
        self.effects.deps.supervisor = self.actor_ref
        self._schedule_refill()

    def on_stop(self) -> None:
        for key in (_AUDIT_KEY, _POOL_KEY):
            self.timers.cancel(key)
        self.effects.stop()

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
                desk.balances_fetched(asset_balances(balances), self.clock.time())
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
                self.effects.forget(cl_ord_id)
                effects = []
            case p.OrderCrashed(cl_ord_id=cl_ord_id, error=error):
                log.error("order %s crashed: %s", cl_ord_id, error)
                self.effects.forget(cl_ord_id)
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
            self.effects.do(effect)
        self.effects.flush()
        if self.effects.pool.low:
            self._schedule_refill()
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

    # ---- timers ----------------------------------------------------------------------------

    def _schedule_refill(self) -> None:
        if self._refill is None and self.effects.pool.size > 0:
            self._refill = self.timers.schedule(_POOL_KEY, 0.0, self.actor_ref)

    def _timer(self, key: str, generation: int) -> list[dk.DeskEffect]:
        if key == _POOL_KEY and generation == self._refill:
            # Queued behind whatever was waiting: the pool refills off the signals' path.
            self._refill = None
            self.effects.pool.refill()
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
