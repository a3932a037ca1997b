"""OrderActor in isolation: a real Pykka actor, recording collaborators, a manual clock."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gal_exec.actors import protocol as p
from gal_exec.actors.order_actor import OrderActor, OrderDeps
from gal_exec.actors.order_io import build_order_request, report_from_emit
from gal_exec.core import desk as dk
from gal_exec.core import order as om
from gal_exec.core.ledger import Fill
from gal_exec.core.updates import ExchangeStatus, OrderUpdate, UpdateSource
from gal_exec.kraken.errors import classify, classify_transport
from gal_exec.messages import ExecutionReport

D = Decimal


def spec(**overrides) -> om.OrderSpec:
    fields = dict(
        cl_ord_id="g-act-1",
        signal_id="s-1",
        pair="XBT/USD",
        symbol="XBTUSD",
        side="buy",
        order_type="limit",
        quantity=D("1.0"),
        limit_price=D("100.0"),
        timeout_s=30.0,
    )
    fields.update(overrides)
    return om.OrderSpec(**fields)


@pytest.fixture
def rig(make_recorder, clock, timers):
    gateway, sink, supervisor = make_recorder(), make_recorder(), make_recorder()
    deps = OrderDeps(
        gateway=gateway.ref,
        sink=sink.ref,
        supervisor=supervisor.ref,
        timers=timers,
        clock=clock,
        linger_s=1.0,
    )
    return gateway, sink, supervisor, deps


def start(deps, model=None, **overrides):
    """What the supervisor does for a new order: the first report, then an actor owns it."""
    model = model or om.OrderModel(spec(**overrides), om.OrderSettings())
    first, _ = model.start()
    deps.sink.tell(report_from_emit(model.spec, first, deps.clock.time()))
    ref = OrderActor.start(deps)
    ref.tell(p.Own(model=model, durable=True))
    return ref


def statuses(sink, count):
    reports = sink.take(count, ExecutionReport)
    return reports


def test_places_after_intent_and_reports_in_sequence(rig):
    gateway, sink, supervisor, deps = rig
    ref = start(deps)
    place = gateway.next(p.PlaceOrder)
    assert place.cl_ord_id == "g-act-1"
    assert place.order.to_params() == {
        "pair": "XBTUSD",
        "type": "buy",
        "ordertype": "limit",
        "volume": "1.0",
        "price": "100.0",
        "cl_ord_id": "g-act-1",
    }
    ref.tell(p.PlaceResult(request_id=place.request_id, cl_ord_id="g-act-1", txid="OTX-1"))
    reports = statuses(sink, 3)
    assert [r.status for r in reports] == ["pending_submit", "submitted", "open"]
    assert [r.sequence for r in reports] == [1, 2, 3]
    assert reports[-1].exchange_order_id == "OTX-1"
    assert supervisor.next(p.OrderIdentified).txid == "OTX-1"


def staged(deps):
    """What the supervisor does for a new entry: it starts the model, its first report is
    journaled, and the placement leaves with the commit; the gateway passes the order's Own on
    after the send. Returns the pooled actor (no order yet) and the model."""
    model = om.OrderModel(spec(), om.OrderSettings())
    first, _ = model.start()
    deps.sink.tell(report_from_emit(model.spec, first, deps.clock.time()))
    return OrderActor.start(deps), model


def test_a_staged_order_sends_nothing_itself_and_takes_an_early_answer_after_its_own(rig):
    """A stream update or a command may reach the pooled actor before its Own: each waits,
    then counts, and the actor never places the order a second time."""
    gateway, sink, supervisor, deps = rig
    ref, model = staged(deps)
    ref.tell(p.PlaceResult(request_id=1, cl_ord_id="g-act-1", txid="OTX-9"))  # early
    # also early: a cancel must not act before the order is owned
    ref.tell(dk.CancelOrder(reason="operator"))
    assert ref.ask(p.GetHealth(), timeout=5).state is None  # answered meanwhile, no order yet
    ref.tell(p.Own(model=model, durable=True, sent=True))
    reports = statuses(sink, 4)
    assert [r.status for r in reports] == ["pending_submit", "submitted", "open", "pending_cancel"]
    assert [r.sequence for r in reports] == [1, 2, 3, 4]
    assert gateway.next(p.CancelOrder).txid == "OTX-9"
    assert not [m for m in gateway.seen if isinstance(m, p.PlaceOrder)]
    assert supervisor.next(p.OrderIdentified).txid == "OTX-9"


def test_a_staged_order_whose_intent_could_not_be_journaled_is_rejected(rig):
    _gateway, sink, _supervisor, deps = rig
    ref, model = staged(deps)
    ref.tell(p.Own(model=model))
    ref.tell(p.JournalFailed(error="disk full"))
    reports = statuses(sink, 2)
    assert [r.status for r in reports] == ["pending_submit", "rejected"]
    assert "journal write failed: disk full" in (reports[-1].reason or "")


def placed(deps, gateway):
    """An order whose placement the exchange accepted as OTX-1."""
    ref = start(deps)
    place = gateway.next(p.PlaceOrder)
    ref.tell(p.PlaceResult(request_id=place.request_id, cl_ord_id="g-act-1", txid="OTX-1"))
    return ref


def test_fills_from_the_stream_and_the_limit_timeout(rig, clock):
    gateway, sink, _supervisor, deps = rig
    ref = placed(deps, gateway)
    fill = Fill(trade_id="77", quantity=D("0.4"), price=D("99.9"), fee=D("0.1"), fee_asset="USD")
    ref.tell(
        OrderUpdate(
            source=UpdateSource.STREAM,
            txid="OTX-1",
            status=ExchangeStatus.OPEN,
            fill=fill,
        )
    )
    reports = statuses(sink, 4)
    partial = reports[-1]
    assert partial.status == "partially_filled"
    assert partial.trade_id == "77"
    assert partial.last_fill_quantity == D("0.4")
    assert partial.filled_quantity == D("0.4")
    assert partial.fee == D("0.1")
    clock.advance(30.5)
    cancel = gateway.next(p.CancelOrder)
    assert cancel.txid == "OTX-1"
    assert cancel.order_age_s == pytest.approx(30.5)
    pending = sink.next(ExecutionReport)
    assert pending.status == "pending_cancel"
    assert pending.reason == "timeout after 30 s"


def test_updates_told_together_are_each_applied_in_order(rig):
    gateway, sink, _supervisor, deps = rig
    ref = placed(deps, gateway)
    fill = Fill(trade_id="77", quantity=D("0.4"), price=D("99.9"), fee=D("0.1"), fee_asset="USD")
    ref.tell(
        p.OrderUpdates(
            updates=(
                OrderUpdate(
                    source=UpdateSource.STREAM, txid="OTX-1", status=ExchangeStatus.OPEN, fill=fill
                ),
                OrderUpdate(
                    source=UpdateSource.STREAM, txid="OTX-1", status=ExchangeStatus.CANCELED
                ),
            )
        )
    )
    reports = statuses(sink, 5)
    assert [r.status for r in reports[-2:]] == ["partially_filled", "canceled"]
    assert reports[-1].filled_quantity == D("0.4")


def test_outcome_unknown_looks_up_instead_of_resending(rig, clock):
    gateway, sink, _supervisor, deps = rig
    ref = start(deps)
    place = gateway.next(p.PlaceOrder)
    error = classify_transport("http_5xx", placing=True)
    ref.tell(p.PlaceResult(request_id=place.request_id, cl_ord_id="g-act-1", error=error))
    assert statuses(sink, 3)[-1].status == "submit_unknown"
    clock.advance(1.5)
    lookup = gateway.next(p.LookupOrder)
    assert lookup.cl_ord_id == "g-act-1"
    assert not [m for m in gateway.pending() if isinstance(m, p.PlaceOrder)]


def test_permanent_rejection_is_reported_with_the_code(rig):
    gateway, sink, supervisor, deps = rig
    ref = start(deps)
    place = gateway.next(p.PlaceOrder)
    error = classify("EOrder:Insufficient funds", placing=True)
    ref.tell(p.PlaceResult(request_id=place.request_id, cl_ord_id="g-act-1", error=error))
    final = statuses(sink, 3)[-1]
    assert final.status == "rejected"
    assert final.error_code == "EOrder:Insufficient funds"
    assert supervisor.next(p.OrderFinished).cl_ord_id == "g-act-1"


def test_crash_is_told_to_the_supervisor(rig):
    _gateway, _sink, supervisor, deps = rig
    ref = start(deps)
    broken = OrderUpdate(source=UpdateSource.STREAM, cum_quantity="boom")  # the handler fails
    ref.tell(broken)
    crashed = supervisor.next(p.OrderCrashed)
    assert crashed.cl_ord_id == "g-act-1"


def test_a_failure_starting_an_order_reaches_the_restart_path(rig):
    """Start-up work happens in the first message, so its failure is seen by on_failure."""
    _gateway, _sink, supervisor, deps = rig

    class Broken(om.OrderModel):
        def resume(self, now: float) -> list[om.Effect]:
            raise RuntimeError("journal record is unreadable")

    model = Broken(spec(cl_ord_id="g-broken"), om.OrderSettings())
    ref = OrderActor.start(deps)
    ref.tell(p.Own(model=model, resume=True))
    crashed = supervisor.next(p.OrderCrashed)
    assert crashed.cl_ord_id == "g-broken"
    assert crashed.error == "RuntimeError: journal record is unreadable"


def test_validate_only_reports_validated_and_ends(rig):
    gateway, sink, supervisor, deps = rig
    deps.validate_only = True
    ref = start(deps)
    place = gateway.next(p.PlaceOrder)
    assert place.order.to_params()["validate"] == "true"
    ref.tell(p.PlaceResult(request_id=place.request_id, cl_ord_id="g-act-1"))
    final = statuses(sink, 3)[-1]
    assert (final.status, final.reason) == ("validated", "validated by the exchange; not placed")
    assert supervisor.next(p.OrderFinished).cl_ord_id == "g-act-1"


def test_trailing_and_stop_limit_requests():
    trailing = spec(
        order_type="trailing-stop", limit_price=None, trigger_price=D("50"), side="sell"
    )
    params = build_order_request(trailing, D("1")).to_params()
    assert params["price"] == "+50"
    stop_limit = spec(
        order_type="stop-loss-limit", trigger_price=D("90.0"), limit_price=D("89.5"), side="sell"
    )
    params = build_order_request(stop_limit, D("1")).to_params()
    assert (params["price"], params["price2"]) == ("90.0", "89.5")
    ioc = spec(time_in_force="IOC", post_only=False)
    assert build_order_request(ioc, D("1"), validate=True).to_params()["timeinforce"] == "IOC"
