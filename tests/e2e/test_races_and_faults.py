"""Races and faults: a cancel racing a fill, AddOrder's outcome unknown, a dropped stream, and
the REST polling fallback. In each, the engine's account must agree with the exchange's."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest

from gal_exec.messages import CancelSignal
from tests.e2e.invariants import (
    assert_accounting_matches,
    assert_no_rate_limit_errors,
    assert_sequences_gap_free,
)
from tests.e2e.support import Harness, engine_config, preconditions, wait_until

pytestmark = pytest.mark.timeout(60)

RESTING = "64990.0"  # below the ask (65006.5): rests; a move to 64980 makes it fill as a maker
CROSSING = "64980.0"
CALM = "65000.0"


# ---- 6. a cancel racing a fill ------------------------------------------------------------------


@pytest.mark.parametrize(
    "cancel_first", [False, True], ids=["fill-then-cancel", "cancel-then-fill"]
)
@pytest.mark.parametrize(
    ("quantity", "per_step"), [("0.01", "1"), ("0.03", "0.01")], ids=["full", "partial"]
)
def test_cancel_racing_a_fill_ends_consistent_with_the_exchange(
    harness: Harness, cancel_first: bool, quantity: str, per_step: str
) -> None:
    sim = harness.sim
    sim.liquidity(per_step)
    for round_number in range(3):
        sim.price(CALM)
        signal_id = harness.signal(order_type="limit", quantity=quantity, limit_price=RESTING)
        cl_ord_id = harness.reports.entry_id(signal_id)
        harness.reports.wait_status(cl_ord_id, {"open"})

        start = threading.Barrier(2)

        def move(start: threading.Barrier = start) -> None:
            start.wait(timeout=5)
            sim.price(CROSSING)

        mover = threading.Thread(target=move, name=f"mover-{round_number}")
        mover.start()
        start.wait(timeout=5)
        if cancel_first:
            harness.submit(CancelSignal(signal_id=signal_id))
            mover.join(timeout=5)
        else:
            mover.join(timeout=5)
            harness.submit(CancelSignal(signal_id=signal_id))

        final = harness.reports.wait_terminal(cl_ord_id)
        order = wait_until(
            lambda cl_ord_id=cl_ord_id: _closed(sim.order(cl_ord_id)), 5, "the exchange to end it"
        )
        exchange_filled = Decimal(order["vol_exec"])
        # A fill may be reported after the terminal report; wait until the figures settle.
        harness.reports.wait_filled_quantity(cl_ord_id, exchange_filled)
        assert_accounting_matches(harness.reports.all, cl_ord_id, sim)
        expected = "filled" if order["status"] == "closed" else "canceled"
        assert final.status == expected, (final, order)
        after = [r for r in harness.reports.of_order(cl_ord_id) if r.sequence > final.sequence]
        assert all(r.status == final.status for r in after), "the terminal state changed"
        if order["status"] == "canceled":
            assert "CancelSignal" in (final.reason or "")
    assert_sequences_gap_free(harness.reports.all)
    assert_no_rate_limit_errors(harness.reports.all)


def _closed(order: dict[str, Any]) -> dict[str, Any] | None:
    return order if order["status"] in ("closed", "canceled") else None


# ---- 7. AddOrder answered 5xx after the exchange accepted it ------------------------------------


@pytest.mark.parametrize(
    ("kind", "stream", "stream_first"),
    [
        ("http_502", True, False),
        ("http_502", True, True),
        ("drop", True, False),
        ("http_503", False, False),
    ],
    ids=["502-stream-late", "502-stream-first", "dropped-stream-late", "503-polling"],
)
def test_add_order_error_after_acceptance_is_resolved_without_a_duplicate(
    start_harness, kind: str, stream: bool, stream_first: bool
) -> None:
    # REST order entry: these are REST's failure modes (the WS ones are in test_ws_order_entry).
    harness: Harness = start_harness(stream=stream, config=engine_config(order_entry="rest"))
    sim = harness.sim
    rules: list[dict[str, Any]] = [
        {"endpoint": "AddOrder", "kind": kind, "when": "after", "next": 1}
    ]
    if stream and not stream_first:
        # Hold the order's pending_new and new back so the error reaches the engine first.
        rules.append({"kind": "ws_delay", "delay_s": 0.5, "next": 2})
    sim.faults(*rules)
    signal_id = harness.signal(order_type="limit", quantity="0.01", limit_price=RESTING)
    cl_ord_id = harness.reports.entry_id(signal_id)
    if not stream_first:
        unknown = harness.reports.wait_status(cl_ord_id, {"submit_unknown"})
        assert "unknown" in (unknown.reason or "")
    harness.reports.wait_status(cl_ord_id, {"open"})
    assert len(sim.orders_by_cl_ord_id(cl_ord_id)) == 1

    sim.price(CROSSING)
    final = harness.reports.wait_terminal(cl_ord_id)

    assert final.status == "filled"
    on_exchange = sim.orders_by_cl_ord_id(cl_ord_id)
    assert len(on_exchange) == 1, f"duplicate orders on the exchange: {on_exchange}"
    assert final.exchange_order_id == on_exchange[0]["txid"]
    assert len(sim.orders()) == 1
    assert_accounting_matches(harness.reports.all, cl_ord_id, sim)
    assert sim.fault_rules()[0]["fired"] == 1
    calls = harness.gateway_health()["calls"]
    assert calls.get("AddOrder", 0) + calls.get("AddOrderBatch", 0) == 1, calls
    assert_sequences_gap_free(harness.reports.all)


def test_add_order_refused_before_processing_is_sent_once_more(start_harness) -> None:
    harness: Harness = start_harness(config=engine_config(order_entry="rest"))
    """A 502 *before* the exchange saw the order: look-ups find nothing, so it goes once more."""
    sim = harness.sim
    sim.faults({"endpoint": "AddOrder", "kind": "http_502", "when": "before", "next": 1})
    signal_id = harness.signal(order_type="limit", quantity="0.01", limit_price=RESTING)
    cl_ord_id = harness.reports.entry_id(signal_id)
    harness.reports.wait_status(cl_ord_id, {"submit_unknown"})
    harness.reports.wait_status(cl_ord_id, {"open"})
    sim.price(CROSSING)
    final = harness.reports.wait_terminal(cl_ord_id)

    assert final.status == "filled"
    assert len(sim.orders_by_cl_ord_id(cl_ord_id)) == 1
    assert len(sim.orders()) == 1
    calls = harness.gateway_health()["calls"]
    assert calls["AddOrder"] == 2, calls  # the lost one and the one sent after the look-ups
    assert calls.get("OpenOrders", 0) >= 5, calls  # resolve_attempts look-ups before re-sending
    assert_accounting_matches(harness.reports.all, cl_ord_id, sim)
    assert_sequences_gap_free(harness.reports.all)


def test_add_order_batch_answered_5xx_after_acceptance_leaves_no_duplicate(
    start_harness,
) -> None:
    harness: Harness = start_harness(config=engine_config(order_entry="rest"))
    sim = harness.sim
    sim.faults(
        {"endpoint": "AddOrderBatch", "kind": "http_502", "when": "after", "next": 1},
        {"kind": "ws_delay", "delay_s": 0.3, "next": 40},
    )
    signals = [
        harness.signal(order_type="limit", quantity="0.01", limit_price=RESTING) for _ in range(8)
    ]
    ids = [harness.reports.entry_id(s) for s in signals]
    for cl_ord_id in ids:
        harness.reports.wait_status(cl_ord_id, {"open"})
    assert sim.fault_rules()[0]["fired"] == 1, "no batch was sent: the fault never applied"
    assert any(r.status == "submit_unknown" for r in harness.reports.all)
    sim.price(CROSSING)
    for cl_ord_id in ids:
        assert harness.reports.wait_terminal(cl_ord_id).status == "filled"
        assert len(sim.orders_by_cl_ord_id(cl_ord_id)) == 1, f"{cl_ord_id} placed twice"
        assert_accounting_matches(harness.reports.all, cl_ord_id, sim)
    assert len(sim.orders()) == len(ids)
    assert_sequences_gap_free(harness.reports.all)


# ---- 8. the executions stream dropped during fills ----------------------------------------------


@pytest.mark.parametrize("completes_in_gap", [False, True], ids=["fills-after", "ends-in-gap"])
def test_stream_dropped_during_fills_loses_no_fill(
    harness: Harness, completes_in_gap: bool
) -> None:
    sim = harness.sim
    reports = harness.reports
    simulator = harness.simulator
    assert simulator is not None
    sim.liquidity("0.01")
    signal_id = harness.signal(order_type="limit", quantity="0.05", limit_price="65100.0")
    cl_ord_id = reports.entry_id(signal_id)
    reports.wait_filled_quantity(cl_ord_id, Decimal("0.01"))

    # Keep the stream down: the reconnects cannot get a token while this rule holds.
    sim.faults({"endpoint": "GetWebSocketsToken", "kind": "unavailable"})
    assert sim.disconnect_ws() >= 1
    wait_until(
        lambda: simulator.api_key not in harness.exchange.engine.listening,
        5,
        "the simulator to lose its executions subscriber",
    )
    in_gap = 4 if completes_in_gap else 2
    sim.step(in_gap)  # fills nobody streams
    assert len(sim.trades()) == 1 + in_gap
    sim.faults()
    harness.wait_stream_subscribed()
    if not completes_in_gap:
        sim.step(2)  # the rest, streamed again
    final = reports.wait_terminal(cl_ord_id)

    assert final.status == "filled"
    assert final.filled_quantity == Decimal("0.05")
    order, trades = assert_accounting_matches(reports.all, cl_ord_id, sim)
    assert order["status"] == "closed"
    assert len(trades) == 5
    assert harness.engine is not None
    assert harness.engine.health()["stream"]["sessions"] >= 2
    assert_sequences_gap_free(reports.all)


@pytest.mark.timeout(60)
def test_cancel_acknowledged_between_reconnect_and_subscription_is_not_lost(
    start_harness,
) -> None:
    """With a nonce window (overlapping REST calls), the stream reconnects and spends 1.5 s
    fetching its token; a CancelSignal in that window is acknowledged by REST while nobody is
    subscribed. The engine must still learn that the order ended, well before the audit."""
    harness: Harness = start_harness(config=engine_config(nonce_window=10_000_000))
    sim = harness.sim
    assert harness.engine is not None
    engine = harness.engine
    with preconditions():
        signal_id = harness.signal(order_type="limit", quantity="0.01", limit_price="64000.0")
        cl_ord_id = harness.reports.entry_id(signal_id)
        harness.reports.wait_status(cl_ord_id, {"open"})
        sim.faults({"endpoint": "GetWebSocketsToken", "kind": "latency", "delay_s": 1.5})
        assert sim.disconnect_ws() >= 1
        wait_until(
            lambda: engine.health()["stream"]["sessions"] >= 2,
            5,
            "the stream to reconnect (it now waits for its token)",
        )
        # Connected is not subscribed: the engine must not yet count on the stream.
        assert not harness.stream_up()
        assert harness.api_key not in harness.exchange.engine.listening
        harness.submit(CancelSignal(signal_id=signal_id))
        wait_until(
            lambda: sim.order(cl_ord_id)["status"] == "canceled", 5, "the exchange to cancel it"
        )
        assert harness.api_key not in harness.exchange.engine.listening, "the window closed"
        harness.wait_stream_subscribed()

    final = harness.reports.wait_terminal(cl_ord_id, timeout=5)
    assert final.status == "canceled"


# ---- 12. no stream: batched QueryOrders polling -------------------------------------------------


def test_without_the_stream_orders_end_through_batched_polling(start_harness, monkeypatch) -> None:
    """Thirty orders polled every 0.2 s would need 150 QueryOrders a second one by one; the REST
    budget (20, 1 per second at pro) allows one a second, so the polls must share calls."""
    harness: Harness = start_harness(stream=False, config=engine_config(poll_interval_s=0.2))
    sim = harness.sim
    exchange = harness.exchange
    batches: list[list[str]] = []
    query_orders = exchange.query_orders

    def recording_query_orders(api_key: str, txids: Any, *args: Any, **kwargs: Any) -> Any:
        batches.append(list(txids) if isinstance(txids, list | tuple) else str(txids).split(","))
        return query_orders(api_key, txids, *args, **kwargs)

    monkeypatch.setattr(exchange, "query_orders", recording_query_orders)
    count = 30
    signals = [
        harness.signal(order_type="limit", quantity="0.01", limit_price=RESTING)
        for _ in range(count)
    ]
    ids = [harness.reports.entry_id(s) for s in signals]
    for cl_ord_id in ids:
        harness.reports.wait_status(cl_ord_id, {"open"})
    rest_max = harness.gateway_health()["rest_max"]
    wait_until(
        lambda: harness.gateway_health()["rest_level"] >= rest_max - 2,
        10,
        "polling to use up the REST budget",
    )
    sim.price(CROSSING)
    for cl_ord_id in ids:
        assert harness.reports.wait_terminal(cl_ord_id).status == "filled"
        assert_accounting_matches(harness.reports.all, cl_ord_id, sim)

    assert harness.engine is not None
    assert "stream" not in harness.engine.health()
    assert max(len(set(batch)) for batch in batches) >= count // 2, f"batches: {batches}"
    queried = sum(len(batch) for batch in batches)
    assert len(batches) * 3 < queried, f"{len(batches)} QueryOrders calls for {queried} txids"
    gateway = harness.gateway_health()
    assert gateway["last_error"] is None, gateway["last_error"]
    assert_no_rate_limit_errors(harness.reports.all)
    assert_sequences_gap_free(harness.reports.all)
