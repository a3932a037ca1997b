"""Recovery is a replay: the reports an order emitted, replayed into a fresh model through the
same transition table, give back its state, its figures (amends included) and its next sequence
number."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gal_exec.actors.order_io import report_from_emit
from gal_exec.core import order as om
from gal_exec.core.amend import AmendChange
from gal_exec.core.ledger import Fill
from gal_exec.core.updates import ExchangeStatus, OrderUpdate, UpdateSource

D = Decimal


def spec() -> om.OrderSpec:
    return om.OrderSpec(
        cl_ord_id="g-replay",
        signal_id="s",
        pair="XBT/USD",
        symbol="XBTUSD",
        price_decimals=1,
        side="buy",
        order_type="limit",
        quantity=D("1.0"),
        limit_price=D("100.0"),
    )


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("trade"), st.integers(1, 6), st.sampled_from(["0.1", "0.2", "0.3"])),
        st.tuples(st.just("totals"), st.sampled_from(["0.1", "0.3", "0.6", "1.0"])),
        st.tuples(st.just("cancel")),
        st.tuples(st.just("canceled")),
        st.tuples(st.just("unknown")),
        st.tuples(st.just("timer"), st.sampled_from(["resolve", "poll", "timeout"])),
        st.tuples(
            st.just("amend"),
            st.sampled_from(["quantity", "limit_price", "both"]),
            st.sampled_from(["0.4", "0.8", "1.2", "1.6"]),
            st.sampled_from(["ok", "refused", "lost_applied", "lost_not_applied", "stream"]),
        ),
    ),
    max_size=12,
)


def _amend(model: om.OrderModel, what: str, value: str, outcome: str) -> list[om.Effect]:
    """An operator's amend and one way it can end."""
    quantity = D(value) if what in ("quantity", "both") else None
    limit = D("100.0") + D(value) if what in ("limit_price", "both") else None
    effects = model.amend(AmendChange(quantity=quantity, limit_price=limit))
    pending = model.amend_pending
    if pending is None:
        return effects  # refused before it was sent
    if outcome == "ok":
        return effects + model.amend_result(True, 1.0)
    if outcome == "refused":
        return effects + model.amend_result(
            False, 1.0, category="permanent", code="EOrder:Invalid", raw="EOrder:Invalid"
        )
    applied = model.figures.after(pending.change)
    if outcome == "stream":
        update = OrderUpdate(
            source=UpdateSource.STREAM,
            txid="OTX",
            order_quantity=applied.quantity,
            limit_price=applied.limit_price,
            amended=True,
        )
        return effects + model.exchange_update(update, 1.0) + model.amend_result(True, 1.0)
    effects += model.amend_result(False, 1.0, category="outcome_unknown", raw="timeout")
    shown = applied if outcome == "lost_applied" else model.figures
    record = OrderUpdate(
        source=UpdateSource.REST,
        txid="OTX",
        status=ExchangeStatus.OPEN,
        order_quantity=shown.quantity,
        limit_price=shown.limit_price,
    )
    return effects + model.amend_lookup(record, 1.0)


def _drive(model: om.OrderModel, step: tuple) -> list[om.Effect]:
    kind = step[0]
    if kind == "trade":
        fill = Fill(
            trade_id=str(step[1]),
            quantity=D(step[2]),
            price=D("99.9"),
            fee=D(step[2]) / 10,  # the same rate as the totals below: the exchange is consistent
            fee_asset="USD",
            time=1.0,
        )
        update = OrderUpdate(source=UpdateSource.STREAM, txid="OTX", fill=fill)
        return model.exchange_update(update, 1.0)
    if kind == "totals":
        cum = D(step[1])
        update = OrderUpdate(
            source=UpdateSource.REST,
            txid="OTX",
            status=ExchangeStatus.OPEN,
            cum_quantity=cum,
            cum_cost=cum * D("99.9"),
            cum_fee=cum / 10,
            fee_asset="USD",
        )
        return model.exchange_update(update, 1.0)
    if kind == "cancel":
        return model.cancel("test")
    if kind == "canceled":
        update = OrderUpdate(source=UpdateSource.STREAM, txid="OTX", status=ExchangeStatus.CANCELED)
        return model.exchange_update(update, 1.0)
    if kind == "unknown":
        return model.place_failed("outcome_unknown", "timeout", "no answer")
    if kind == "amend":
        return _amend(model, step[1], step[2], step[3])
    return model.timer(step[1])


@settings(derandomize=True, deadline=None, max_examples=300)
@given(STEPS, st.booleans())
def test_replaying_the_reports_rebuilds_the_order(steps, acked) -> None:
    live = om.OrderModel(spec())
    first, _ = live.start()
    emitted = [first, *live.intent_durable()]
    if acked:
        emitted += live.placed("OTX", now=0.0)
    for step in steps:
        emitted += _drive(live, step)
    reports = [report_from_emit(live.spec, e, 1.0) for e in emitted if isinstance(e, om.Emit)]
    assert [r.sequence for r in reports] == list(range(1, len(reports) + 1))

    rebuilt = om.OrderModel(spec())
    anomalies = [a for report in reports for a in rebuilt.replay(report)]
    assert anomalies == []
    assert rebuilt.state is live.state
    assert rebuilt.sequence == live.sequence
    assert rebuilt.txid == live.txid
    assert rebuilt.ledger.filled_quantity == live.ledger.filled_quantity
    assert rebuilt.ledger.order_quantity == live.ledger.order_quantity
    assert rebuilt.ledger.total_fee == live.ledger.total_fee
    assert rebuilt.figures == live.figures


@settings(derandomize=True, deadline=None, max_examples=200)
@given(STEPS)
def test_every_amend_is_reported_once_whatever_its_outcome(steps) -> None:
    """An amend the order sends ends in exactly one report saying how it went, and the figures
    every report shows are the order's at that moment."""
    live = om.OrderModel(spec())
    live.start()
    live.intent_durable()
    live.placed("OTX", now=0.0)
    for step in steps:
        before = live.figures
        effects = _drive(live, step)
        if step[0] != "amend" or not any(isinstance(e, om.Amend) for e in effects):
            continue
        outcomes = [
            e
            for e in effects
            if isinstance(e, om.Emit)
            and (e.reason or "").startswith(("amended", "amend refused", "amend not applied"))
        ]
        if live.terminal and not outcomes:
            continue  # the amend's answer came after the order ended: the end is the report
        assert len(outcomes) == 1, [e.reason for e in effects if isinstance(e, om.Emit)]
        (outcome,) = outcomes
        changed = live.figures != before
        assert changed == outcome.reason.startswith("amended"), (outcome.reason, before)
        assert (outcome.quantity, outcome.limit_price) == (
            live.ledger.order_quantity,
            live.limit_price,
        )
