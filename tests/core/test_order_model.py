"""The pure order lifecycle: events in, effects out, no threads."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gal_exec.core import order as om
from gal_exec.core.ledger import Fill
from gal_exec.core.updates import ExchangeStatus, OrderUpdate, UpdateSource
from gal_exec.core.vocabulary import OrderStatus
from gal_exec.messages import ExecutionReport

D = Decimal


def spec(**overrides) -> om.OrderSpec:
    fields = dict(
        cl_ord_id="g-1",
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


def kinds(effects) -> list[str]:
    return [type(e).__name__ for e in effects]


def trade(trade_id: str, qty: str, price: str = "100.0", status="partially_filled") -> OrderUpdate:
    return OrderUpdate(
        source=UpdateSource.STREAM,
        cl_ord_id="g-1",
        txid="OTX-1",
        status=ExchangeStatus.OPEN if status == "partially_filled" else ExchangeStatus.UNKNOWN,
        fill=Fill(
            trade_id=trade_id, quantity=D(qty), price=D(price), fee=D("0.01"), fee_asset="USD"
        ),
    )


def status(value: ExchangeStatus, **extra) -> OrderUpdate:
    return OrderUpdate(
        source=UpdateSource.STREAM, cl_ord_id="g-1", txid="OTX-1", status=value, **extra
    )


def placed_model(**overrides) -> om.OrderModel:
    model = om.OrderModel(spec(**overrides))
    model.start()
    model.intent_durable()
    model.placed("OTX-1", now=0.0)
    return model


def test_write_before_act_then_place():
    model = om.OrderModel(spec())
    first, rest = model.start()
    assert (first.status, first.sequence, rest) == (OrderStatus.PENDING_SUBMIT, 1, [])
    assert model.state is OrderStatus.PENDING_SUBMIT  # nothing leaves before intent_durable
    effects = model.intent_durable()
    assert kinds(effects) == ["Emit", "Place"]
    assert model.state is OrderStatus.SUBMITTED
    assert effects[-1] == om.Place(quantity=D("1.0"))


def test_ack_starts_timeout_and_poll_without_stream():
    model = om.OrderModel(spec())
    model.start()
    model.intent_durable()
    effects = model.placed("OTX-1", now=5.0)
    assert model.state is OrderStatus.OPEN
    assert om.StartTimer(name="timeout", delay_s=30.0) in effects
    assert om.StartTimer(name="poll", delay_s=2.0) in effects


def test_three_partial_fills_each_reported_once():
    model = placed_model()
    reports = []
    for n, qty in enumerate(["0.3", "0.3", "0.4"], start=1):
        effects = model.exchange_update(trade(f"T{n}", qty), now=1.0)
        reports += [e for e in effects if isinstance(e, om.Emit)]
        # the same trade again changes nothing
        assert model.exchange_update(trade(f"T{n}", qty), now=1.0) == []
    assert [r.fill.trade_id for r in reports] == ["T1", "T2", "T3"]
    assert model.state is OrderStatus.FILLED
    assert model.ledger.filled_quantity == D("1.0")
    assert model.finished


def test_fill_before_ack_is_accepted():
    model = om.OrderModel(spec())
    model.start()
    model.intent_durable()
    model.exchange_update(trade("T1", "0.5"), now=1.0)
    assert model.state is OrderStatus.PARTIALLY_FILLED
    effects = model.placed("OTX-1", now=1.1)
    assert model.state is OrderStatus.PARTIALLY_FILLED
    assert not [e for e in effects if isinstance(e, om.Emit)]


def test_timeout_after_partial_fill_keeps_the_filled_part():
    model = placed_model()
    model.exchange_update(trade("T1", "0.4"), now=1.0)
    effects = model.timer("timeout")
    assert kinds(effects) == ["Emit", "Cancel"]
    assert model.state is OrderStatus.PENDING_CANCEL
    # a fill races the cancel
    model.exchange_update(trade("T2", "0.1"), now=2.0)
    effects = model.exchange_update(status(ExchangeStatus.CANCELED, reason="User requested"), 3.0)
    assert model.state is OrderStatus.CANCELED
    assert model.ledger.filled_quantity == D("0.5")
    emit = next(e for e in effects if isinstance(e, om.Emit))
    assert emit.reason == "timeout after 30 s"  # our reason, not the exchange's "User requested"
    assert "Finished" in kinds(effects)


def test_late_fill_after_cancel_is_accounted():
    model = placed_model()
    model.cancel("user")
    model.exchange_update(status(ExchangeStatus.CANCELED), 1.0)
    effects = model.exchange_update(trade("T9", "0.2"), 2.0)
    assert model.state is OrderStatus.CANCELED
    assert model.ledger.filled_quantity == D("0.2")
    assert [e.fill.trade_id for e in effects if isinstance(e, om.Emit)] == ["T9"]


def test_failed_cancel_on_unknown_order_queries_status():
    model = placed_model()
    model.exchange_update(trade("T1", "0.5"), 1.0)
    model.cancel("timeout")
    effects = model.cancel_result(False, unknown_order=True)
    assert model.state is OrderStatus.PARTIALLY_FILLED
    assert "QueryStatus" in kinds(effects)


def test_outcome_unknown_resolves_by_cl_ord_id_and_never_resends_blind():
    model = om.OrderModel(spec(), om.OrderSettings(resolve_attempts=3))
    model.start()
    model.intent_durable()
    effects = model.place_failed("outcome_unknown", "transport:timeout", "timeout")
    assert model.state is OrderStatus.SUBMIT_UNKNOWN
    assert "Place" not in kinds(effects)
    assert kinds(model.timer("resolve")) == ["Lookup"]
    # found: follow it, no re-send
    found = OrderUpdate(source=UpdateSource.REST, txid="OTX-1", status=ExchangeStatus.OPEN)
    effects = model.lookup_result(found, now=2.0)
    assert model.state is OrderStatus.OPEN
    assert "Place" not in kinds(effects)
    assert model.txid == "OTX-1"


def test_outcome_unknown_absent_every_time_sends_once_more():
    model = om.OrderModel(spec(), om.OrderSettings(resolve_attempts=2))
    model.start()
    model.intent_durable()
    model.place_failed("outcome_unknown", "transport:http_5xx", "502")
    assert "Place" not in kinds(model.lookup_result(None, now=1.0))
    effects = model.lookup_result(None, now=2.0)
    assert kinds(effects)[-1] == "Place"
    assert model.state is OrderStatus.SUBMITTED


def test_rate_limited_placement_is_retried_later():
    model = om.OrderModel(spec())
    model.start()
    model.intent_durable()
    effects = model.place_failed(
        "rate_limited", "EOrder:Rate limit exceeded", "EOrder:Rate limit exceeded"
    )
    assert model.state is OrderStatus.PENDING_SUBMIT
    assert om.StartTimer(name="retry_place", delay_s=1.0) in effects
    assert kinds(model.timer("retry_place"))[-1] == "Place"


def test_permanent_error_rejects_with_code():
    model = om.OrderModel(spec())
    model.start()
    model.intent_durable()
    effects = model.place_failed(
        "permanent", "EOrder:Insufficient funds", "EOrder:Insufficient funds"
    )
    assert model.state is OrderStatus.REJECTED
    emit = next(e for e in effects if isinstance(e, om.Emit))
    assert emit.error_code == "EOrder:Insufficient funds"


def test_cancel_before_ack_is_held_until_ack():
    model = om.OrderModel(spec())
    model.start()
    model.intent_durable()
    assert model.cancel("user") == [om.Withdraw()]  # take it back if it has not left
    assert model.withdraw_result(False) == []  # it had left: hold the cancel
    effects = model.placed("OTX-1", now=1.0)
    assert "Cancel" in kinds(effects)
    assert model.state is OrderStatus.PENDING_CANCEL


def test_entry_fills_announce_the_position():
    model = placed_model(sl_price=D("90.0"))
    effects = model.exchange_update(trade("T1", "0.4"), 1.0)
    assert (
        om.PositionChanged(filled_quantity=D("0.4"), average_price=D("100.0"), final=False)
        in effects
    )


def child(role="stop_loss", position="0.5", **settings) -> om.OrderModel:
    model = om.OrderModel(
        spec(
            cl_ord_id="g-1-sl",
            role=role,
            parent_cl_ord_id="g-1",
            side="sell",
            order_type="stop-loss",
            limit_price=None,
            trigger_price=D("90.0"),
            timeout_s=None,
            quantity=D(position),
        ),
        om.OrderSettings(**settings),
    )
    model.position = D(position)
    return model


def test_child_grows_with_the_entry_by_amend():
    model = child()
    model.start()
    effects = model.intent_durable()
    assert effects[-1] == om.Place(quantity=D("0.5"))
    model.placed("OTX-2", now=0.0)
    effects = model.set_position(D("0.8"), final=False)
    assert effects == [om.Amend(quantity=D("0.8"), resize=True)]
    # a second growth waits for the first amend
    assert model.set_position(D("1.0"), final=True) == []
    effects = model.amend_result(True, now=1.0)
    assert model.order_quantity == D("0.8")
    assert om.Amend(quantity=D("1.0"), resize=True) in effects


def test_oco_sibling_fill_reduces_then_cancels():
    model = child(position="1.0")
    model.start()
    model.intent_durable()
    model.placed("OTX-2", now=0.0)
    assert model.set_sibling_filled(D("0.4")) == [om.Amend(quantity=D("0.6"), resize=True)]
    model.amend_result(True, now=1.0)
    effects = model.set_sibling_filled(D("1.0"))
    assert "Cancel" in kinds(effects)
    assert model.state is OrderStatus.PENDING_CANCEL


def test_child_waits_for_minimum_then_places():
    model = child(position="0.00005", min_quantity=D("0.0001"))
    model.start()
    assert model.intent_durable() == []
    assert model.waiting_for_quantity
    effects = model.set_position(D("0.0002"), final=False)
    assert effects[-1] == om.Place(quantity=D("0.0002"))


def test_child_below_minimum_when_entry_is_final_is_rejected():
    model = child(position="0.00005", min_quantity=D("0.0001"))
    model.start()
    model.intent_durable()
    effects = model.set_position(D("0.00005"), final=True)
    assert model.state is OrderStatus.REJECTED
    emit = next(e for e in effects if isinstance(e, om.Emit))
    assert "below the pair's minimum" in emit.reason


def journaled(sequence: int, status: str, **fields) -> ExecutionReport:
    base = dict(
        signal_id="s-1",
        client_order_id="g-1",
        quantity=D("1.0"),
        engine_time=1.0,
        sequence=sequence,
        status=status,
    )
    base.update(fields)
    return ExecutionReport(**base)


def test_resume_without_txid_resolves_first():
    model = om.OrderModel(spec())
    model.replay(journaled(1, "pending_submit"))
    effects = model.resume(now=0.0)
    assert model.state is OrderStatus.SUBMIT_UNKNOWN
    assert kinds(effects)[-1] == "Lookup"
    assert "Place" not in kinds(effects)


def test_replay_rebuilds_fills_and_state_then_resume_queries():
    model = om.OrderModel(spec())
    for report in (
        journaled(1, "pending_submit"),
        journaled(2, "submitted"),
        journaled(3, "open", exchange_order_id="OTX-1"),
        journaled(
            4,
            "partially_filled",
            exchange_order_id="OTX-1",
            filled_quantity=D("0.2"),
            last_fill_quantity=D("0.2"),
            last_fill_price=D("100"),
            trade_id="T1",
            fee=D("0.05"),
            fee_asset="USD",
        ),
    ):
        assert model.replay(report) == []
    assert (model.state, model.txid, model.sequence) == (OrderStatus.PARTIALLY_FILLED, "OTX-1", 4)
    assert model.ledger.filled_quantity == D("0.2") and model.ledger.has_trade("T1")
    assert model.ledger.fees_by_asset == {"USD": D("0.05")}
    effects = model.resume(now=5.0)
    assert kinds(effects) == ["QueryStatus", "StartTimer", "StartTimer"]
    assert om.StartTimer(name="timeout", delay_s=30.0) in effects
    # the next report continues the journaled sequence without a gap
    emits = [e for e in model.exchange_update(trade("T2", "0.8"), 6.0) if isinstance(e, om.Emit)]
    assert [e.sequence for e in emits] == [5]


def _resumed_open() -> om.OrderModel:
    model = om.OrderModel(spec())
    for report in (
        journaled(1, "pending_submit"),
        journaled(2, "submitted"),
        journaled(3, "open", exchange_order_id="OTX-1"),
    ):
        model.replay(report)
    model.resume(now=5.0)
    return model


def _fill(trade_id: str, quantity: str, time: float) -> Fill:
    return Fill(
        trade_id=trade_id, quantity=D(quantity), price=D("100"), fee=D("0.01"), fee_asset="USD",
        time=time,
    )  # fmt: skip


def test_an_ending_learned_on_resume_is_reported_after_the_fills_made_meanwhile():
    """Canceled while the engine was down, with fills: the fills are fetched by trade id, and
    the terminal report comes last (a report after it would follow the order's last word)."""
    model = _resumed_open()
    rest = OrderUpdate(
        source=UpdateSource.REST,
        cl_ord_id="g-1",
        txid="OTX-1",
        status=ExchangeStatus.CANCELED,
        cum_quantity=D("0.6"),
        cum_cost=D("60"),
        trade_ids=("T1", "T2"),
    )
    effects = model.exchange_update(rest, now=6.0)
    assert kinds(effects) == ["FetchTrades"] and not model.terminal
    # the stream's snapshot says the same meanwhile: still waiting for the trades
    assert model.exchange_update(status(ExchangeStatus.CANCELED), now=6.1) == []
    effects = model.trades_result([_fill("T2", "0.2", 2.0), _fill("T1", "0.4", 1.0)])
    emits = [e for e in effects if isinstance(e, om.Emit)]
    assert [(e.status, e.sequence) for e in emits] == [
        (OrderStatus.PARTIALLY_FILLED, 4),
        (OrderStatus.PARTIALLY_FILLED, 5),
        (OrderStatus.CANCELED, 6),
    ]
    assert [e.fill.trade_id for e in emits[:2] if e.fill] == ["T1", "T2"]
    assert model.terminal and model.ledger.filled_quantity == D("0.6")


def test_an_ending_waits_for_failed_trade_fetches_then_uses_the_totals():
    model = _resumed_open()
    rest = OrderUpdate(
        source=UpdateSource.REST,
        cl_ord_id="g-1",
        txid="OTX-1",
        status=ExchangeStatus.CANCELED,
        cum_quantity=D("0.6"),
        average_price=D("100"),
        trade_ids=("T1",),
    )
    assert kinds(model.exchange_update(rest, now=6.0)) == ["FetchTrades"]
    emits = [e for e in model.trades_result(None) if isinstance(e, om.Emit)]
    assert [e.status for e in emits] == [OrderStatus.PARTIALLY_FILLED, OrderStatus.CANCELED]
    assert emits[-1].filled_quantity == D("0.6")


def test_replay_says_when_the_table_refuses_a_journaled_step():
    model = om.OrderModel(spec())
    model.replay(journaled(1, "pending_submit"))
    anomalies = model.replay(journaled(2, "pending_cancel"))
    assert [a.reason for a in anomalies] == [
        "report #2: pending_submit -> pending_cancel is not in the transition table"
    ]
    assert model.state is OrderStatus.PENDING_CANCEL  # the journal is the record


def test_a_late_duplicate_report_is_not_replayed_twice():
    model = om.OrderModel(spec())
    fill = dict(
        filled_quantity=D("0.2"),
        last_fill_quantity=D("0.2"),
        last_fill_price=D("100"),
        trade_id="T1",
    )
    model.replay(journaled(1, "partially_filled", **fill))
    model.replay(journaled(1, "partially_filled", **fill))
    assert model.ledger.filled_quantity == D("0.2")


def test_rest_cumulative_figures_fill_the_gap_without_double_counting():
    model = placed_model()
    rest = OrderUpdate(
        source=UpdateSource.REST,
        txid="OTX-1",
        status=ExchangeStatus.OPEN,
        cum_quantity=D("0.6"),
        cum_cost=D("60.0"),
        average_price=D("100.0"),
    )
    effects = model.exchange_update(rest, 1.0)
    assert [e.fill_quantity for e in effects if isinstance(e, om.Emit)] == [D("0.6")]
    # the real trades arrive later: absorbed, not reported again
    assert model.exchange_update(trade("T1", "0.6"), 2.0) == []
    assert model.ledger.filled_quantity == D("0.6")


@settings(max_examples=200, deadline=None)
@given(
    quantities=st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=6),
    duplicates=st.lists(st.integers(min_value=0, max_value=5), max_size=6),
    cancel_at=st.integers(min_value=0, max_value=6),
    ack_late=st.booleans(),
)
def test_any_interleaving_ends_in_the_exchange_state(quantities, duplicates, cancel_at, ack_late):
    """Fills (with duplicates), a cancel racing them and a late ack: the end state is the exchange's."""
    total = D(sum(quantities))
    model = om.OrderModel(spec(quantity=total))
    model.start()
    model.intent_durable()
    if not ack_late:
        model.placed("OTX-1", now=0.0)
    seen = []
    for index, qty in enumerate(quantities):
        if index == cancel_at:
            model.cancel("user")
        update = trade(f"T{index}", str(qty))
        model.exchange_update(update, now=1.0)
        seen.append(update)
        for dup in duplicates:
            if dup < len(seen):
                model.exchange_update(seen[dup], now=1.0)
    if ack_late:
        model.placed("OTX-1", now=2.0)
    # the exchange's final word: everything filled
    model.exchange_update(status(ExchangeStatus.FILLED), now=3.0)
    assert model.ledger.filled_quantity == total
    assert model.state is OrderStatus.FILLED


def test_cancel_of_a_placement_still_queued_withdraws_it():
    model = om.OrderModel(spec())
    model.start()
    model.intent_durable()
    assert model.cancel("CancelSignal") == [om.Withdraw()]
    assert model.cancel("again") == []  # asked once
    effects = model.withdraw_result(True)
    assert model.state is OrderStatus.CANCELED
    assert next(e for e in effects if isinstance(e, om.Emit)).reason == "CancelSignal"
    assert "Finished" in kinds(effects)


def test_a_halt_while_the_placement_is_being_resolved_ends_in_one_report():
    """AddOrder's connection dropped (outcome unknown); a Halt with cancel_open arrives while the
    look-ups run and find nothing: one terminal report, canceled, saying it never got there."""
    model = om.OrderModel(spec(), om.OrderSettings(resolve_attempts=2))
    model.start()
    model.intent_durable()
    model.place_failed("outcome_unknown", "connection_reset", "AddOrder: connection lost")
    assert model.cancel("halted: engine stopping") == []  # held until the outcome is known
    assert model.lookup_result(None, now=1.0) == [om.StartTimer(name="resolve", delay_s=1.0)]
    effects = model.lookup_result(None, now=2.0)
    emits = [e for e in effects if isinstance(e, om.Emit)]
    assert [(e.status, e.reason) for e in emits] == [
        (OrderStatus.CANCELED, "halted: engine stopping (it never reached the exchange)")
    ]
    assert not [e for e in effects if isinstance(e, om.Place)]


def test_an_acknowledged_order_the_exchange_has_no_record_of_ends_said_plainly():
    """A journal of an earlier run against a fresh simulator: QueryOrders and both look-ups
    find nothing. The order is not followed forever."""
    model = placed_model()
    model.settings = om.OrderSettings(resolve_attempts=2)
    assert model.not_found() == [om.Lookup()]
    assert model.lookup_result(None, now=1.0) == [om.StartTimer(name="resolve", delay_s=1.0)]
    assert model.timer("resolve") == [om.Lookup()]
    effects = model.lookup_result(None, now=2.0)  # the second look (resolve_attempts) decides
    anomaly = next(e for e in effects if isinstance(e, om.Anomaly))
    assert anomaly.reason.startswith("the exchange has no record of this order (txid OTX-1)")
    assert model.state is OrderStatus.CANCELED


def test_an_order_seen_again_is_not_ended_as_missing():
    model = placed_model()
    model.settings = om.OrderSettings(resolve_attempts=1)
    model.not_found()
    model.exchange_update(status(ExchangeStatus.OPEN), now=1.0)  # the stream shows it after all
    assert model.lookup_result(None, now=2.0) == []
    assert model.state is OrderStatus.OPEN
