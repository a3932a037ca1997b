"""Recovery is a replay: the reports an order emitted, replayed into a fresh model through the
same transition table, give back its state, its figures and its next sequence number."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gal_exec.actors.order_io import report_from_emit
from gal_exec.core import order as om
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
    ),
    max_size=12,
)


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
