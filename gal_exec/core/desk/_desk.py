"""The Desk: every order of one engine. See the package docstring."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal

import msgspec

from gal_exec.core.amend import AmendChange, Figures
from gal_exec.core.clock import Clock
from gal_exec.core.desk._amends import AmendLike, amend_problems, amended_spec
from gal_exec.core.desk._effects import (
    AccountHealth,
    AmendOrder,
    CancelOrder,
    DeskEffect,
    DeskHealth,
    DeskSettings,
    FetchBalances,
    IntentDurable,
    Journal,
    JournaledReport,
    JournalLevels,
    Link,
    ListOpenOrders,
    Note,
    OpenBatch,
    Reject,
    Reload,
    Report,
    Run,
    SetPosition,
    Settle,
    StreamChanged,
    Tell,
    VerifyStatus,
)
from gal_exec.core.desk._intake import Intake
from gal_exec.core.desk._protection import Protection
from gal_exec.core.exposure import Exposure
from gal_exec.core.grid import PairLimits
from gal_exec.core.intake import BatchLike, SignalLike, bracket_problems
from gal_exec.core.market import PriceCache, Quote
from gal_exec.core.order import OrderModel, OrderSpec, ReportLike
from gal_exec.core.positions import (
    AccountView,
    AssetBalance,
    FillReport,
    PositionBook,
    WorkingOrders,
)
from gal_exec.core.risk import BatchEntry
from gal_exec.core.updates import OrderUpdate
from gal_exec.core.vocabulary import TRAILING, Role

__all__ = ["Desk"]

_ZERO = Decimal(0)
_UNROUTED_LIMIT = 10_000


class _Order:
    """What the desk knows of one order."""

    __slots__ = ("durable", "figures", "filled", "finished", "model", "running", "spec", "txid")

    def __init__(self, spec: OrderSpec) -> None:
        self.spec = spec
        self.figures = Figures(
            quantity=spec.quantity, limit_price=spec.limit_price, trigger_price=spec.trigger_price
        )
        self.model: OrderModel | None = None  # held only until it runs (queued)
        self.running = False  # an actor owns it
        self.durable = False
        self.finished = False
        self.txid: str | None = None
        self.filled = _ZERO


class Desk:
    """Every order of one engine: events in, effects out."""

    def __init__(
        self,
        settings: DeskSettings,
        *,
        pairs: Callable[[str], PairLimits | None],
        clock: Clock,
        seen_signals: Iterable[str] = (),
    ) -> None:
        self.settings = settings
        self._pairs = pairs
        self.prices = PriceCache(
            stale_after_s=settings.stale_after_s, max_unchanged_s=settings.max_unchanged_s
        )
        self.exposure = Exposure()
        self.positions = PositionBook(self._assets)
        self.working = WorkingOrders()
        self.intake = Intake(
            settings,
            pairs=pairs,
            clock=clock,
            prices=self.prices,
            exposure=self.exposure,
            positions=AccountView(self.positions, self.working),
        )
        self.intake.seen.update(seen_signals)
        self.protection = Protection(pairs=pairs, prices=self.prices, clock=clock)
        self.orders: dict[str, _Order] = {}
        self.by_txid: dict[str, str] = {}
        self.by_signal: dict[str, list[str]] = {}
        self.queue: deque[str] = deque()
        self.live = 0
        self.stream_up = False
        self.breakers: dict[str, str] = {}
        self._unrouted: dict[str, list[OrderUpdate]] = {}
        self.counts = {
            "signals": 0,
            "rejected_signals": 0,
            "orders": 0,
            "finished": 0,
            "anomalies": 0,
        }
        self.last_anomaly: str | None = None
        self.asset_balances: dict[str, AssetBalance] = {}
        self.balances_at: float | None = None
        self.balances_error: str | None = None
        self._stream_ups = 0

    # ---- reading ---------------------------------------------------------------------------

    @property
    def halted(self) -> str | None:
        return self.intake.halted

    @property
    def seen_signals(self) -> set[str]:
        return self.intake.seen

    @property
    def idle(self) -> bool:
        return self.live == 0 and not self.queue

    def health(self) -> DeskHealth:
        return DeskHealth(
            halted=self.halted,
            stream_up=self.stream_up,
            live_orders=self.live,
            queued_orders=len(self.queue),
            exposure_total=str(self.exposure.notional()),
            breakers=dict(self.breakers),
            last_anomaly=self.last_anomaly,
            **self.counts,
            account=self.account(),
        )

    def account(self) -> AccountHealth:
        """Positions from the engine's fills and the balances last fetched."""
        return AccountHealth(
            positions=self.positions.views(),
            balances=dict(self.asset_balances),
            balances_at=self.balances_at,
            balances_error=self.balances_error,
        )

    def running_orders(self) -> list[str]:
        return [cl for cl, order in self.orders.items() if order.running and not order.finished]

    # ---- signals in ------------------------------------------------------------------------

    def signal(self, signal: SignalLike) -> list[DeskEffect]:
        self.counts["signals"] += 1
        checked = self.intake.check(signal)
        if isinstance(checked, str):
            return self._reject(signal, checked)
        return self._accept(checked)

    def batch(self, batch: BatchLike) -> list[DeskEffect]:
        """Check a batch as a whole, then place what it accepts (the gateway coalesces per pair)."""
        self.counts["signals"] += len(batch.signals)
        plan = self.intake.plan(batch)
        by_id = {signal.signal_id: signal for signal in batch.signals}
        effects: list[DeskEffect] = [OpenBatch(plan=plan)]
        for signal_id, reason in plan.rejected.items():
            effects += self._reject(by_id[signal_id], reason)
        for entry in plan.accepted:
            effects += self._accept(entry)
        return effects

    def _accept(self, entry: BatchEntry) -> list[DeskEffect]:
        spec = self.intake.accept(entry)
        effects: list[DeskEffect] = []
        if entry.context:
            text = f"signal {spec.signal_id} quantized: {'; '.join(entry.context)}"
            effects.append(Note(level="info", text=text))
        return effects + self._launch(spec, signal=entry.order)

    def refused(self, kind: str, signal_id: str, reason: str) -> list[DeskEffect]:
        """A message that is not well formed (a wrong type, a missing field): one report."""
        self.counts["rejected_signals"] += 1
        return [
            Note(level="warning", text=f"{kind} refused: {reason}"),
            Reject(signal_id=signal_id, reason=reason),
        ]

    def _reject(self, signal: SignalLike, reason: str) -> list[DeskEffect]:
        self.counts["rejected_signals"] += 1
        quantity = signal.quantity if signal.quantity.is_finite() else _ZERO
        return [
            Note(level="warning", text=f"signal {signal.signal_id} rejected: {reason}"),
            Reject(
                signal_id=signal.signal_id,
                reason=reason,
                pair=signal.pair,
                side=signal.side,
                order_type=signal.order_type,
                quantity=quantity,
            ),
        ]

    # ---- orders: launch, run, finish -------------------------------------------------------

    def _model(self, spec: OrderSpec) -> OrderModel:
        settings = self.settings.order
        if spec.is_child:
            rules = self._pairs(spec.symbol or spec.pair)
            if rules is not None:
                settings = msgspec.structs.replace(settings, min_quantity=rules.ordermin)
        model = OrderModel(spec, settings)
        model.stream_up = self.stream_up
        return model

    def _register(self, spec: OrderSpec) -> _Order:
        order = self.orders.get(spec.cl_ord_id)
        if order is None:
            order = self.orders[spec.cl_ord_id] = _Order(spec)
            self.by_signal.setdefault(spec.signal_id, []).append(spec.cl_ord_id)
            self.counts["orders"] += 1
        if spec.protected:
            self.protection.open(spec)
        return order

    def _launch(
        self, spec: OrderSpec, *, signal: object = None, model: OrderModel | None = None
    ) -> list[DeskEffect]:
        order = self._register(spec)
        model = model or self._model(spec)
        if model.rejection is not None:
            # Refused before it starts: journaled and reported, never run.
            order.finished = True
            return [Journal(model=model, signal=signal, to_order=False)]
        if spec.role == Role.ENTRY:
            self.working.set(spec.cl_ord_id, spec.pair, spec.side, spec.quantity)
        if spec.role == Role.ENTRY and self.live >= self.settings.max_live_orders:
            order.model = model
            self.queue.append(spec.cl_ord_id)
            return [Journal(model=model, signal=signal, to_order=False)]
        order.running = True
        self.live += 1
        return [Run(model=model), Journal(model=model, signal=signal, to_order=True)]

    def durable(self, cl_ord_id: str) -> list[DeskEffect]:
        """The intent of an order that was not running when journaled is durable now."""
        order = self.orders.get(cl_ord_id)
        if order is None:
            return []
        order.durable = True
        if order.running and not order.finished:
            return [Tell(cl_ord_id=cl_ord_id, message=IntentDurable())]
        return []

    def _drain_queue(self) -> list[DeskEffect]:
        effects: list[DeskEffect] = []
        while self.queue and self.live < self.settings.max_live_orders:
            order = self.orders.get(self.queue.popleft())
            if order is None or order.finished or order.model is None:
                continue  # cancelled while queued
            model, order.model = order.model, None
            model.stream_up = self.stream_up
            order.running = True
            self.live += 1
            effects.append(Run(model=model, durable=order.durable))
        return effects

    def identified(self, cl_ord_id: str, txid: str) -> list[DeskEffect]:
        order = self.orders.get(cl_ord_id)
        if order is None:
            return []
        order.txid = txid
        self.by_txid[txid] = cl_ord_id
        held = self._unrouted.pop(txid, None) or []
        return [Tell(cl_ord_id=cl_ord_id, message=update) for update in held]

    def route(self, update: OrderUpdate) -> list[DeskEffect]:
        """An observation from the stream: to its order, or held until its txid is known."""
        cl_ord_id = update.cl_ord_id
        order = self.orders.get(cl_ord_id) if cl_ord_id else None
        if order is None and update.txid:
            known = self.by_txid.get(update.txid)
            order = self.orders.get(known) if known else None
            if order is None:
                # Possibly ours before the acknowledgement told us its txid: hold it briefly.
                if len(self._unrouted) < _UNROUTED_LIMIT:
                    self._unrouted.setdefault(update.txid, []).append(update)
                return []
        if order is None or not order.running:
            return []
        effects: list[DeskEffect] = []
        if order.txid is None and update.txid:
            effects += self.identified(order.spec.cl_ord_id, update.txid)
        effects.append(Tell(cl_ord_id=order.spec.cl_ord_id, message=update))
        return effects

    def filled(
        self, cl_ord_id: str, filled: Decimal, *, average: Decimal | None, final: bool
    ) -> list[DeskEffect]:
        """An entry's filled quantity grew (or it ended): its protection follows."""
        order = self.orders.get(cl_ord_id)
        if order is None:
            return []
        order.filled = max(order.filled, filled)
        forward = self.protection.entry_filled(cl_ord_id, filled, average=average, final=final)
        effects: list[DeskEffect] = []
        if forward is not None:
            message = SetPosition(filled_quantity=forward.position, final=forward.final)
            effects += [Tell(cl_ord_id=child, message=message) for child in forward.children]
        return effects + self._protect(cl_ord_id)

    def finished(self, cl_ord_id: str, filled: Decimal) -> list[DeskEffect]:
        """An order reached a terminal state and reported it."""
        order = self.orders.get(cl_ord_id)
        if order is None or order.finished:
            return []
        order.finished = True
        order.filled = max(order.filled, filled)
        if order.running:
            self.live -= 1
        self.counts["finished"] += 1
        self.exposure.release(cl_ord_id)
        self.working.release(cl_ord_id)
        effects: list[DeskEffect] = []
        parent = order.spec.parent_cl_ord_id
        if parent is not None:
            self.protection.child_filled(order.spec, order.filled, final=True)
            effects += self._protect(parent)
        return effects + self._drain_queue() + self._settle(order.spec.signal_id)

    def stopped(self, cl_ord_id: str) -> None:
        """The order's actor stopped after lingering: forget the order."""
        order = self.orders.get(cl_ord_id)
        if order is None or not order.finished:
            return
        del self.orders[cl_ord_id]
        if order.txid is not None:
            self.by_txid.pop(order.txid, None)
        self.protection.forget(cl_ord_id)
        self.positions.forget(cl_ord_id)

    def crashed(self, cl_ord_id: str) -> list[DeskEffect]:
        """The order's actor died: its model is lost; rebuild it from the journal."""
        order = self.orders.get(cl_ord_id)
        if order is None or not order.running:
            return []
        order.running = False
        if not order.finished:
            self.live -= 1
        return [
            Note(level="error", text=f"restarting order {cl_ord_id} after a crash"),
            Reload(spec=order.spec),
        ]

    def reloaded(self, spec: OrderSpec, reports: Iterable[ReportLike]) -> list[DeskEffect]:
        """A crashed order's journaled reports: rebuild its model the way start-up does, run it."""
        model = self._model(spec)
        effects: list[DeskEffect] = []
        for report in sorted(reports, key=lambda r: r.sequence):
            for anomaly in model.replay(report):
                effects.append(Note(level="warning", text=f"{spec.cl_ord_id}: {anomaly.reason}"))
        order = self.orders.get(spec.cl_ord_id)
        if order is None or order.running:
            return effects
        self._prepare(model)
        order.running = True
        if not model.terminal:
            self.live += 1
        return effects + [Run(model=model, resume=True), *self._links(spec)]

    # ---- protection ------------------------------------------------------------------------

    def _protect(self, parent: str) -> list[DeskEffect]:
        spawn = self.protection.book.due(parent)
        entry = self.orders.get(parent)
        if spawn is None or entry is None:
            return []
        effects: list[DeskEffect] = []
        started: list[OrderSpec] = []
        for child, refusal in self.protection.children(entry.spec, spawn):
            model = self._model(child)
            model.protect(
                spawn.position, sibling_filled=spawn.sibling_filled, entry_final=spawn.final
            )
            if refusal is not None:
                model.reject(refusal)
                effects.append(Note(level="warning", text=f"{child.cl_ord_id}: {refusal}"))
            else:
                started.append(child)
            effects += self._launch(child, model=model)
        if started:
            effects += self._links(started[-1])
        return effects

    def _prepare(self, model: OrderModel) -> None:
        """An order about to run again: the stream's state and, for a child, its inputs."""
        model.stream_up = self.stream_up
        if model.spec.is_child:
            position, sibling, final = self.protection.inputs(model.spec)
            model.protect(position, sibling_filled=sibling, entry_final=final)

    def _links(self, spec: OrderSpec) -> list[DeskEffect]:
        """Link ``spec`` with each running sibling of its generation."""
        mine = self.orders.get(spec.cl_ord_id)
        if mine is None or not mine.running:
            return []
        effects: list[DeskEffect] = []
        for sibling in self.protection.siblings(spec):
            other = self.orders.get(sibling)
            if other is not None and other.running and not other.finished:
                effects.append(Link(first=spec.cl_ord_id, second=sibling))
        return effects

    # ---- fills, amends and the account -----------------------------------------------------

    def fill_reported(self, report: FillReport) -> None:
        """A report with a new fill: the position moves, the entry's working part shrinks."""
        self.positions.report(report)
        order = self.orders.get(report.client_order_id)
        if order is None:
            return
        order.filled = max(order.filled, report.filled_quantity)
        if order.spec.role == Role.ENTRY and not order.finished:
            remaining = order.figures.quantity - order.filled
            self.working.set(order.spec.cl_ord_id, order.spec.pair, order.spec.side, remaining)

    def amend(self, request: AmendLike) -> list[DeskEffect]:
        """An operator's AmendSignal: checked here, then sent by the order (which may still
        refuse it: not yet acknowledged, a cancel or another amend pending)."""
        found = self._amend_target(request)
        if isinstance(found, str):
            return self._refuse_amend(request.signal_id or "", None, found)
        order = found
        spec = order.spec
        change = AmendChange(
            quantity=request.quantity,
            limit_price=request.limit_price,
            trigger_price=request.trigger_price,
        )
        rules = self._pairs(spec.symbol or spec.pair)
        problems = amend_problems(spec, order.figures, order.filled, change, rules)
        if not problems:
            after = order.figures.after(change)
            problems = self._bracket_problems(order, after)
            if spec.role == Role.ENTRY:
                problems += self.intake.amend_problems(
                    amended_spec(spec, after),
                    self.working.remaining(spec.cl_ord_id),
                    filled=order.filled,
                    before=order.figures,
                )
        if problems:
            return self._refuse_amend(spec.signal_id, spec, "; ".join(problems))
        needed = order.figures.needed(change)
        return [
            Note(level="info", text=f"amending {spec.cl_ord_id}: {needed.named()}"),
            Tell(cl_ord_id=spec.cl_ord_id, message=AmendOrder(change=needed)),
        ]

    def _amend_target(self, request: AmendLike) -> _Order | str:
        cl_ord_id, signal_id = request.client_order_id, request.signal_id
        if bool(cl_ord_id) == bool(signal_id):
            return "name the order by signal_id or by client_order_id (one of them)"
        if cl_ord_id:
            order = self.orders.get(cl_ord_id)
            if order is None:
                return f"no order {cl_ord_id!r} is known (it may have ended a while ago)"
        else:
            entries = [
                self.orders[cl]
                for cl in self.by_signal.get(signal_id or "", [])
                if cl in self.orders and self.orders[cl].spec.role == Role.ENTRY
            ]
            if not entries:
                return f"no order of signal_id {signal_id!r} is known"
            order = entries[0]
        name = order.spec.cl_ord_id
        if order.finished:
            return f"order {name} has ended: nothing to amend"
        if not order.running:
            return (
                f"order {name} waits behind engine.max_live_orders and is not sent yet; amend "
                "it once it is open"
            )
        return order

    def _bracket_problems(self, order: _Order, after: Figures) -> list[str]:
        """An amend must leave the bracket consistent: an entry's new price against its stop-loss
        and take-profit levels, a child's new trigger against its sibling's and the market."""
        spec = order.spec
        if spec.role == Role.ENTRY:
            moved = (after.limit_price, after.trigger_price) != (
                order.figures.limit_price,
                order.figures.trigger_price,
            )
            price = after.limit_price if after.limit_price is not None else after.trigger_price
            if not moved or not spec.protected or price is None or spec.order_type in TRAILING:
                return []
            return bracket_problems(spec, price, what="the amended entry price")
        trigger = after.trigger_price
        if trigger is None or trigger == order.figures.trigger_price:
            return []
        return self.protection.trigger_problems(spec, trigger, self._other_level(spec))

    def _other_level(self, child: OrderSpec) -> Decimal | None:
        """The trigger of the other protective role: its live sibling's, else the entry's."""
        for sibling in self.protection.siblings(child):
            other = self.orders.get(sibling)
            if other is not None and not other.finished:
                return other.figures.trigger_price
        entry = self.orders.get(child.parent_cl_ord_id or "")
        if entry is None:
            return None
        return entry.spec.tp_price if child.role == Role.STOP_LOSS else entry.spec.sl_price

    def _refuse_amend(
        self, signal_id: str, spec: OrderSpec | None, reason: str
    ) -> list[DeskEffect]:
        text = (
            f"amend of {spec.cl_ord_id} refused: {reason}" if spec else f"amend refused: {reason}"
        )
        return [
            Note(level="warning", text=text),
            Reject(
                signal_id=signal_id,
                reason=text,
                pair=spec.pair if spec else "",
                side=spec.side if spec else "",
                order_type=spec.order_type if spec else "",
            ),
        ]

    def amended(self, cl_ord_id: str, figures: Figures) -> list[DeskEffect]:
        """An order's figures changed on the exchange (its amend applied)."""
        order = self.orders.get(cl_ord_id)
        if order is None:
            return []
        before, order.figures = order.figures, figures
        spec = order.spec
        if spec.role == Role.ENTRY:
            if not order.finished:
                remaining = figures.quantity - order.filled
                self.working.set(cl_ord_id, spec.pair, spec.side, remaining)
            price = (
                figures.limit_price if figures.limit_price is not None else figures.trigger_price
            )
            rules = self._pairs(spec.symbol or spec.pair)
            if cl_ord_id in self.exposure and price is not None and rules is not None:
                self.exposure.add(cl_ord_id, rules.pair, figures.quantity, price)
            return []
        trigger = figures.trigger_price
        entry = self.orders.get(spec.parent_cl_ord_id or "")
        if trigger is None or trigger == before.trigger_price:
            return []
        # The stop (or take-profit) of the position moved: later generations take the new level.
        level = {"sl_price" if spec.role == Role.STOP_LOSS else "tp_price": trigger}
        if entry is not None:
            entry.spec = msgspec.structs.replace(entry.spec, **level)
        return [JournalLevels(cl_ord_id=spec.parent_cl_ord_id or "", **level)]

    def balances_fetched(self, balances: Mapping[str, AssetBalance], time: float) -> None:
        self.asset_balances = dict(balances)
        self.balances_at = time
        self.balances_error = None

    def balances_failed(self, error: str) -> None:
        self.balances_error = error

    def _assets(self, pair: str) -> tuple[str, str] | None:
        """A pair's base and quote as fees name them (the WS v2 names, e.g. BTC and USD)."""
        rules = self._pairs(pair)
        if rules is None or "/" not in rules.pair:
            return None
        base, _, quote = rules.pair.partition("/")
        return base, quote

    # ---- cancel, halt, stream, audit -------------------------------------------------------

    def cancel_signal(self, signal_id: str) -> list[DeskEffect]:
        ids = self.by_signal.get(signal_id)
        if not ids:
            return [
                Note(level="warning", text=f"CancelSignal for unknown signal_id {signal_id!r}"),
                Reject(
                    signal_id=signal_id,
                    reason=f"CancelSignal: no order of signal_id {signal_id!r} is known",
                ),
            ]
        effects: list[DeskEffect] = []
        for cl_ord_id in list(ids):
            effects += self._cancel(cl_ord_id, "canceled by CancelSignal")
        return effects

    def halt(self, reason: str, *, cancel_open: bool) -> list[DeskEffect]:
        self.intake.halted = reason
        note = f"halted: {reason}" + (" (cancelling open orders)" if cancel_open else "")
        effects: list[DeskEffect] = [Note(level="warning", text=note)]
        if cancel_open:
            for cl_ord_id in list(self.orders):
                effects += self._cancel(cl_ord_id, f"halted: {reason}")
        return effects

    def resume(self) -> list[DeskEffect]:
        was = self.intake.halted
        if was is None:
            return []
        self.intake.halted = None
        return [Note(level="warning", text=f"resumed (was halted: {was})")]

    def _cancel(self, cl_ord_id: str, reason: str) -> list[DeskEffect]:
        order = self.orders.get(cl_ord_id)
        if order is None:
            return []
        if order.spec.role == Role.ENTRY:
            self.protection.book.cancel(cl_ord_id)  # cancelled protection is not placed again
        if order.finished:
            return []
        if order.running:
            return [Tell(cl_ord_id=cl_ord_id, message=CancelOrder(reason=reason))]
        model = order.model
        if model is None:
            return []
        # Queued behind the cap: never run, never sent.
        order.model = None
        report = Report(model=model, effects=tuple(model.cancel(reason)))
        return [report, *self.finished(cl_ord_id, _ZERO)]

    def stream(self, up: bool, *, gap: bool) -> list[DeskEffect]:
        changed = up != self.stream_up
        self.stream_up = up
        if not (changed or gap):
            return []
        message = StreamChanged(up=up, gap=gap)
        effects: list[DeskEffect] = [
            Tell(cl_ord_id=cl, message=message) for cl in self.running_orders()
        ]
        if up and changed:
            self._stream_ups += 1
            if self._stream_ups > 1:
                # Reconnected: what moved the balances meanwhile is not in our own fills.
                effects.append(FetchBalances())
        return effects

    def audit_due(self) -> list[DeskEffect]:
        """While the stream is up: one OpenOrders call, whatever the number of open orders."""
        if any(o.txid is not None and o.running and not o.finished for o in self.orders.values()):
            return [ListOpenOrders()]
        return []

    def audit_result(self, open_txids: Iterable[str]) -> list[DeskEffect]:
        listed = set(open_txids)
        return [
            Tell(cl_ord_id=cl, message=VerifyStatus())
            for cl, order in self.orders.items()
            if order.running and not order.finished and order.txid and order.txid not in listed
        ]

    def anomaly(self, cl_ord_id: str, reason: str) -> None:
        """An order refused an event or could not account figures: counted for the operator."""
        self.counts["anomalies"] += 1
        self.last_anomaly = f"{cl_ord_id}: {reason}"

    def breaker(self, category: str, state: str) -> None:
        self.breakers[category] = state

    def quote(self, quote: Quote) -> None:
        self.prices.put(quote)
        self.exposure.mark(quote.pair, quote.last)

    def quotes_confirmed(self, pairs: Iterable[str], time: float) -> None:
        self.prices.touch(pairs, time)

    def _settle(self, signal_id: str) -> list[DeskEffect]:
        for cl_ord_id in self.by_signal.get(signal_id, []):
            order = self.orders.get(cl_ord_id)
            if order is None:
                continue
            if not order.finished or not self.protection.book.settled(cl_ord_id):
                return []
        return [Settle(signal_id=signal_id)]

    # ---- restore ---------------------------------------------------------------------------

    def replay(
        self, specs: Mapping[str, OrderSpec], reports: Iterable[JournaledReport]
    ) -> tuple[dict[str, OrderModel], list[str]]:
        """Rebuild the desk and every order's model from the journal: each report, in journal
        order, through its order's transition table; each new fill or ending through the bracket
        book. Returns the models and a line for every report the table refused."""
        models: dict[str, OrderModel] = {}
        notes: list[str] = []
        for report in reports:
            cl_ord_id = report.client_order_id
            spec = specs.get(cl_ord_id)
            if spec is None:
                continue  # a rejected signal's report: no order behind it
            model = models.get(cl_ord_id)
            if model is None:
                model = models[cl_ord_id] = self._model(spec)
                self._found(spec)
            filled, terminal = model.ledger.filled_quantity, model.terminal
            notes += [f"{cl_ord_id}: {anomaly.reason}" for anomaly in model.replay(report)]
            self.positions.report(report)
            self.orders[cl_ord_id].figures = model.figures
            if model.ledger.filled_quantity != filled or model.terminal != terminal:
                self._progress(model)
        for cl_ord_id, spec in specs.items():
            if cl_ord_id not in models:  # journaled without a report (an older journal)
                models[cl_ord_id] = self._model(spec)
                self._found(spec)
        return models, notes

    def load_fills(self, reports: Iterable[FillReport]) -> None:
        """The fills of the journal (every order, settled or not): the positions at start.
        Each fill counts once, so reports seen again later are harmless."""
        for report in reports:
            self.positions.report(report)

    def _found(self, spec: OrderSpec) -> None:
        """An order found in the journal (at its first report, in journal order)."""
        self.intake.seen.add(spec.signal_id)
        self._register(spec)
        if spec.parent_cl_ord_id is not None:
            self.protection.child_found(spec)

    def _progress(self, model: OrderModel) -> None:
        """A journaled report moved an order's fills or ended it."""
        spec = model.spec
        order = self.orders[spec.cl_ord_id]
        order.filled = max(order.filled, model.ledger.filled_quantity)
        if spec.parent_cl_ord_id is not None:
            self.protection.child_filled(spec, order.filled, final=model.terminal)
        else:
            self.protection.entry_filled(
                spec.cl_ord_id,
                order.filled,
                average=model.ledger.average_price,
                final=model.terminal,
            )
        if model.terminal:
            order.finished = True

    def restore(self, models: Mapping[str, OrderModel]) -> list[DeskEffect]:
        """After the replay: run every order that is not finished, link the OCO pairs, place the
        protection that is due, and settle what is done."""
        effects: list[DeskEffect] = []
        for cl_ord_id, order in self.orders.items():
            model = models.get(cl_ord_id)
            if model is None or order.finished or model.terminal:
                order.finished = True
                continue
            self._prepare(model)
            order.running = order.durable = True
            order.txid = model.txid
            if model.txid:
                self.by_txid[model.txid] = cl_ord_id
            self.live += 1
            self._restore_exposure(model)
            effects.append(Run(model=model, resume=True))
        linked: set[frozenset[str]] = set()
        for cl_ord_id, order in list(self.orders.items()):
            for link in self._links(order.spec):
                assert isinstance(link, Link)
                pair = frozenset((link.first, link.second))
                if pair not in linked:
                    linked.add(pair)
                    effects.append(link)
            if order.spec.protected:
                effects += self._protect(cl_ord_id)
        for signal_id in list(self.by_signal):
            effects += self._settle(signal_id)
        return [*effects, FetchBalances()]

    def _restore_exposure(self, model: OrderModel) -> None:
        """A restored entry resting on the book counts against the exposure and position limits
        again."""
        spec = model.spec
        if not spec.is_child:
            remaining = model.ledger.remaining_quantity
            self.working.set(spec.cl_ord_id, spec.pair, spec.side, remaining)
        price = model.limit_price if model.limit_price is not None else model.trigger_price
        rules = self._pairs(spec.symbol or spec.pair)
        remaining = model.ledger.remaining_quantity
        if spec.is_child or spec.order_type in TRAILING or price is None or rules is None:
            return
        if remaining > 0:
            self.exposure.add(spec.cl_ord_id, rules.pair, remaining, price)
