"""ExecutionSupervisor: takes signals in, spawns one OrderActor per client order, routes updates.

It validates every signal (a bad one becomes a rejected report, never a crash), keeps its own indexes
from cl_ord_id and txid to ActorRef (never the ActorRegistry), places protective children when an
entry fills, restarts a crashed OrderActor from persisted state (never by re-sending AddOrder),
caps live OrderActors and queues beyond the cap, and enforces Halt and Resume.
"""

from __future__ import annotations

import logging
from collections import deque
from decimal import Decimal
from typing import Any

import msgspec
import pykka

from gal_exec.actors import protocol as p
from gal_exec.actors.market_protocol import QuotesConfirmed, QuoteUpdate
from gal_exec.actors.order_actor import OrderActor, OrderDeps, intent_record
from gal_exec.actors.supervisor_intake import SignalIntake
from gal_exec.actors.supervisor_protection import Protection
from gal_exec.batch import BatchTracker
from gal_exec.core import order as om
from gal_exec.core.bracket import BracketBook
from gal_exec.core.exposure import Exposure
from gal_exec.core.ids import new_client_order_id
from gal_exec.core.ledger import Fill
from gal_exec.core.market import PriceCache
from gal_exec.core.order_state import TERMINAL_STATES, OrderState
from gal_exec.core.risk import RiskLimits
from gal_exec.core.timers import TimerFired
from gal_exec.journal import ledger_fills
from gal_exec.kraken.pairs import PairRegistry
from gal_exec.messages import (
    BatchSubmit,
    CancelSignal,
    ExecutionReport,
    Halt,
    Resume,
    TradeSignalApproved,
)

__all__ = [
    "BracketState",
    "CompleteGeneration",
    "ExecutionSupervisor",
    "RestoreOrder",
    "SupervisorSettings",
]

log = logging.getLogger("gal_exec.supervisor")

_AUDIT_KEY = "supervisor:audit"
_UNROUTED_LIMIT = 10_000


class SupervisorSettings(msgspec.Struct, frozen=True, kw_only=True):
    max_live_orders: int = 10_000
    limit_timeout_s: float = 300.0
    audit_interval_s: float = 30.0
    order: om.OrderSettings = msgspec.field(default_factory=om.OrderSettings)
    risk: RiskLimits = msgspec.field(default_factory=lambda: RiskLimits(quantize=False))
    max_batch_signals: int = 100
    stale_after_s: float = 10.0
    max_unchanged_s: float = 0.0
    cl_ord_id_prefix: str = "g"  # e.g. the owner's lease epoch (gal_exec.core.fencing)


class RestoreOrder(msgspec.Struct, frozen=True, kw_only=True):
    """Respawn an order from persisted state (after a crash, or at start-up recovery)."""

    spec: om.OrderSpec
    state: OrderState
    txid: str | None = None
    fills: list[Fill] = []
    sequence: int = 0
    position: Decimal | None = None
    sibling_filled: Decimal = Decimal(0)
    entry_final: bool = False
    generation: int = 1  # a child's generation of protection (gal_exec.core.bracket)
    closed_before: Decimal = Decimal(0)  # what earlier generations closed


class BracketState(msgspec.Struct, frozen=True, kw_only=True):
    """At start-up: an entry's newest protection generation is finished; what all closed."""

    parent_cl_ord_id: str
    generation: int
    closed: Decimal
    cancelled: bool = False


class CompleteGeneration(msgspec.Struct, frozen=True, kw_only=True):
    """At start-up: a generation of protection has a live child but its sibling was never
    journaled (the engine died between the two intents): place the missing ``roles``."""

    parent_cl_ord_id: str
    generation: int
    roles: tuple[str, ...]
    closed_before: Decimal
    entry_filled: Decimal
    entry_final: bool


class _Entry:
    """What the supervisor knows of one order."""

    __slots__ = ("finished", "ref", "spec", "txid")

    def __init__(self, spec: om.OrderSpec, ref: Any) -> None:
        self.spec = spec
        self.ref = ref
        self.txid: str | None = None
        self.finished = False


class ExecutionSupervisor(SignalIntake, Protection, pykka.ThreadingActor):
    def __init__(
        self,
        *,
        settings: SupervisorSettings,
        pairs: PairRegistry,
        gateway: Any,
        sink: Any,
        timers: Any,
        clock: Any,
        writer: Any = None,
        seen_signals: set[str] | None = None,
        validate_only: bool = False,
        batches: BatchTracker | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.pairs = pairs
        self.gateway = gateway
        self.sink = sink
        self.timers = timers
        self.clock = clock
        self.writer = writer
        self.validate_only = validate_only
        self.seen_signals = seen_signals if seen_signals is not None else set()
        self.orders: dict[str, _Entry] = {}
        self.by_txid: dict[str, str] = {}
        self.by_signal: dict[str, list[str]] = {}
        self.brackets = BracketBook()
        self.restored_pairs: dict[tuple[str, int], list[str]] = {}
        self.queue: deque[tuple[om.OrderSpec, dict[str, Any]]] = deque()
        self.live = 0
        self.halted: str | None = None
        self.stream_up = False
        self.breakers: dict[str, str] = {}
        self.unrouted: dict[str, list[Any]] = {}
        self.counts = {"signals": 0, "rejected_signals": 0, "orders": 0, "finished": 0}
        self.batches = batches
        # Prices arrive by message from MarketData (never asked for); exposure counts live entries.
        self.prices = PriceCache(
            stale_after_s=settings.stale_after_s, max_unchanged_s=settings.max_unchanged_s
        )
        self.exposure = Exposure()
        risk = settings.risk
        self.risk_active = bool(
            risk.price_band_pct
            or risk.price_band_vol_units
            or risk.market_notional_cap
            or risk.max_exposure_per_pair
            or risk.max_exposure_total
            or risk.max_batch_notional
        )
        self.deps: OrderDeps | None = None
        self._audit_generation: int | None = None
        self._request_id = 0

    def on_start(self) -> None:
        self.deps = OrderDeps(
            gateway=self.gateway,
            sink=self.sink,
            supervisor=self.actor_ref,
            timers=self.timers,
            clock=self.clock,
            writer=self.writer,
            validate_only=self.validate_only,
        )

    def on_receive(self, message: Any) -> Any:
        match message:
            case TradeSignalApproved():
                self._signal(message)
            case BatchSubmit():
                self._batch(message)
            case QuoteUpdate(quote=quote):
                self.prices.put(quote)
                self.exposure.mark(quote.pair, quote.last)
            case QuotesConfirmed(pairs=pairs, time=time):
                self.prices.touch(pairs, time)
            case p.ExchangeUpdates(updates=updates):
                for update in updates:
                    self._route(update)
            case p.OrderIdentified(cl_ord_id=cl_ord_id, txid=txid):
                self._identified(cl_ord_id, txid)
            case p.Protect():
                self._protect(message)
            case p.OrderFinished(cl_ord_id=cl_ord_id, filled_quantity=filled):
                self._finished(cl_ord_id, filled)
            case p.OrderStopped(cl_ord_id=cl_ord_id):
                self._stopped(cl_ord_id)
            case p.OrderCrashed(cl_ord_id=cl_ord_id, error=error):
                self._crashed(cl_ord_id, error)
            case RestoreOrder():
                self._restore(message)
            case CompleteGeneration():
                self._complete_generation(message)
            case BracketState(parent_cl_ord_id=parent, cancelled=True):
                self.brackets.cancel(parent)
            case BracketState(parent_cl_ord_id=parent, generation=generation, closed=closed):
                self.brackets.load(parent, generation, closed)
            case CancelSignal(signal_id=signal_id):
                self._cancel_signal(signal_id)
            case Halt(reason=reason, cancel_open=cancel_open):
                self._halt(reason or "halt requested", cancel_open)
            case p.HaltRequested(reason=reason):
                self._halt(reason, False)
            case Resume():
                if self.halted is not None:
                    log.warning("resumed (was halted: %s)", self.halted)
                self.halted = None
            case p.StreamStatus(up=up, gap=gap):
                self._stream(up, gap)
            case TimerFired(key=_AUDIT_KEY, generation=generation):
                if generation == self._audit_generation:
                    self._audit()
            case p.OpenOrdersResult():
                self._audit_result(message)
            case p.BreakerChanged(category=category, state=state):
                self.breakers[category] = state
            case p.GetHealth():
                return self._health()
            case _:
                log.warning("supervisor ignored %r", message)
        return None

    # ---- spawning (signal intake: supervisor_intake.py; protection: supervisor_protection.py)

    def _launch(
        self, spec: om.OrderSpec, options: dict[str, Any], *, signal_json: bytes | None = None
    ) -> None:
        self.by_signal.setdefault(spec.signal_id, []).append(spec.cl_ord_id)
        if signal_json is not None:
            options = {**options, "signal_json": signal_json}
        if self.live >= self.settings.max_live_orders and spec.role == "entry":
            self.queue.append((spec, options))
            self.orders[spec.cl_ord_id] = _Entry(spec, None)
            return
        self._spawn(spec, options)

    def _spawn(self, spec: om.OrderSpec, options: dict[str, Any]) -> None:
        settings = self.settings.order
        if spec.role != "entry":
            rules = self.pairs.get(spec.symbol or spec.pair)
            if rules is not None:
                settings = msgspec.structs.replace(settings, min_quantity=rules.ordermin)
        options = dict(options)
        signal_json = options.pop("signal_json", None)
        fresh = "recover" not in options and self.writer is not None
        ref = OrderActor.start(
            spec, settings, self.deps, stream_up=self.stream_up, intent_submitted=fresh, **options
        )
        if fresh:
            # The intent is committed here, while the actor's thread starts, not after: the
            # actor sends nothing until it is told IntentDurable.
            self._journal_intent(spec, ref, signal_json)
        entry = self.orders.get(spec.cl_ord_id)
        if entry is None:
            entry = self.orders[spec.cl_ord_id] = _Entry(spec, ref)
        else:
            entry.ref = ref
            entry.finished = False
        self.live += 1
        self.counts["orders"] += 1

    def _journal_intent(self, spec: om.OrderSpec, ref: Any, signal_json: bytes | None) -> None:
        now = self.clock.time()
        record = intent_record(spec, now)

        def write(journal: Any) -> None:
            if signal_json is not None:
                journal.record_signal(spec.signal_id, signal_json, now)
            journal.record_intent(record)

        self.writer.submit(
            write,
            on_durable=lambda _result: p.tell_quietly(ref, p.IntentDurable()),
            on_error=lambda exc: p.tell_quietly(ref, p.JournalFailed(error=str(exc))),
        )

    def _drain_queue(self) -> None:
        while self.queue and self.live < self.settings.max_live_orders:
            spec, options = self.queue.popleft()
            if self.orders.get(spec.cl_ord_id) is None:
                continue  # cancelled while queued
            self._spawn(spec, options)

    # ---- routing ---------------------------------------------------------------------------

    def _route(self, update: Any) -> None:
        entry = self.orders.get(update.cl_ord_id) if update.cl_ord_id else None
        if entry is None and update.txid:
            cl_ord_id = self.by_txid.get(update.txid)
            entry = self.orders.get(cl_ord_id) if cl_ord_id else None
            if entry is None:
                # Possibly ours before the acknowledgement told us its txid: hold it briefly.
                if len(self.unrouted) < _UNROUTED_LIMIT:
                    self.unrouted.setdefault(update.txid, []).append(update)
                return
        if entry is None or entry.ref is None:
            return
        if entry.txid is None and update.txid:
            self._identified(entry.spec.cl_ord_id, update.txid)
        entry.ref.tell(p.ExchangeUpdate(update=update))

    def _identified(self, cl_ord_id: str, txid: str) -> None:
        entry = self.orders.get(cl_ord_id)
        if entry is None:
            return
        entry.txid = txid
        self.by_txid[txid] = cl_ord_id
        held = self.unrouted.pop(txid, None)
        if held and entry.ref is not None:
            for update in held:
                entry.ref.tell(p.ExchangeUpdate(update=update))

    # ---- endings and restarts --------------------------------------------------------------

    def _finished(self, cl_ord_id: str, filled: Decimal = Decimal(0)) -> None:
        entry = self.orders.get(cl_ord_id)
        if entry is None or entry.finished:
            return
        entry.finished = True
        self.live -= 1
        self.counts["finished"] += 1
        self.exposure.release(cl_ord_id)
        self._child_finished(entry.spec, filled)
        self._drain_queue()

    def _stopped(self, cl_ord_id: str) -> None:
        entry = self.orders.get(cl_ord_id)
        if entry is None or not entry.finished:
            return
        self.orders.pop(cl_ord_id, None)
        if entry.txid is not None:
            self.by_txid.pop(entry.txid, None)

    def _crashed(self, cl_ord_id: str, error: str) -> None:
        entry = self.orders.get(cl_ord_id)
        if entry is None:
            return
        log.error("restarting order %s after a crash (%s)", cl_ord_id, error)
        if not entry.finished:
            self.live -= 1
        entry.ref = None
        spec = entry.spec
        txid = entry.txid
        if self.writer is None:
            self._restore(RestoreOrder(spec=spec, state=OrderState.SUBMITTED, txid=txid))
            return
        ref = self.actor_ref

        def load(journal: Any) -> RestoreOrder:
            # The same reconstruction as start-up recovery: journaled trades plus what was only
            # known cumulatively, the amended size, the time left of the timeout.
            record = journal.order(cl_ord_id)
            if record is None:
                return RestoreOrder(spec=spec, state=OrderState.SUBMITTED, txid=txid)
            restored = msgspec.structs.replace(
                spec,
                quantity=record.quantity,
                timeout_s=record.remaining_timeout(self.clock.time()),
            )
            return RestoreOrder(
                spec=restored,
                state=OrderState(record.status),  # pending_submit is resolved by cl_ord_id
                txid=record.txid or txid,
                fills=ledger_fills(record, journal.fills(cl_ord_id)),
                sequence=record.last_sequence or 0,
            )

        self.writer.submit(
            load,
            on_durable=ref.tell,
            on_error=lambda exc: ref.tell(
                RestoreOrder(spec=spec, state=OrderState.SUBMITTED, txid=txid)
            ),
        )

    def _restore(self, message: RestoreOrder) -> None:
        spec = message.spec
        self.by_signal.setdefault(spec.signal_id, [])
        if spec.cl_ord_id not in self.by_signal[spec.signal_id]:
            self.by_signal[spec.signal_id].append(spec.cl_ord_id)
        self.seen_signals.add(spec.signal_id)
        options: dict[str, Any] = {
            "recover": (message.state, message.txid, list(message.fills), message.sequence)
        }
        if spec.role != "entry":
            options["position"] = (
                message.position if message.position is not None else spec.quantity
            )
            options["sibling_filled"] = message.sibling_filled
            options["entry_final"] = message.entry_final
        if self.orders.get(spec.cl_ord_id) is None:
            self.orders[spec.cl_ord_id] = _Entry(spec, None)
        self._spawn(spec, options)
        if message.txid:
            self._identified(spec.cl_ord_id, message.txid)
        if spec.parent_cl_ord_id and message.state not in TERMINAL_STATES:
            self._restored_child(
                spec, message.generation, message.closed_before, message.sibling_filled
            )

    # ---- cancel, halt, stream --------------------------------------------------------------

    def _cancel_signal(self, signal_id: str) -> None:
        ids = self.by_signal.get(signal_id)
        if not ids:
            log.warning("CancelSignal for unknown signal_id %r", signal_id)
            self.sink.tell(
                ExecutionReport(
                    signal_id=signal_id,
                    client_order_id=new_client_order_id(clock=self.clock),
                    status="rejected",
                    reason=f"CancelSignal: no order of signal_id {signal_id!r} is known",
                    engine_time=self.clock.time(),
                    sequence=1,
                )
            )
            return
        for cl_ord_id in ids:
            self._cancel_one(cl_ord_id, "canceled by CancelSignal")

    def _cancel_one(self, cl_ord_id: str, reason: str) -> None:
        entry = self.orders.get(cl_ord_id)
        if entry is None:
            return
        if entry.spec.role == "entry":
            self.brackets.cancel(cl_ord_id)  # cancelled protection is not placed again
        if entry.finished:
            return
        if entry.ref is None:
            # Still queued behind the cap: never spawned, never sent.
            self.orders.pop(cl_ord_id, None)
            self.sink.tell(
                ExecutionReport(
                    signal_id=entry.spec.signal_id,
                    client_order_id=cl_ord_id,
                    pair=entry.spec.pair,
                    side=entry.spec.side,
                    order_type=entry.spec.order_type,
                    status="canceled",
                    quantity=entry.spec.quantity,
                    reason=reason,
                    engine_time=self.clock.time(),
                    sequence=1,
                )
            )
            return
        entry.ref.tell(p.CancelRequest(reason=reason))

    def _halt(self, reason: str, cancel_open: bool) -> None:
        self.halted = reason
        log.warning("halted: %s%s", reason, " (cancelling open orders)" if cancel_open else "")
        if cancel_open:
            for cl_ord_id in list(self.orders):
                self._cancel_one(cl_ord_id, f"halted: {reason}")

    def _stream(self, up: bool, gap: bool) -> None:
        changed = up != self.stream_up
        self.stream_up = up
        if changed or gap:
            for entry in self.orders.values():
                if entry.ref is not None and not entry.finished:
                    entry.ref.tell(p.StreamChanged(up=up, gap=gap))
        if up:
            if self._audit_generation is None:
                self._audit_generation = self.timers.schedule(
                    _AUDIT_KEY, self.settings.audit_interval_s, self.actor_ref
                )
        else:
            self.timers.cancel(_AUDIT_KEY)
            self._audit_generation = None

    def _audit(self) -> None:
        """While the stream is up: one OpenOrders call, whatever the number of open orders."""
        self._audit_generation = self.timers.schedule(
            _AUDIT_KEY, self.settings.audit_interval_s, self.actor_ref
        )
        if any(e.txid is not None and not e.finished for e in self.orders.values()):
            self._request_id += 1
            self.gateway.tell(
                p.ListOpenOrders(request_id=self._request_id, reply_to=self.actor_ref)
            )

    def _audit_result(self, result: p.OpenOrdersResult) -> None:
        if result.error is not None:
            return
        open_ids = set(result.orders)
        for entry in self.orders.values():
            if entry.finished or entry.ref is None or entry.txid is None:
                continue
            if entry.txid not in open_ids:
                entry.ref.tell(p.VerifyStatus())

    def _health(self) -> dict[str, Any]:
        return {
            "exposure_total": str(self.exposure.notional()),
            "halted": self.halted,
            "stream_up": self.stream_up,
            "live_orders": self.live,
            "queued_orders": len(self.queue),
            "breakers": dict(self.breakers),
            **self.counts,
        }
