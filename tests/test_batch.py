"""BatchSubmit decoding and checks, and the BatchTracker that aggregates per-order outcomes."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from gal_exec.batch import BatchTracker
from gal_exec.core.clock import ManualClock
from gal_exec.core.intake import batch_problems, plan_batch
from gal_exec.core.market import Quote
from gal_exec.core.risk import BatchEntry, Exposure, PairLimits, RiskLimits
from gal_exec.messages import BatchSubmit, ExecutionReport, TradeSignalApproved

D = Decimal


BTC = PairLimits(pair="BTC/USD", tick_size=D("0.1"), lot_step=D("0.00000001"))
LAST = Quote(pair="BTC/USD", last=D("65000.0"), time=0.0, checked_at=0.0)


def signal(signal_id: str, quantity: str = "0.01", pair: str = "BTC/USD") -> TradeSignalApproved:
    return TradeSignalApproved(
        signal_id=signal_id,
        pair=pair,
        side="buy",
        order_type="limit",
        quantity=D(quantity),
        limit_price=D("65000.0"),
    )


def prepare(item: TradeSignalApproved) -> BatchEntry | str:
    """A stand-in for the supervisor's early checks: only BTC/USD is a known pair."""
    if item.pair != "BTC/USD":
        return f"unknown pair {item.pair!r}"
    return BatchEntry(order=item, rules=BTC, quote=LAST, context="rules")


def report(signal_id: str, status: str, role: str = "entry", **extra: object) -> ExecutionReport:
    return ExecutionReport(
        signal_id=signal_id,
        client_order_id=f"cl-{signal_id}",
        role=role,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


def test_batch_submit_decodes_from_one_json_line() -> None:
    line = (
        b'{"type": "BatchSubmit", "batch_id": "b1", "mode": "best_effort", "signals": ['
        b'{"signal_id": "a", "pair": "XBTUSD", "side": "buy", "order_type": "limit",'
        b' "quantity": "0.01", "limit_price": "65000.0"},'
        b'{"type": "TradeSignalApproved", "signal_id": "b", "pair": "XBTUSD", "side": "sell",'
        b' "order_type": "market", "quantity": "0.02"}]}'
    )
    batch = msgspec.json.decode(line, type=BatchSubmit)
    assert batch.mode == "best_effort"
    assert [s.signal_id for s in batch.signals] == ["a", "b"]
    assert batch.signals[0].limit_price == D("65000.0")
    assert msgspec.json.decode(msgspec.json.encode(batch), type=BatchSubmit) == batch
    with pytest.raises(msgspec.ValidationError, match="mode"):
        msgspec.json.decode(line.replace(b"best_effort", b"some"), type=BatchSubmit)


def test_batch_problems() -> None:
    assert batch_problems(BatchSubmit(batch_id="b", signals=[signal("a")])) == []
    assert batch_problems(BatchSubmit(batch_id=" ", signals=[])) == [
        "batch_id must not be empty",
        "a batch needs at least one signal; this one has none",
    ]
    repeated = BatchSubmit(batch_id="b", signals=[signal("a"), signal("b"), signal("a")])
    assert batch_problems(repeated) == ["signal_id repeated within the batch: a"]
    big = BatchSubmit(batch_id="b", signals=[signal(str(i)) for i in range(3)])
    assert batch_problems(big, max_signals=2) == ["a batch holds at most 2 signals; got 3"]


def test_tracker_reports_once_every_signal_has_an_outcome() -> None:
    tracker = BatchTracker(clock=ManualClock(1_700_000_000.0))
    assert (
        tracker.open(
            "b1", "best_effort", ["a", "b", "c"], {"c": "price band: limit 80000.0 is far"}
        )
        is None
    )
    assert tracker.observe(report("a", "pending_submit")) is None
    assert tracker.observe(report("a", "open", exchange_order_id="TX-A")) is None
    assert tracker.observe(report("a", "filled")) is None  # already settled: ignored
    assert tracker.observe(report("b", "open", role="stop_loss")) is None  # not the entry
    assert tracker.observe(report("zz", "open")) is None  # not in a batch
    done = tracker.observe(report("b", "rejected", reason="EOrder:Insufficient funds"))
    assert done is not None and done.status == "partial"
    assert (done.placed, done.rejected) == (1, 2)
    assert [(i.signal_id, i.status) for i in done.items] == [
        ("a", "open"),
        ("b", "rejected"),
        ("c", "rejected"),
    ]
    assert done.items[0].exchange_order_id == "TX-A"
    assert done.items[1].reason == "EOrder:Insufficient funds"
    assert done.engine_time == 1_700_000_000.0
    assert tracker.pending() == 0


def test_a_batch_rejected_before_placement_reports_at_once() -> None:
    tracker = BatchTracker(clock=ManualClock())
    done = tracker.open("b2", "all_or_nothing", ["a", "b"], {"a": "x", "b": "y"})
    assert done is not None and done.status == "rejected" and done.placed == 0
    assert tracker.open("b3", "best_effort", ["c"], {}) is None
    again = tracker.open("b3", "best_effort", ["c"], {})
    assert again is not None and again.status == "rejected"
    assert again.reason == "batch 'b3' is already being followed; this one was not placed"


def test_an_empty_batch_is_refused_with_its_reason() -> None:
    tracker = BatchTracker(clock=ManualClock())
    empty = BatchSubmit(batch_id="e", signals=[])
    plan = plan_batch(empty, prepare=prepare, exposure=Exposure(), limits=RiskLimits())
    done = tracker.open(
        plan.batch_id, plan.mode, plan.signal_ids, plan.rejected, reason=plan.reason
    )
    assert done is not None and done.status == "rejected" and done.items == []
    assert done.reason == "batch e: a batch needs at least one signal; this one has none"


def test_a_fully_placed_batch() -> None:
    tracker = BatchTracker(clock=ManualClock())
    ids = [f"s{i}" for i in range(50)]
    tracker.open("b", "all_or_nothing", ids, {})
    done = [tracker.observe(report(i, "open")) for i in ids]
    finished = [d for d in done if d is not None]
    assert len(finished) == 1 and finished[0].status == "placed" and finished[0].placed == 50


def test_plan_all_or_nothing_fails_on_an_early_rejection() -> None:
    batch = BatchSubmit(batch_id="b", signals=[signal("a"), signal("b", pair="NOPE")])
    plan = plan_batch(batch, prepare=prepare, exposure=Exposure(), limits=RiskLimits())
    assert plan.mode == "all_or_nothing" and plan.accepted == []
    assert plan.signal_ids == ["a", "b"]
    assert plan.rejected == {
        "a": "batch rejected as a whole (all_or_nothing): signal b failed the pre-trade checks",
        "b": "unknown pair 'NOPE'",
    }


def test_plan_best_effort_keeps_what_passes() -> None:
    batch = BatchSubmit(
        batch_id="b",
        mode="best_effort",
        signals=[signal("a", "1"), signal("b", pair="NOPE"), signal("c", "1"), signal("d")],
    )
    limits = RiskLimits(max_exposure_total=D(100000))
    plan = plan_batch(batch, prepare=prepare, exposure=Exposure(), limits=limits)
    assert [entry.order.signal_id for entry in plan.accepted] == ["a", "d"]
    assert plan.accepted[0].context == "rules"
    assert plan.rejected == {
        "b": "unknown pair 'NOPE'",
        "c": "total exposure: open 65000.0 + this order 65000.0 = 130000.0 exceeds 100000",
    }


def test_plan_of_a_malformed_batch_rejects_every_signal() -> None:
    batch = BatchSubmit(batch_id="b", signals=[signal("a"), signal("a")])
    plan = plan_batch(batch, prepare=prepare, exposure=Exposure(), limits=RiskLimits())
    assert plan.accepted == []
    assert plan.rejected == {"a": "batch b: signal_id repeated within the batch: a"}
