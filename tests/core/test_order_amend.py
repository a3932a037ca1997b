"""An operator's amend in the pure order model: sent once, reported whatever its outcome, never
re-sent blind, resolved from the order's record when its answer is lost."""

from __future__ import annotations

from decimal import Decimal

from gal_exec.actors.order_io import report_from_emit
from gal_exec.core import order as om
from gal_exec.core.amend import AmendChange
from gal_exec.core.ledger import Fill
from gal_exec.core.updates import ExchangeStatus, OrderUpdate, UpdateSource
from gal_exec.core.vocabulary import OrderStatus
from tests.core.test_order_model import spec

D = Decimal


def open_model(**overrides) -> om.OrderModel:
    model = om.OrderModel(spec(timeout_s=None, **overrides), om.OrderSettings(resolve_delay_s=0.5))
    model.start()
    model.intent_durable()
    model.placed("OTX-1", now=0.0)
    return model


def emits(effects: list[om.Effect]) -> list[om.Emit]:
    return [e for e in effects if isinstance(e, om.Emit)]


def trade(trade_id: str, quantity: str) -> OrderUpdate:
    fill = Fill(
        trade_id=trade_id, quantity=D(quantity), price=D("100.0"), fee=D("0.01"), fee_asset="USD"
    )
    return OrderUpdate(source=UpdateSource.STREAM, txid="OTX-1", fill=fill)


def record(*, quantity: str = "1.0", limit: str = "100.0", status=ExchangeStatus.OPEN):
    """The order as QueryOrders shows it."""
    return OrderUpdate(
        source=UpdateSource.REST,
        txid="OTX-1",
        status=status,
        order_quantity=D(quantity),
        limit_price=D(limit),
    )


def test_an_amend_sends_only_what_changes_and_reports_the_change() -> None:
    model = open_model()
    effects = model.amend(AmendChange(quantity=D("1.0"), limit_price=D("101.0")))
    assert effects == [om.Amend(limit_price=D("101.0"))]
    effects = model.amend_result(True, now=1.0)
    (report,) = emits(effects)
    assert report.reason == "amended: limit_price 100.0 -> 101.0"
    assert (report.status, report.quantity, report.limit_price) == (
        OrderStatus.OPEN,
        D("1.0"),
        D("101.0"),
    )
    assert om.FiguresChanged(quantity=D("1.0"), limit_price=D("101.0")) in effects
    assert model.placed_at == 1.0  # the order's age for Kraken's rate cost starts again


def test_amends_the_order_cannot_take_are_refused_with_the_reason() -> None:
    unsent = om.OrderModel(spec())
    unsent.start()
    unsent.intent_durable()
    (refused,) = unsent.amend(AmendChange(limit_price=D("101.0")))
    assert isinstance(refused, om.AmendRefused) and "not yet acknowledged" in refused.reason

    model = open_model()
    model.exchange_update(trade("T1", "0.4"), 1.0)
    for change, why in (
        (AmendChange(quantity=D("0.4")), "must be above the filled quantity 0.4"),
        (AmendChange(limit_price=D("100.0")), "nothing to change"),
    ):
        (refused,) = model.amend(change)
        assert isinstance(refused, om.AmendRefused) and why in refused.reason
    model.amend(AmendChange(limit_price=D("99.0")))
    (refused,) = model.amend(AmendChange(limit_price=D("98.0")))
    assert "not answered yet" in refused.reason  # isinstance checked by the field access
    model.amend_result(True, now=1.0)
    model.cancel("operator")
    (refused,) = model.amend(AmendChange(limit_price=D("98.0")))
    assert "cancel of the order is pending" in refused.reason


def test_a_refusal_from_the_exchange_is_reported_and_changes_nothing() -> None:
    model = open_model()
    model.amend(AmendChange(quantity=D("2.0")))
    effects = model.amend_result(
        False,
        now=1.0,
        category="permanent",
        code="EOrder:Insufficient funds",
        raw="EOrder:Insufficient funds",
    )
    (report,) = emits(effects)
    assert report.error_code == "EOrder:Insufficient funds"
    assert report.status is OrderStatus.OPEN and report.quantity == D("1.0")
    assert report.reason == (
        "amend refused by the exchange (quantity 2.0): EOrder:Insufficient funds; the order "
        "stays as it was (quantity 1.0, limit_price 100.0)"
    )
    assert not any(isinstance(e, om.FiguresChanged) for e in effects)


def test_a_lost_answer_is_never_resent_and_the_record_shows_it_applied() -> None:
    model = open_model()
    model.amend(AmendChange(limit_price=D("101.0")))
    effects = model.amend_result(
        False, now=1.0, category="outcome_unknown", code="transport:timeout", raw="timeout"
    )
    (report,) = emits(effects)
    assert report.reason.startswith("amend outcome unknown (limit_price 101.0): timeout")
    assert report.limit_price == D("100.0")
    assert om.StartTimer(name=om.RESOLVE_AMEND, delay_s=0.5) in effects
    assert not any(isinstance(e, om.Amend) for e in effects)
    assert model.timer(om.RESOLVE_AMEND) == [om.QueryAmend()]
    # A failed look-up asks again later; an answer that does not list the order too.
    assert model.amend_lookup_failed() == [om.StartTimer(name=om.RESOLVE_AMEND, delay_s=0.5)]
    effects = model.amend_lookup(record(limit="101.0"), now=2.0)
    (report,) = emits(effects)
    assert report.reason == (
        "amended (its answer was lost; the order shows it): limit_price 100.0 -> 101.0"
    )
    assert model.limit_price == D("101.0") and model.amend_pending is None
    assert model.timer(om.RESOLVE_AMEND) == []


def test_a_lost_answer_whose_amend_did_not_apply_says_so() -> None:
    model = open_model()
    model.amend(AmendChange(quantity=D("0.5"), limit_price=D("101.0")))
    model.amend_result(False, now=1.0, category="outcome_unknown", raw="502")
    effects = model.amend_lookup(record(), now=2.0)
    (report,) = emits(effects)
    assert report.reason == (
        "amend not applied (quantity 0.5, limit_price 101.0): its answer was lost and the order "
        "shows quantity 1.0, limit_price 100.0"
    )
    assert model.figures.limit_price == D("100.0") and model.order_quantity == D("1.0")
    assert model.amend_pending is None


def test_the_streams_amended_event_settles_the_amend_first() -> None:
    model = open_model()
    model.amend(AmendChange(quantity=D("0.6")))
    amended = OrderUpdate(
        source=UpdateSource.STREAM,
        txid="OTX-1",
        status=ExchangeStatus.OPEN,
        order_quantity=D("0.6"),
        limit_price=D("100.0"),
        amended=True,
    )
    (report,) = emits(model.exchange_update(amended, 1.0))
    assert report.reason == "amended: quantity 1.0 -> 0.6" and report.quantity == D("0.6")
    assert model.amend_result(True, now=1.1) == []  # the REST answer adds nothing


def test_a_restated_order_is_reported_with_the_exchanges_figures() -> None:
    model = open_model()
    restated = OrderUpdate(
        source=UpdateSource.STREAM, txid="OTX-1", order_quantity=D("0.7"), amended=True
    )
    (report,) = emits(model.exchange_update(restated, 1.0))
    assert report.reason == "amended on the exchange: quantity 1.0 -> 0.7"


def test_a_cancel_during_an_amend_ends_in_one_terminal_report() -> None:
    model = open_model()
    model.amend(AmendChange(limit_price=D("101.0")))
    model.cancel("operator")
    canceled = OrderUpdate(source=UpdateSource.STREAM, txid="OTX-1", status=ExchangeStatus.CANCELED)
    final = emits(model.exchange_update(canceled, 1.0))
    assert [r.status for r in final] == [OrderStatus.CANCELED]
    assert model.amend_result(True, now=2.0) == []
    assert model.amend_result(False, now=2.0, category="outcome_unknown") == []
    assert model.timer(om.RESOLVE_AMEND) == []


def test_an_amend_that_meets_the_filled_quantity_fills_the_order() -> None:
    # Kraken takes a quantity at or below the filled one as the filled one: nothing is left.
    model = open_model(sl_price=D("90.0"))
    model.exchange_update(trade("T1", "0.4"), 1.0)
    model.amend(AmendChange(quantity=D("0.5")))
    model.exchange_update(trade("T2", "0.1"), 1.5)  # filled meanwhile
    effects = model.amend_result(True, now=2.0)
    assert model.state is OrderStatus.FILLED
    assert [r.status for r in emits(effects)][-1] is OrderStatus.FILLED
    assert om.PositionChanged(filled_quantity=D("0.5"), average_price=D("100.0"), final=True) in (
        effects
    )


def test_a_resumed_order_takes_the_figures_its_record_shows() -> None:
    """A crash after an amend applied and before its report was journaled."""
    live = om.OrderModel(spec())
    first, _ = live.start()
    journaled = [first, *emits(live.intent_durable()), *emits(live.placed("OTX-1", now=0.0))]
    reports = [report_from_emit(live.spec, emit, 1.0) for emit in journaled]
    model = om.OrderModel(spec())
    for report in reports:
        model.replay(report)
    model.resume(now=5.0)
    (report,) = emits(model.exchange_update(record(limit="102.0"), 6.0))
    assert report.reason == (
        "the exchange shows the order amended while the engine was down: limit_price 100.0 -> 102.0"
    )
    assert emits(model.exchange_update(record(limit="103.0"), 7.0)) == []  # only the first


def test_a_childs_resize_with_a_lost_answer_is_resolved_not_resent() -> None:
    child = om.OrderModel(
        spec(
            cl_ord_id="g-1-sl",
            role="stop_loss",
            parent_cl_ord_id="g-1",
            side="sell",
            order_type="stop-loss",
            limit_price=None,
            trigger_price=D("90.0"),
            quantity=D("0.5"),
        )
    )
    child.protect(D("0.5"))
    child.start()
    child.intent_durable()
    child.placed("OTX-1", now=0.0)
    assert child.set_position(D("0.8"), final=False) == [om.Amend(quantity=D("0.8"), resize=True)]
    effects = child.amend_result(False, now=1.0, category="outcome_unknown", raw="timeout")
    assert emits(effects) == []  # a resize is reported when it applies
    assert not any(isinstance(e, om.Amend) for e in effects)
    assert child.set_position(D("1.0"), final=False) == []  # waits for the first
    effects = child.amend_lookup(
        OrderUpdate(source=UpdateSource.REST, txid="OTX-1", order_quantity=D("0.8")), now=2.0
    )
    assert child.order_quantity == D("0.8")
    assert om.Amend(quantity=D("1.0"), resize=True) in effects


def placed_child(position: str = "1.0") -> om.OrderModel:
    child = om.OrderModel(
        spec(
            cl_ord_id="g-1-sl",
            role="stop_loss",
            parent_cl_ord_id="g-1",
            side="sell",
            order_type="stop-loss",
            limit_price=None,
            trigger_price=D("90.0"),
            quantity=D(position),
        )
    )
    child.protect(D(position))
    child.start()
    child.intent_durable()
    child.placed("OTX-1", now=0.0)
    return child


def test_a_moving_stop_still_follows_its_sibling_at_once() -> None:
    """While an operator's trigger amend is in flight the OCO does not wait for it: the resize
    (another figure) goes alongside, and a closed position cancels the child."""
    child = placed_child()
    assert child.amend(AmendChange(trigger_price=D("95.0"))) == [om.Amend(trigger_price=D("95.0"))]
    assert child.set_sibling_filled(D("0.4")) == [om.Amend(quantity=D("0.6"), resize=True)]
    (resized,) = emits(child.amend_result(True, now=1.0, resize=True))
    assert resized.reason == "amended: quantity 1.0 -> 0.6" and resized.trigger_price == D("90.0")
    (moved,) = emits(child.amend_result(True, now=1.1, resize=False))
    assert moved.reason == "amended: trigger_price 90.0 -> 95.0" and moved.quantity == D("0.6")

    child.amend(AmendChange(trigger_price=D("96.0")))
    effects = child.set_sibling_filled(D("1.0"))
    assert om.Cancel() in effects and child.state is OrderStatus.PENDING_CANCEL


def test_two_lost_answers_are_resolved_by_one_record() -> None:
    child = placed_child()
    child.amend(AmendChange(trigger_price=D("95.0")))
    child.set_sibling_filled(D("0.4"))
    child.amend_result(False, now=1.0, category="outcome_unknown", raw="timeout", resize=True)
    child.amend_result(False, now=1.0, category="outcome_unknown", raw="timeout", resize=False)
    assert child.timer(om.RESOLVE_AMEND) == [om.QueryAmend()]
    shown = OrderUpdate(
        source=UpdateSource.REST,
        txid="OTX-1",
        status=ExchangeStatus.OPEN,
        order_quantity=D("0.6"),
        trigger_price=D("90.0"),
    )
    reasons = [e.reason for e in emits(child.amend_lookup(shown, now=2.0))]
    assert reasons == [
        "amend not applied (trigger_price 95.0): its answer was lost and the order shows "
        "quantity 0.6, trigger_price 90.0",
        "amended (its answer was lost; the order shows it): quantity 1.0 -> 0.6",
    ]
    assert (child.amend_pending, child.resize_pending) == (None, None)
