"""The desk: every order of a signal pipeline as one pure object. Events in, effects out.

The Desk owns what the supervisor knows: the order registry and its indexes (by cl_ord_id, txid
and signal), the live-order cap and the queue behind it, signal intake (accept, or reject with
the reason), the bracket book (OCO pairs and their generations), halt and resume, and restore
after a restart. Each order's own lifecycle is its OrderModel's, run by an OrderActor; the Desk
creates the model, hands it over (``Run``) and hears back when its order fills or finishes.

The supervisor actor is a shell: it turns messages into calls here and carries out the effects.
Nothing here touches a thread, a socket or the machine's clock; time arrives as an argument.

Restore is a replay: ``replay_order`` / ``replay_progress`` rebuild the registry and the bracket
book from the journal through the same functions the live path uses, and ``restore`` then hands
every order that is not finished to an actor and places the protection that is due.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Protocol, cast

import msgspec

from gal_exec.core.bracket import BracketBook, Spawn
from gal_exec.core.clock import Clock
from gal_exec.core.exposure import Exposure
from gal_exec.core.grid import PairLimits, quantize_fields
from gal_exec.core.ids import (
    child_client_order_id,
    child_generation,
    generation_tag,
    new_client_order_id,
)
from gal_exec.core.intake import (
    MAX_BATCH_SIGNALS,
    BatchLike,
    BatchPlan,
    SignalLike,
    bracket_problems,
    plan_batch,
    signal_problems,
)
from gal_exec.core.market import PriceCache, Quote
from gal_exec.core.order import OrderModel, OrderSettings, OrderSpec, ReportLike
from gal_exec.core.risk import BatchEntry, RiskLimits, check_signal, order_price
from gal_exec.core.updates import OrderUpdate
from gal_exec.core.vocabulary import OrderType, Role, Side, TimeInForce

__all__ = [
    "CancelOrder",
    "Desk",
    "DeskEffect",
    "DeskHealth",
    "DeskSettings",
    "IntentDurable",
    "Journal",
    "JournaledReport",
    "Link",
    "ListOpenOrders",
    "Note",
    "OpenBatch",
    "Reject",
    "Reload",
    "Report",
    "Run",
    "SetPosition",
    "Settle",
    "StreamChanged",
    "Tell",
    "VerifyStatus",
]

_ZERO = Decimal(0)


class JournaledReport(ReportLike, Protocol):
    """A report as the journal holds it: ReportLike plus the order it belongs to."""

    @property
    def client_order_id(self) -> str: ...


_UNROUTED_LIMIT = 10_000
_CHILD_TYPES = {Role.STOP_LOSS: OrderType.STOP_LOSS, Role.TAKE_PROFIT: OrderType.TAKE_PROFIT}


class DeskSettings(msgspec.Struct, frozen=True, kw_only=True):
    max_live_orders: int = 10_000
    limit_timeout_s: float = 300.0
    order: OrderSettings = msgspec.field(default_factory=OrderSettings)
    risk: RiskLimits = msgspec.field(default_factory=lambda: RiskLimits(quantize=False))
    max_batch_signals: int = MAX_BATCH_SIGNALS
    stale_after_s: float = 10.0
    max_unchanged_s: float = 0.0
    cl_ord_id_prefix: str = "g"


# ---- commands the desk sends to one order (the OrderActor takes them as they are) ----------------


class OrderCommand(msgspec.Struct, frozen=True, kw_only=True):
    pass


class CancelOrder(OrderCommand, frozen=True, kw_only=True, tag=True):
    reason: str


class SetPosition(OrderCommand, frozen=True, kw_only=True, tag=True):
    """A protective child: the entry's position it must cover."""

    filled_quantity: Decimal
    final: bool = False


class StreamChanged(OrderCommand, frozen=True, kw_only=True, tag=True):
    up: bool
    gap: bool = False


class VerifyStatus(OrderCommand, frozen=True, kw_only=True, tag=True):
    """The open-orders audit did not list this order: ask for its record."""


class IntentDurable(OrderCommand, frozen=True, kw_only=True, tag=True):
    """The journal committed this order's intent: its request may now leave."""


# ---- effects ------------------------------------------------------------------------------------


class DeskEffect(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Journal(DeskEffect, frozen=True, kw_only=True):
    """Make a new order's intent durable, with its first report (and its signal, for an entry).

    ``to_order``: tell the order IntentDurable when durable (it runs already); otherwise tell
    the desk (``durable``), which passes it on once the order runs.
    """

    model: OrderModel
    signal: Any = None
    to_order: bool = True


class Run(DeskEffect, frozen=True, kw_only=True):
    """Hand ``model`` to an OrderActor. ``resume``: it was rebuilt from the journal; ``durable``:
    its intent is durable already (tell it IntentDurable at once)."""

    model: OrderModel
    resume: bool = False
    durable: bool = False


class Tell(DeskEffect, frozen=True, kw_only=True):
    """Tell the running order ``cl_ord_id`` a command or an exchange update."""

    cl_ord_id: str
    message: OrderCommand | OrderUpdate


class Link(DeskEffect, frozen=True, kw_only=True):
    """Two running children are an OCO pair: each tells the other what it fills."""

    first: str
    second: str


class Reject(DeskEffect, frozen=True, kw_only=True):
    """A signal (or a command) refused: one rejected report, with the reason."""

    signal_id: str
    reason: str
    pair: str = ""
    side: str = ""
    order_type: str = ""
    quantity: Decimal = _ZERO


class Report(DeskEffect, frozen=True, kw_only=True):
    """Report a step of an order that has no actor (cancelled while queued)."""

    model: OrderModel
    effects: tuple[Any, ...]


class Reload(DeskEffect, frozen=True, kw_only=True):
    """An order's actor died: rebuild its model from the journal and call ``restarted``."""

    spec: OrderSpec


class ListOpenOrders(DeskEffect, frozen=True, kw_only=True):
    """The flat-cost audit: one OpenOrders call; answer with ``audit_result``."""


class OpenBatch(DeskEffect, frozen=True, kw_only=True):
    """Follow a batch's orders until each settles, then report the batch."""

    plan: BatchPlan


class Settle(DeskEffect, frozen=True, kw_only=True):
    """Everything of this signal is finished: restore need not replay it again."""

    signal_id: str


class Note(DeskEffect, frozen=True, kw_only=True):
    """A line for the log: ``level`` is "info", "warning" or "error"."""

    level: str
    text: str


class DeskHealth(msgspec.Struct, frozen=True, kw_only=True):
    halted: str | None
    stream_up: bool
    live_orders: int
    queued_orders: int
    exposure_total: str
    breakers: dict[str, str]
    signals: int
    rejected_signals: int
    orders: int
    finished: int


# ---- the desk -----------------------------------------------------------------------------------


class _Order:
    """What the desk knows of one order."""

    __slots__ = (
        "durable",
        "filled",
        "finished",
        "model",
        "running",
        "spec",
        "txid",
    )

    def __init__(self, spec: OrderSpec) -> None:
        self.spec = spec
        self.model: OrderModel | None = None  # held only until it runs (queued or restoring)
        self.running = False  # an actor owns it
        self.durable = False
        self.finished = False
        self.txid: str | None = None
        self.filled = _ZERO


class Desk:
    """Every order of one engine: see the module docstring."""

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
        self._clock = clock
        self.seen_signals: set[str] = set(seen_signals)
        self.orders: dict[str, _Order] = {}
        self.by_txid: dict[str, str] = {}
        self.by_signal: dict[str, list[str]] = {}
        self.brackets = BracketBook()
        self.queue: deque[str] = deque()
        self.live = 0
        self.halted: str | None = None
        self.stream_up = False
        self.breakers: dict[str, str] = {}
        self.prices = PriceCache(
            stale_after_s=settings.stale_after_s, max_unchanged_s=settings.max_unchanged_s
        )
        self.exposure = Exposure()
        self._entry_price: dict[str, Decimal] = {}
        self._unrouted: dict[str, list[OrderUpdate]] = {}
        self.counts = {"signals": 0, "rejected_signals": 0, "orders": 0, "finished": 0}

    # ---- reading ---------------------------------------------------------------------------

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
            **self.counts,
        )

    def running_orders(self) -> list[str]:
        return [cl for cl, order in self.orders.items() if order.running and not order.finished]

    # ---- signals in ------------------------------------------------------------------------

    def signal(self, signal: SignalLike) -> list[DeskEffect]:
        self.counts["signals"] += 1
        prepared = self._prepare(signal)
        if isinstance(prepared, str):
            return self._reject(signal, prepared)
        violations = check_signal(
            prepared.order,
            rules=prepared.rules,
            quote=prepared.quote,
            exposure=self.exposure,
            limits=self.settings.risk,
        )
        if violations:
            return self._reject(prepared.order, "; ".join(violations))
        return self._accept(prepared)

    def batch(self, batch: BatchLike) -> list[DeskEffect]:
        """Check a batch as a whole, then place what it accepts (the gateway coalesces per pair)."""
        self.counts["signals"] += len(batch.signals)
        plan = plan_batch(
            batch,
            prepare=self._prepare,
            exposure=self.exposure,
            limits=self.settings.risk,
            max_signals=self.settings.max_batch_signals,
        )
        by_id = {signal.signal_id: signal for signal in batch.signals}
        effects: list[DeskEffect] = [OpenBatch(plan=plan)]
        for signal_id, reason in plan.rejected.items():
            effects += self._reject(by_id[signal_id], reason)
        for entry in plan.accepted:
            effects += self._accept(entry)
        return effects

    def _prepare(self, signal: SignalLike) -> BatchEntry | str:
        """Every check that needs no other signal; the entry to place, or the reason not to."""
        if self.halted is not None:
            return f"halted: {self.halted}"
        if signal.signal_id in self.seen_signals:
            return f"duplicate signal_id {signal.signal_id!r}: it was placed already"
        problems = signal_problems(signal, now=self._clock.time())
        rules = self._pairs(signal.pair) if signal.pair.strip() else None
        if rules is None and signal.pair.strip():
            problems.append(f"unknown pair {signal.pair!r}")
        if problems or rules is None:
            return "; ".join(problems)
        notes: list[str] = []
        if self.settings.risk.quantize:
            changes, notes = quantize_fields(signal, rules)
            if changes:
                signal = msgspec.structs.replace(cast(Any, signal), **changes)
        quote = self.prices.quote(rules.pair, self._clock.time())
        if (
            signal.order_type == OrderType.MARKET
            and isinstance(quote, Quote)
            and (signal.sl_price is not None or signal.tp_price is not None)
        ):
            problems = bracket_problems(signal, quote.last, what="the last price")
            if problems:
                return "; ".join(problems)
        return BatchEntry(order=signal, rules=rules, quote=quote, context=notes)

    def _accept(self, entry: BatchEntry) -> list[DeskEffect]:
        signal: SignalLike = entry.order
        rules = entry.rules
        self.seen_signals.add(signal.signal_id)
        timeout = signal.timeout_s
        if timeout is None and signal.order_type == OrderType.LIMIT:
            timeout = self.settings.limit_timeout_s or None
        spec = OrderSpec(
            cl_ord_id=new_client_order_id(self.settings.cl_ord_id_prefix, clock=self._clock),
            signal_id=signal.signal_id,
            pair=rules.shown,
            symbol=rules.request_name,
            price_decimals=rules.price_decimals,
            side=Side(signal.side),
            order_type=OrderType(signal.order_type),
            quantity=signal.quantity,
            limit_price=signal.limit_price,
            trigger_price=signal.trigger_price,
            time_in_force=TimeInForce(signal.time_in_force),
            expire_at=signal.expire_at,
            post_only=signal.post_only,
            reduce_only=signal.reduce_only,
            timeout_s=timeout,
            sl_price=signal.sl_price,
            tp_price=signal.tp_price,
            received_at=self._clock.monotonic(),
        )
        price = order_price(signal, entry.quote)
        if price is not None:
            self.exposure.add(spec.cl_ord_id, rules.pair, signal.quantity, price)
        effects: list[DeskEffect] = []
        if entry.context:
            text = f"signal {signal.signal_id} quantized: {'; '.join(entry.context)}"
            effects.append(Note(level="info", text=text))
        return effects + self._launch(spec, signal=signal)

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
            ids = self.by_signal.setdefault(spec.signal_id, [])
            ids.append(spec.cl_ord_id)
            self.counts["orders"] += 1
        if spec.protected:
            roles = tuple(
                role
                for role, price in (
                    (Role.STOP_LOSS, spec.sl_price),
                    (Role.TAKE_PROFIT, spec.tp_price),
                )
                if price is not None
            )
            self.brackets.open(spec.cl_ord_id, roles)
        return order

    def _launch(
        self, spec: OrderSpec, *, signal: Any = None, model: OrderModel | None = None
    ) -> list[DeskEffect]:
        order = self._register(spec)
        model = model or self._model(spec)
        if model.rejection is not None:
            # Refused before it starts: journaled and reported, never run.
            order.finished = True
            return [Journal(model=model, signal=signal, to_order=False)]
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
        if average is not None:
            self._entry_price[cl_ord_id] = average
        forward = self.brackets.position(cl_ord_id, filled, final)
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
        effects: list[DeskEffect] = []
        parent = order.spec.parent_cl_ord_id
        if parent is not None:
            self.brackets.filled(parent, cl_ord_id, order.filled, final=True)
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
        self._entry_price.pop(cl_ord_id, None)

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
        return effects + self._restarted(model)

    def _restarted(self, model: OrderModel) -> list[DeskEffect]:
        order = self.orders.get(model.spec.cl_ord_id)
        if order is None or order.running:
            return []
        model.stream_up = self.stream_up
        self._prepare_child(model)
        order.running = True
        if not model.terminal:
            self.live += 1
        effects: list[DeskEffect] = [Run(model=model, resume=True)]
        return effects + self._links(model.spec)

    # ---- protection ------------------------------------------------------------------------

    def _protect(self, parent: str) -> list[DeskEffect]:
        spawn = self.brackets.due(parent)
        if spawn is None:
            return []
        entry = self.orders.get(parent)
        if entry is None:
            return []
        return self._spawn(entry.spec, spawn)

    def _spawn(self, parent: OrderSpec, spawn: Spawn) -> list[DeskEffect]:
        effects: list[DeskEffect] = []
        started: list[str] = []
        reference, what = self._reference_price(parent)
        for role in spawn.roles:
            trigger = parent.sl_price if role == Role.STOP_LOSS else parent.tp_price
            assert trigger is not None
            child = OrderSpec(
                cl_ord_id=child_client_order_id(
                    parent.cl_ord_id, generation_tag(role, spawn.generation)
                ),
                signal_id=parent.signal_id,
                role=role,
                parent_cl_ord_id=parent.cl_ord_id,
                pair=parent.pair,
                symbol=parent.symbol,
                price_decimals=parent.price_decimals,
                side=Side(parent.side).opposite,
                order_type=_CHILD_TYPES[role],
                quantity=spawn.position,
                trigger_price=trigger,
            )
            self.brackets.started(parent.cl_ord_id, spawn.generation, role, child.cl_ord_id)
            model = self._model(child)
            model.protect(
                spawn.position, sibling_filled=spawn.sibling_filled, entry_final=spawn.final
            )
            if reference is not None:
                problem = _triggers_at_once(role, parent.side, trigger, reference, what)
                if problem is not None:
                    model.reject(problem)
                    self.brackets.filled(parent.cl_ord_id, child.cl_ord_id, _ZERO, final=True)
                    effects.append(Note(level="warning", text=f"{child.cl_ord_id}: {problem}"))
            effects += self._launch(child, model=model)
            if model.rejection is None:
                started.append(child.cl_ord_id)
        if started:
            effects += self._links(self.orders[started[-1]].spec)
        return effects

    def _reference_price(self, parent: OrderSpec) -> tuple[Decimal | None, str]:
        """The last price known for a child's trigger check: the ticker if fresh, else the
        entry's average fill price."""
        rules = self._pairs(parent.symbol or parent.pair)
        if rules is not None:
            quote = self.prices.quote(rules.pair, self._clock.time())
            if isinstance(quote, Quote):
                return quote.last, "the last price"
        fill = self._entry_price.get(parent.cl_ord_id)
        return fill, "the entry's fill price"

    def _prepare_child(self, model: OrderModel) -> None:
        """A child about to run again: the position it covers and what its sibling closed."""
        spec = model.spec
        if spec.parent_cl_ord_id is None:
            return
        position, final = self.brackets.position_for(spec.parent_cl_ord_id, spec.cl_ord_id)
        sibling = self.brackets.sibling_filled(spec.parent_cl_ord_id, spec.cl_ord_id)
        model.protect(position, sibling_filled=sibling, entry_final=final)

    def _links(self, spec: OrderSpec) -> list[DeskEffect]:
        """Link ``spec`` with each running sibling of its generation."""
        mine = self.orders.get(spec.cl_ord_id)
        if spec.parent_cl_ord_id is None or mine is None or not mine.running:
            return []
        effects: list[DeskEffect] = []
        for sibling in self.brackets.siblings(spec.parent_cl_ord_id, spec.cl_ord_id):
            other = self.orders.get(sibling)
            if other is not None and other.running and not other.finished:
                effects.append(Link(first=spec.cl_ord_id, second=sibling))
        return effects

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
        self.halted = reason
        note = f"halted: {reason}" + (" (cancelling open orders)" if cancel_open else "")
        effects: list[DeskEffect] = [Note(level="warning", text=note)]
        if cancel_open:
            for cl_ord_id in list(self.orders):
                effects += self._cancel(cl_ord_id, f"halted: {reason}")
        return effects

    def resume(self) -> list[DeskEffect]:
        if self.halted is None:
            return []
        was, self.halted = self.halted, None
        return [Note(level="warning", text=f"resumed (was halted: {was})")]

    def _cancel(self, cl_ord_id: str, reason: str) -> list[DeskEffect]:
        order = self.orders.get(cl_ord_id)
        if order is None:
            return []
        if order.spec.role == Role.ENTRY:
            self.brackets.cancel(cl_ord_id)  # cancelled protection is not placed again
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
        return [Tell(cl_ord_id=cl, message=message) for cl in self.running_orders()]

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

    def breaker(self, category: str, state: str) -> None:
        self.breakers[category] = state

    def quote(self, quote: Quote) -> None:
        self.prices.put(quote)
        self.exposure.mark(quote.pair, quote.last)

    def quotes_confirmed(self, pairs: Iterable[str], time: float) -> None:
        self.prices.touch(pairs, time)

    def _restore_exposure(self, model: OrderModel) -> None:
        """A restored entry resting on the book counts against the exposure limits again."""
        spec = model.spec
        price = spec.limit_price if spec.limit_price is not None else spec.trigger_price
        rules = self._pairs(spec.symbol or spec.pair)
        remaining = model.ledger.remaining_quantity
        if spec.is_child or price is None or rules is None or remaining <= 0:
            return
        if spec.order_type not in (OrderType.TRAILING_STOP, OrderType.TRAILING_STOP_LIMIT):
            self.exposure.add(spec.cl_ord_id, rules.pair, remaining, price)

    def _settle(self, signal_id: str) -> list[DeskEffect]:
        ids = self.by_signal.get(signal_id, [])
        for cl_ord_id in ids:
            order = self.orders.get(cl_ord_id)
            if order is None:
                continue
            if not order.finished or not self.brackets.settled(cl_ord_id):
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
                self._replay_order(spec)
            filled, terminal = model.ledger.filled_quantity, model.terminal
            notes += [f"{cl_ord_id}: {anomaly.reason}" for anomaly in model.replay(report)]
            if model.ledger.filled_quantity != filled or model.terminal != terminal:
                self._replay_progress(model)
        for cl_ord_id, spec in specs.items():
            if cl_ord_id not in models:  # journaled without a report (an older journal)
                models[cl_ord_id] = self._model(spec)
                self._replay_order(spec)
        return models, notes

    def _replay_order(self, spec: OrderSpec) -> None:
        """An order found in the journal (at its first report, in journal order)."""
        self.seen_signals.add(spec.signal_id)
        self._register(spec)
        if spec.parent_cl_ord_id is not None:
            found = child_generation(spec.parent_cl_ord_id, spec.cl_ord_id)
            generation = found[1] if found else 1
            self.brackets.started(spec.parent_cl_ord_id, generation, spec.role, spec.cl_ord_id)

    def _replay_progress(self, model: OrderModel) -> None:
        """A journaled report moved an order's fills or ended it."""
        spec = model.spec
        order = self.orders[spec.cl_ord_id]
        order.filled = max(order.filled, model.ledger.filled_quantity)
        terminal = model.terminal
        if spec.parent_cl_ord_id is not None:
            self.brackets.filled(
                spec.parent_cl_ord_id, spec.cl_ord_id, order.filled, final=terminal
            )
        else:
            average = model.ledger.average_price
            if average is not None:
                self._entry_price[spec.cl_ord_id] = average
            self.brackets.position(spec.cl_ord_id, order.filled, terminal)
        if terminal:
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
            model.stream_up = self.stream_up
            self._prepare_child(model)
            order.running = True
            order.durable = True
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
        return effects


def _triggers_at_once(
    role: Role, entry_side: Side, trigger: Decimal, reference: Decimal, what: str
) -> str | None:
    """Why a protective child would trigger the moment it is placed, or None.

    A long position (buy entry) is protected by a sell stop below the market and a sell
    take-profit above it; a short one the other way round.
    """
    long = entry_side == Side.BUY
    if role == Role.STOP_LOSS:
        through = trigger >= reference if long else trigger <= reference
        relation = "below" if long else "above"
    else:
        through = trigger <= reference if long else trigger >= reference
        relation = "above" if long else "below"
    if not through:
        return None
    return f"{role} trigger {trigger} would fire at once: it must be {relation} {what} {reference}"
