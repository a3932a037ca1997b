"""The Desk in isolation: intake, protection, halts, restore. Pure: no actors, no threads."""

from __future__ import annotations

from decimal import Decimal

from gal_exec.core import desk as dk
from gal_exec.core.clock import ManualClock
from gal_exec.core.grid import PairLimits
from gal_exec.core.market import Quote
from gal_exec.core.order import OrderModel
from gal_exec.core.vocabulary import OrderStatus, Role
from gal_exec.messages import TradeSignalApproved

D = Decimal
XBT = PairLimits(
    pair="BTC/USD",
    name="XBT/USD",
    request_name="XBTUSD",
    price_decimals=1,
    tick_size=D("0.1"),
    lot_step=D("0.00000001"),
    ordermin=D("0.0001"),
)


def desk(**settings) -> dk.Desk:
    clock = ManualClock(1_700_000_000.0)
    made = dk.Desk(dk.DeskSettings(**settings), pairs=lambda name: XBT, clock=clock)
    made.restore({})
    return made


def signal(signal_id: str = "s1", **fields) -> TradeSignalApproved:
    base = dict(
        signal_id=signal_id, pair="XBT/USD", side="buy", order_type="market", quantity=D("0.01")
    )
    base.update(fields)
    return TradeSignalApproved(**base)


def of(kind, effects):
    return [e for e in effects if isinstance(e, kind)]


def quote(last: str) -> Quote:
    return Quote(pair="BTC/USD", last=D(last), time=1_700_000_000.0, checked_at=1_700_000_000.0)


def test_a_market_bracket_is_checked_against_the_last_price() -> None:
    d = desk()
    d.quote(quote("60000.0"))
    effects = d.signal(signal(sl_price=D("60500.0"), tp_price=D("61000.0")))
    [reject] = of(dk.Reject, effects)
    assert reject.reason == "sl_price 60500.0 must be below the last price 60000.0 for a buy"
    assert of(dk.Run, effects) == []


def test_a_child_whose_trigger_the_fill_passed_is_a_rejected_child() -> None:
    """No ticker: the entry's fill price is the last price known."""
    d = desk()
    [run] = of(dk.Run, d.signal(signal(sl_price=D("59000.0"), tp_price=D("61000.0"))))
    entry = run.model.spec.cl_ord_id
    effects = d.filled(entry, D("0.01"), average=D("58900.0"), final=True)
    journals = of(dk.Journal, effects)
    by_role = {j.model.spec.role: j.model for j in journals}
    assert set(by_role) == {Role.STOP_LOSS, Role.TAKE_PROFIT}
    stop = by_role[Role.STOP_LOSS]
    assert stop.rejection == (
        "stop_loss trigger 59000.0 would fire at once: it must be below the entry's fill price "
        "58900.0"
    )
    first, _ = stop.start()
    assert first.status is OrderStatus.REJECTED and first.reason == stop.rejection
    # only the take-profit runs; nothing links a single child
    assert [r.model.spec.role for r in of(dk.Run, effects)] == [Role.TAKE_PROFIT]
    assert of(dk.Link, effects) == []


def test_halt_refuses_and_resume_lifts() -> None:
    d = desk()
    d.halt("risk", cancel_open=False)
    [reject] = of(dk.Reject, d.signal(signal("h1")))
    assert reject.reason == "halted: risk"
    d.resume()
    assert of(dk.Run, d.signal(signal("h2")))


def test_a_signal_id_is_placed_once_even_across_a_restart() -> None:
    d = desk()
    [run] = of(dk.Run, d.signal(signal("once")))
    restarted = dk.Desk(
        dk.DeskSettings(), pairs=lambda name: XBT, clock=ManualClock(), seen_signals=["once"]
    )
    [reject] = of(dk.Reject, restarted.signal(signal("once")))
    assert reject.reason == "duplicate signal_id 'once': it was placed already"
    assert run.model.spec.signal_id == "once"


def test_anomalies_are_counted_for_the_operator() -> None:
    d = desk()
    d.anomaly("g1", "report #2: pending_submit -> pending_cancel is not in the transition table")
    health = d.health()
    assert health.anomalies == 1
    assert health.last_anomaly.startswith("g1: report #2")


def test_restore_runs_what_is_open_and_places_missing_protection() -> None:
    """The journal holds a filled entry with a stop-loss and take-profit wanted but no child:
    the replay sees the fill, restore places the pair."""
    live = desk()
    [run] = of(dk.Run, live.signal(signal("b", sl_price=D("50000.0"), tp_price=D("70000.0"))))
    model: OrderModel = run.model
    from gal_exec.actors.order_io import report_from_emit

    first, _ = model.start()
    emits = [first, *model.intent_durable(), *model.placed("OTX", now=0.0)]
    from gal_exec.core.ledger import Fill
    from gal_exec.core.updates import OrderUpdate, UpdateSource

    fill = Fill(trade_id="1", quantity=D("0.01"), price=D("60000.0"), fee=D("0"))
    emits += model.exchange_update(OrderUpdate(source=UpdateSource.STREAM, fill=fill), 0.0)
    reports = [report_from_emit(model.spec, e, 0.0) for e in emits if hasattr(e, "sequence")]
    restarted = dk.Desk(dk.DeskSettings(), pairs=lambda name: XBT, clock=ManualClock())
    models, notes = restarted.replay({model.spec.cl_ord_id: model.spec}, reports)
    assert notes == [] and models[model.spec.cl_ord_id].state is OrderStatus.FILLED
    effects = restarted.restore(models)
    runs = of(dk.Run, effects)
    assert sorted(r.model.spec.role for r in runs) == [Role.STOP_LOSS, Role.TAKE_PROFIT]
    assert all(r.model.position == D("0.01") for r in runs)
    assert len(of(dk.Link, effects)) == 1
