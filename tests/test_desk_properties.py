"""The Desk under every interleaving: signals, fills, amends, cancels, halts, crashes and
restarts.

A hypothesis state machine plays the supervisor's shell, the order actors and a simple exchange
around a real Desk and real OrderModels, and checks after every step that
- a signal never has more than one entry order, whatever is replayed or restarted;
- protective children never cover more than their entry has filled;
- the OCO pair never closes more than the position (it never closes twice);
- the journal's reports of each order are gap-free and replay to the order's own state and
  figures (amends included);
- every amend ends in exactly one outcome: refused, reported amended / refused / not applied, or
  overtaken by the order's end; a live stop-loss stays below its take-profit;
- the desk's positions are the journal's fills, and its working quantity what its live entries
  have left to fill.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from gal_exec.actors.order_io import report_from_emit
from gal_exec.core import desk as dk
from gal_exec.core import order as om
from gal_exec.core.amend import Figures
from gal_exec.core.clock import ManualClock
from gal_exec.core.grid import PairLimits
from gal_exec.core.ledger import Fill
from gal_exec.core.updates import ExchangeStatus, OrderUpdate, UpdateSource
from gal_exec.core.vocabulary import Role
from gal_exec.messages import AmendSignal, ExecutionReport, TradeSignalApproved

D = Decimal
XBT = PairLimits(
    pair="BTC/USD",
    name="XBT/USD",
    request_name="XBTUSD",
    price_decimals=1,
    tick_size=D("0.1"),
    lot_step=D("0.01"),
    ordermin=D("0.01"),
)
SIGNAL_IDS = [f"s{i}" for i in range(6)]


def pairs(name: str) -> PairLimits | None:
    return XBT if name.replace("/", "").upper() in ("XBTUSD", "BTCUSD") else None


class World:
    """The shell, the actors and the exchange around one Desk: effects are carried out at once."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.desk = dk.Desk(dk.DeskSettings(max_live_orders=3), pairs=pairs, clock=clock)
        self.desk.restore({})
        self.running: dict[str, om.OrderModel] = {}
        self.links: dict[str, str] = {}
        self.told: dict[str, Decimal] = {}
        self.specs: dict[str, om.OrderSpec] = {}  # journaled intents, in birth order
        self.journal: list[ExecutionReport] = []  # every report, in the order it was journaled
        self.txids = itertools.count(1)
        self.trades = itertools.count(1)
        self.inflight: dict[str, om.OrderModel] = {}  # amends sent, not answered
        self.rejections: list[str] = []  # refused signals and amends

    # ---- the shell -------------------------------------------------------------------------

    def desk_effects(self, effects: list[dk.DeskEffect]) -> None:
        for effect in effects:
            match effect:
                case dk.Run(model=model, resume=resume, durable=durable):
                    self.running[model.spec.cl_ord_id] = model
                    if resume:
                        self.order_effects(model, model.resume(self.clock.monotonic()))
                    elif durable:
                        self.order_effects(model, model.intent_durable())
                case dk.Journal(model=model, to_order=to_order):
                    first, _ = model.start()
                    self.specs[model.spec.cl_ord_id] = model.spec
                    self.record(model, first)
                    if to_order:
                        self.order_effects(model, model.intent_durable())
                    else:
                        self.desk_effects(self.desk.durable(model.spec.cl_ord_id))
                case dk.Tell(cl_ord_id=cl_ord_id, message=message):
                    model = self.running.get(cl_ord_id)
                    if model is not None:
                        self.order_effects(model, self.command(model, message))
                case dk.Link(first=first, second=second):
                    self.links[first], self.links[second] = second, first
                    self.told.pop(first, None)  # a new link hears everything again
                    self.told.pop(second, None)
                    for child in (first, second):
                        if child in self.running:
                            self.tell_sibling(self.running[child])
                case dk.Report(model=model, effects=steps):
                    for step in steps:
                        if isinstance(step, om.Emit):
                            self.record(model, step)
                case dk.Reload(spec=spec):
                    reports = [r for r in self.journal if r.client_order_id == spec.cl_ord_id]
                    self.desk_effects(self.desk.reloaded(spec, reports))
                case dk.Reject(reason=reason):
                    self.rejections.append(reason)
                case dk.JournalLevels(cl_ord_id=entry, sl_price=sl, tp_price=tp):
                    levels = {"sl_price": sl} if sl is not None else {"tp_price": tp}
                    self.specs[entry] = msgspec.structs.replace(self.specs[entry], **levels)
                case _:
                    pass  # notes, rejections, batches, audits, settlement: nothing to carry out

    def command(self, model: om.OrderModel, message: Any) -> list[om.Effect]:
        match message:
            case dk.CancelOrder(reason=reason):
                return model.cancel(reason)
            case dk.AmendOrder(change=change):
                return model.amend(change)
            case dk.SetPosition(filled_quantity=quantity, final=final):
                return model.set_position(quantity, final=final)
            case dk.StreamChanged(up=up, gap=gap):
                return model.stream_changed(up, gap=gap)
            case dk.IntentDurable():
                return model.intent_durable()
            case OrderUpdate():
                return model.exchange_update(message, self.clock.monotonic())
        return []

    # ---- the order actors and the exchange -------------------------------------------------

    def order_effects(self, model: om.OrderModel, effects: list[om.Effect]) -> None:
        cl_ord_id = model.spec.cl_ord_id
        for effect in effects:
            match effect:
                case om.Emit():
                    self.record(model, effect)
                case om.Place():
                    txid = f"T{next(self.txids)}"
                    self.order_effects(model, model.placed(txid, self.clock.monotonic()))
                case om.Cancel():
                    update = OrderUpdate(
                        source=UpdateSource.STREAM, txid=model.txid, status=ExchangeStatus.CANCELED
                    )
                    self.order_effects(model, model.exchange_update(update, 0.0))
                case om.Amend(resize=True):
                    self.order_effects(model, model.amend_result(True, 0.0, resize=True))
                case om.Amend():
                    self.inflight[cl_ord_id] = model  # an operator's: answered by a rule, later
                case om.AmendRefused(reason=reason):
                    self.rejections.append(reason)
                case om.FiguresChanged(quantity=quantity, limit_price=limit, trigger_price=trigger):
                    figures = Figures(quantity=quantity, limit_price=limit, trigger_price=trigger)
                    self.desk_effects(self.desk.amended(cl_ord_id, figures))
                case om.Withdraw():
                    self.order_effects(model, model.withdraw_result(False))
                case om.PositionChanged(filled_quantity=filled, average_price=avg, final=final):
                    if model.spec.protected:
                        self.desk_effects(
                            self.desk.filled(cl_ord_id, filled, average=avg, final=final)
                        )
                case om.Finished():
                    self.desk_effects(self.desk.finished(cl_ord_id, model.ledger.filled_quantity))
                case _:
                    pass  # timers, status queries, look-ups: nothing happens in this world
        self.tell_sibling(model)

    def tell_sibling(self, model: om.OrderModel) -> None:
        """As the actor does: tell the OCO sibling what this child filled, once per change."""
        cl_ord_id = model.spec.cl_ord_id
        sibling = self.running.get(self.links.get(cl_ord_id, ""))
        filled = model.ledger.filled_quantity
        if sibling is not None and filled > self.told.get(cl_ord_id, D(0)):
            self.told[cl_ord_id] = filled
            self.order_effects(sibling, sibling.set_sibling_filled(filled))

    def record(self, model: om.OrderModel, emit: om.Emit) -> None:
        report = report_from_emit(model.spec, emit, self.clock.time())
        self.journal.append(report)
        if emit.fill is not None:
            self.desk.fill_reported(report)

    def answer_amend(self, model: om.OrderModel, outcome: str) -> None:
        """The exchange answers an amend: applied, refused, or lost (applied or not)."""
        pending = model.amend_pending
        if pending is None:
            return
        applied = model.figures.after(pending.change)
        if outcome == "ok":
            effects = model.amend_result(True, 0.0, resize=False)
        elif outcome == "refused":
            effects = model.amend_result(
                False, 0.0, category="permanent", raw="EOrder:Refused", resize=False
            )
        elif outcome == "stream":
            update = OrderUpdate(
                source=UpdateSource.STREAM,
                txid=model.txid,
                order_quantity=applied.quantity,
                limit_price=applied.limit_price,
                trigger_price=applied.trigger_price,
                amended=True,
            )
            effects = model.exchange_update(update, 0.0)
            self.order_effects(model, effects)
            effects = model.amend_result(True, 0.0, resize=False)
        else:
            effects = model.amend_result(
                False, 0.0, category="outcome_unknown", raw="timeout", resize=False
            )
            self.order_effects(model, effects)
            shown = applied if outcome == "lost_applied" else model.figures
            record = OrderUpdate(
                source=UpdateSource.REST,
                txid=model.txid,
                status=ExchangeStatus.OPEN,
                order_quantity=shown.quantity,
                limit_price=shown.limit_price,
                trigger_price=shown.trigger_price,
            )
            effects = model.amend_lookup(record, 0.0)
        self.order_effects(model, effects)

    def fill(self, model: om.OrderModel, quantity: Decimal) -> None:
        fill = Fill(
            trade_id=str(next(self.trades)),
            quantity=quantity,
            price=D("60000.0"),
            fee=D("0.1"),
            fee_asset="USD",
        )
        update = OrderUpdate(source=UpdateSource.STREAM, txid=model.txid, fill=fill)
        self.order_effects(model, model.exchange_update(update, self.clock.monotonic()))

    # ---- a restart -------------------------------------------------------------------------

    def restart(self) -> None:
        """The process dies; a new desk is rebuilt from the journal alone."""
        self.running.clear()
        self.links.clear()
        self.told.clear()
        self.inflight.clear()  # their answers go to a process that is gone
        seen = {spec.signal_id for spec in self.specs.values()}
        self.desk = dk.Desk(
            dk.DeskSettings(max_live_orders=3), pairs=pairs, clock=self.clock, seen_signals=seen
        )
        self.desk.load_fills([r for r in self.journal if r.last_fill_quantity])
        models, notes = self.desk.replay(self.specs, list(self.journal))
        assert notes == []
        self.desk_effects(self.desk.restore(models))


class DeskMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = World(ManualClock())

    @rule(
        signal_id=st.sampled_from(SIGNAL_IDS),
        market=st.booleans(),
        bracket=st.booleans(),
        quantity=st.sampled_from(["0.1", "0.5", "1.0"]),
    )
    def signal(self, signal_id: str, market: bool, bracket: bool, quantity: str) -> None:
        signal = TradeSignalApproved(
            signal_id=signal_id,
            pair="XBT/USD",
            side="buy",
            order_type="market" if market else "limit",
            quantity=D(quantity),
            limit_price=None if market else D("60000.0"),
            sl_price=D("50000.0") if bracket else None,
            tp_price=D("70000.0") if bracket else None,
        )
        self.world.desk_effects(self.world.desk.signal(signal))

    @rule(pick=st.integers(0, 50), share=st.sampled_from(["0.01", "0.1", "0.3", "1"]))
    def fill(self, pick: int, share: str) -> None:
        live = [m for m in self.world.running.values() if m.txid is not None and not m.terminal]
        if not live:
            return
        model = live[pick % len(live)]
        remaining = model.ledger.remaining_quantity
        quantity = min(remaining, max(D("0.01"), (remaining * D(share)).quantize(D("0.01"))))
        if quantity > 0:
            self.world.fill(model, quantity)

    @rule(
        pick=st.integers(0, 50),
        by_signal=st.booleans(),
        quantity=st.sampled_from([None, "0.05", "0.3", "0.8", "1.5"]),
        price=st.sampled_from([None, "55000.0", "61000.0", "49000.0", "60000.05"]),
        trigger=st.sampled_from(["45000.0", "52000.0", "75000.0"]),
    )
    def amend(
        self, pick: int, by_signal: bool, quantity: str | None, price: str | None, trigger: str
    ) -> None:
        """An operator's amend of any order the desk knows, good or bad."""
        known = sorted(self.world.desk.orders)
        if not known:
            return
        cl_ord_id = known[pick % len(known)]
        spec = self.world.desk.orders[cl_ord_id].spec
        child = spec.is_child
        message = AmendSignal(
            signal_id=spec.signal_id if by_signal else None,
            client_order_id=None if by_signal else cl_ord_id,
            quantity=D(quantity) if quantity is not None and not child else None,
            limit_price=D(price) if price is not None and not child else None,
            trigger_price=D(trigger) if child else None,
        )
        rejections = len(self.world.rejections)
        waiting = dict(self.world.inflight)
        self.world.desk_effects(self.world.desk.amend(message))
        sent = [cl for cl, model in self.world.inflight.items() if waiting.get(cl) is not model]
        refused = len(self.world.rejections) - rejections
        assert refused + len(sent) == 1, "an amend must be sent or refused, once"

    @rule(
        pick=st.integers(0, 50),
        outcome=st.sampled_from(["ok", "refused", "stream", "lost_applied", "lost_not_applied"]),
    )
    def answer_amend(self, pick: int, outcome: str) -> None:
        inflight = sorted(self.world.inflight)
        if not inflight:
            return
        cl_ord_id = inflight[pick % len(inflight)]
        model = self.world.inflight.pop(cl_ord_id)
        if self.world.running.get(cl_ord_id) is not model:
            return  # the order crashed meanwhile; its new model knows nothing of this amend
        journaled = len(self.world.journal)
        terminal = model.terminal
        self.world.answer_amend(model, outcome)
        resized = "amended: quantity"  # a child's own resize, reported on its own
        said = [
            r
            for r in self.world.journal[journaled:]
            if r.client_order_id == cl_ord_id
            and (r.reason or "").startswith(("amended", "amend refused", "amend not applied"))
            and not (model.spec.is_child and (r.reason or "").startswith(resized))
        ]
        assert len(said) == (0 if terminal else 1), [r.reason for r in said]

    def entry_of(self, signal_id: str) -> str | None:
        for cl_ord_id in self.world.desk.by_signal.get(signal_id, []):
            order = self.world.desk.orders.get(cl_ord_id)
            if order is not None and order.spec.role == Role.ENTRY:
                return cl_ord_id
        return None

    @rule(signal_id=st.sampled_from(SIGNAL_IDS))
    def cancel_signal(self, signal_id: str) -> None:
        self.world.desk_effects(self.world.desk.cancel_signal(signal_id))

    @rule(cancel_open=st.booleans())
    def halt(self, cancel_open: bool) -> None:
        self.world.desk_effects(self.world.desk.halt("test", cancel_open=cancel_open))

    @rule()
    def resume(self) -> None:
        self.world.desk_effects(self.world.desk.resume())

    @rule(pick=st.integers(0, 50))
    def crash_one_order(self, pick: int) -> None:
        running = sorted(self.world.running)
        if not running:
            return
        cl_ord_id = running[pick % len(running)]
        del self.world.running[cl_ord_id]
        self.world.desk_effects(self.world.desk.crashed(cl_ord_id))

    @rule()
    def restart(self) -> None:
        self.world.restart()

    # ---- invariants ------------------------------------------------------------------------

    @invariant()
    def one_entry_per_signal(self) -> None:
        entries: dict[str, int] = {}
        for spec in self.world.specs.values():
            if spec.role == Role.ENTRY:
                entries[spec.signal_id] = entries.get(spec.signal_id, 0) + 1
        assert all(count == 1 for count in entries.values()), entries

    @invariant()
    def protection_stays_within_the_position(self) -> None:
        filled = self.filled_by_order()
        for spec in self.world.specs.values():
            if spec.role != Role.ENTRY:
                continue
            position = filled.get(spec.cl_ord_id, D(0))
            children = [
                s for s in self.world.specs.values() if s.parent_cl_ord_id == spec.cl_ord_id
            ]
            closed = sum((filled.get(c.cl_ord_id, D(0)) for c in children), D(0))
            assert closed <= position, f"{spec.signal_id}: children closed {closed} of {position}"
            for child in children:
                model = self.world.running.get(child.cl_ord_id)
                if model is not None and not model.terminal:
                    assert model.ledger.order_quantity <= position, (
                        f"{child.cl_ord_id} covers {model.ledger.order_quantity} of {position}"
                    )

    @invariant()
    def reports_are_gap_free_and_replay_to_the_order(self) -> None:
        by_order: dict[str, list[ExecutionReport]] = {}
        for report in self.world.journal:
            by_order.setdefault(report.client_order_id, []).append(report)
        for cl_ord_id, reports in by_order.items():
            if cl_ord_id not in self.world.specs:
                continue  # a rejected signal's single report
            assert [r.sequence for r in reports] == list(range(1, len(reports) + 1)), cl_ord_id
            model = self.world.running.get(cl_ord_id)
            if model is not None:
                rebuilt = om.OrderModel(model.spec)
                for report in reports:
                    rebuilt.replay(report)
                assert rebuilt.state is model.state, cl_ord_id
                assert rebuilt.ledger.filled_quantity == model.ledger.filled_quantity
                assert rebuilt.figures == model.figures, cl_ord_id

    @invariant()
    def positions_are_the_journals_fills(self) -> None:
        net = D(0)
        for report in self.world.journal:
            if report.last_fill_quantity:
                net += report.last_fill_quantity * (1 if report.side == "buy" else -1)
        assert self.world.desk.positions.net("XBT/USD") == net

    @invariant()
    def working_is_what_live_entries_have_left(self) -> None:
        expected = D(0)
        for order in self.world.desk.orders.values():
            if order.spec.role != Role.ENTRY or order.finished:
                continue
            model = self.world.running.get(order.spec.cl_ord_id) or order.model
            if model is not None:
                expected += model.ledger.remaining_quantity
        assert self.world.desk.working.quantity("XBT/USD", "buy") == expected

    @invariant()
    def a_live_stop_stays_below_its_take_profit(self) -> None:
        by_parent: dict[str, dict[Role, Decimal]] = {}
        for model in self.world.running.values():
            spec = model.spec
            if spec.is_child and not model.terminal and model.trigger_price is not None:
                levels = by_parent.setdefault(spec.parent_cl_ord_id or "", {})
                levels[Role(spec.role)] = model.trigger_price
        for levels in by_parent.values():
            if Role.STOP_LOSS in levels and Role.TAKE_PROFIT in levels:
                assert levels[Role.STOP_LOSS] < levels[Role.TAKE_PROFIT], levels

    def filled_by_order(self) -> dict[str, Decimal]:
        filled: dict[str, Decimal] = {}
        for report in self.world.journal:
            filled[report.client_order_id] = report.filled_quantity
        return filled


DeskMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None, derandomize=True
)
TestDeskInterleavings = DeskMachine.TestCase


class LongDeskMachine(DeskMachine):
    """The same machine, many more and longer interleavings (``scripts/test -m slow``)."""


LongDeskMachine.TestCase.settings = settings(
    max_examples=3000, stateful_step_count=60, deadline=None
)
# Minutes, not the suite's 60 s per test: 3,000 interleavings of up to 60 steps.
TestDeskInterleavingsLong = pytest.mark.timeout(900)(pytest.mark.slow(LongDeskMachine.TestCase))
