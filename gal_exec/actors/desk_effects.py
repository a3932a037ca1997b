"""DeskEffects: what the supervisor does with the Desk's effects (gal_exec.core.desk).

The supervisor turns messages into Desk events; this carries out what the Desk decided: it runs
orders in OrderActors (kept ready in a pool, so none is built on a signal's path) and owns
every actor it started, journals a new order's birth before the order may act, tells orders
commands and OCO siblings, and sends reports and requests on. It runs on the supervisor's thread
only (composition, not a mixin: the supervisor's state is not shared with it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pykka

from gal_exec.actors import protocol as p
from gal_exec.actors.order_actor import OrderActor, OrderActorPool, OrderDeps
from gal_exec.actors.order_io import intent_record, place_order, rejected_report, report_from_emit
from gal_exec.actors.report_sink import FollowBatch, Journaled, ReloadOrder
from gal_exec.core import desk as dk
from gal_exec.core import order as om
from gal_exec.core.updates import OrderUpdate
from gal_exec.journal import Journal, JournalWriter
from gal_exec.messages import encode

__all__ = ["DeskEffects"]

log = logging.getLogger("gal_exec.supervisor")


class DeskEffects:
    def __init__(
        self,
        deps: OrderDeps,
        *,
        writer: JournalWriter | None,
        pool_size: int,
        idle: Callable[[], bool],
    ) -> None:
        """``deps`` are the order actors' (their supervisor set before the first effect);
        ``idle`` says whether nothing waits in the supervisor's inbox (births commit eagerly
        then)."""
        self.deps = deps
        self.writer = writer
        self.refs: dict[str, pykka.ActorRef[OrderActor]] = {}
        self.pool = OrderActorPool(deps, pool_size)
        self._idle = idle
        self._request_id = 0
        self._updates: dict[str, list[OrderUpdate]] = {}  # per order, to tell (see flush)

    def stop(self) -> None:
        """Stop every order actor started here (none is found through a registry)."""
        self.pool.stop(list(self.refs.values()))
        self.refs.clear()

    def forget(self, cl_ord_id: str) -> None:
        self.refs.pop(cl_ord_id, None)

    def do(self, effect: dk.DeskEffect) -> None:
        """Carry out ``effect``. Exchange updates for an order are gathered and told to it
        together by ``flush`` (which the caller runs after the last effect of a message); any
        other effect first tells what was gathered, so each order hears everything in the
        order the Desk decided it."""
        if isinstance(effect, dk.Tell) and isinstance(effect.message, OrderUpdate):
            self._updates.setdefault(effect.cl_ord_id, []).append(effect.message)
            return
        if self._updates:
            self.flush()
        deps = self.deps
        match effect:
            case dk.Tell(cl_ord_id=cl_ord_id, message=message):
                ref = self.refs.get(cl_ord_id)
                if ref is not None:
                    p.tell_quietly(ref, message)
            case dk.Run(model=model, resume=resume, durable=durable):
                ref = self.pool.take()
                self.refs[model.spec.cl_ord_id] = ref
                if resume or durable or model.started:
                    ref.tell(p.Own(model=model, resume=resume, durable=durable))
                # else a new order: its birth (the Journal effect that follows) starts the model
                # and hands it over, so only one thread ever touches it
            case dk.Journal(model=model, signal=signal, to_order=to_order):
                self._birth(
                    model, signal, self.refs.get(model.spec.cl_ord_id) if to_order else None
                )
            case dk.Link(first=first, second=second):
                a, b = self.refs.get(first), self.refs.get(second)
                if a is not None and b is not None:
                    p.tell_quietly(a, p.Link(sibling=b))
                    p.tell_quietly(b, p.Link(sibling=a))
            case dk.Reject():
                deps.sink.tell(rejected_report(effect, deps.clock))
            case dk.Report(model=model, effects=model_effects):
                for step in model_effects:
                    if isinstance(step, om.Emit):
                        deps.sink.tell(report_from_emit(model.spec, step, deps.clock.time()))
            case dk.Reload(spec=spec):
                deps.sink.tell(ReloadOrder(spec=spec, reply_to=deps.supervisor))
            case dk.ListOpenOrders():
                self._request_id += 1
                deps.gateway.tell(
                    p.ListOpenOrders(request_id=self._request_id, reply_to=deps.supervisor)
                )
            case dk.OpenBatch(plan=plan):
                deps.sink.tell(FollowBatch(plan=plan))
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
                deps.gateway.tell(
                    p.QueryBalances(request_id=self._request_id, reply_to=deps.supervisor)
                )
            case dk.Settle(signal_id=signal_id):
                if self.writer is not None:
                    self.writer.submit(lambda journal: journal.settle_signal(signal_id))
            case dk.Note(level=level, text=text):
                log.log(logging.getLevelName(level.upper()), "%s", text)
            case _:
                raise AssertionError(f"unhandled desk effect {effect!r}")

    def flush(self) -> None:
        """Tell each order the exchange updates gathered for it: one message per order."""
        gathered, self._updates = self._updates, {}
        for cl_ord_id, updates in gathered.items():
            ref = self.refs.get(cl_ord_id)
            if ref is not None:
                message = (
                    updates[0] if len(updates) == 1 else p.OrderUpdates(updates=tuple(updates))
                )
                p.tell_quietly(ref, message)

    def _birth(
        self, model: om.OrderModel, signal: Any, ref: pykka.ActorRef[OrderActor] | None
    ) -> None:
        """Journal a new order (signal, intent, first report) in one commit; the order may send
        only once it is durable. (An order refused before it starts is born rejected, ended.)

        A new entry's placement is staged: built now, told to the gateway by the commit's
        callback, which runs at once in this thread when the journal writer is idle and no other
        message waits for the supervisor (an eager commit). The signal then reaches the wire in
        two thread hand-overs (caller -> supervisor -> gateway). Its first report and its
        order's Own ride with the placement (PlaceOrder.after): the gateway passes them on once
        the frame is out, so the sink's and the dispatcher's threads wake after the send, the sink
        has report 1 before the order can emit report 2, and the order runs its model only from
        then on (no other thread touches it after)."""
        first, _ = model.start()
        deps = self.deps
        spec, now = model.spec, deps.clock.time()
        report = report_from_emit(spec, first, now)
        me, sink, writer, gateway = deps.supervisor, deps.sink, self.writer, deps.gateway
        journaled: Any = Journaled(report=report) if writer is not None else report
        place: p.PlaceOrder | None = None
        if ref is not None:
            quantity = model.first_placement()
            if quantity is not None:
                place = place_order(
                    spec,
                    quantity,
                    reply_to=ref,
                    validate=deps.validate_only,
                    now=deps.clock.monotonic(),
                    after=(
                        p.Forward(to=sink, message=journaled),
                        p.Forward(to=ref, message=p.Own(model=model, durable=True, sent=True)),
                    ),
                )
            else:
                ref.tell(p.Own(model=model))  # it places once it hears IntentDurable

        def durable(_result: object) -> None:
            if place is not None:
                if not p.tell_quietly(gateway, place):
                    for forward in place.after:  # shutting down: nothing leaves, all is told
                        p.tell_quietly(forward.to, forward.message)
                return
            sink.tell(journaled)
            if ref is not None:
                p.tell_quietly(ref, dk.IntentDurable())
            else:
                p.tell_quietly(me, p.OrderDurable(cl_ord_id=spec.cl_ord_id))

        def failed(exc: Exception) -> None:
            log.error("journal could not store the intent of %s: %s", spec.cl_ord_id, exc)
            sink.tell(report)
            if ref is not None:
                if place is not None:
                    p.tell_quietly(ref, p.Own(model=model))
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
        writer.submit(write, on_durable=durable, on_error=failed, eager=self._idle())
