"""Order entry over Kraken's authenticated WebSocket against the simulator: each method, answers
that never come, a drop after the order was accepted, errors without req_id, and switching
between the WebSocket and REST. Every test ends with the simulator's own list of orders holding
each cl_ord_id at most once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from gal_exec.actors.protocol import BreakerChanged
from gal_exec.messages import CancelSignal
from tests.e2e.invariants import assert_accounting_matches, assert_sequences_gap_free
from tests.e2e.support import Harness, SimControl, engine_config, wait_until

pytestmark = pytest.mark.timeout(60)

RESTING = "64990.0"  # below the ask: rests until the market moves to CROSSING
CROSSING = "64980.0"
REST_ENTRY = ("AddOrder", "AddOrderBatch", "AmendOrder", "CancelOrder", "CancelAllOrdersAfter")


def assert_each_order_once(sim: SimControl) -> None:
    """The no-duplicate invariant, on the exchange's side: every cl_ord_id at most once."""
    counts = Counter(order["cl_ord_id"] for order in sim.orders() if order["cl_ord_id"])
    twice = {cl_ord_id: n for cl_ord_id, n in counts.items() if n > 1}
    assert not twice, f"orders placed more than once: {twice}"


def _rest_order_entry(harness: Harness) -> dict[str, int]:
    calls = harness.gateway_health()["calls"]
    return {name: calls[name] for name in REST_ENTRY if calls.get(name)}


def _resting(harness: Harness) -> tuple[str, str]:
    signal_id = harness.signal(order_type="limit", quantity="0.01", limit_price=RESTING)
    cl_ord_id = harness.reports.entry_id(signal_id)
    return signal_id, cl_ord_id


def test_orders_are_placed_amended_and_cancelled_over_the_websocket(
    start_harness: Callable[..., Harness],
) -> None:
    config = engine_config()
    engine = msgspec.structs.replace(
        config.engine, dead_man_switch="on", dead_man_refresh_s=0.2, dead_man_timeout_s=10
    )
    config = msgspec.structs.replace(config, engine=engine)
    harness = start_harness(config=config)
    sim = harness.sim
    assert harness.gateway_health()["ws_order_entry"]
    # add_order, then cancel_order.
    signal_id, cl_ord_id = _resting(harness)
    harness.reports.wait_status(cl_ord_id, {"open"})
    harness.submit(CancelSignal(signal_id=signal_id))
    assert harness.reports.wait_terminal(cl_ord_id).status == "canceled"
    # amend_order: protective children grow in place as the entry fills in parts.
    sim.liquidity("0.01")
    bracket = harness.signal(
        order_type="limit",
        quantity="0.02",
        limit_price="65100.0",
        sl_price="64000.0",
        tp_price="66000.0",
    )
    entry = harness.reports.entry_id(bracket)
    harness.reports.wait_filled_quantity(entry, Decimal("0.01"))
    stop_loss = harness.reports.child_id(bracket, "stop_loss")
    harness.reports.wait_status(stop_loss, {"open"})
    sim.step()
    assert harness.reports.wait_terminal(entry).status == "filled"
    harness.reports.wait_for(
        lambda rs: any(
            r.client_order_id == stop_loss and r.quantity == Decimal("0.02") for r in rs
        ),
        what="the stop-loss amended to the whole position",
    )
    assert Decimal(sim.order(stop_loss)["vol"]) == Decimal("0.02")

    # The switch is armed once before the stream is up (by REST), then refreshed over the socket.
    calls = wait_until(
        lambda: (c := harness.gateway_health()["calls"]).get("cancel_all_orders_after") and c,
        10,
        "the dead man's switch refreshed over the socket",
    )
    for method in ("add_order", "cancel_order", "amend_order"):
        assert calls.get(method, 0) >= 1, (method, calls)
    assert set(_rest_order_entry(harness)) <= {"CancelAllOrdersAfter"}, calls
    assert_each_order_once(sim)
    assert_sequences_gap_free(harness.reports.all)


@pytest.mark.parametrize("processed", [True, False], ids=["accepted", "lost"])
def test_a_drop_before_the_answer_is_resolved_by_cl_ord_id_with_one_order(
    harness: Harness, processed: bool
) -> None:
    sim = harness.sim
    rules: list[dict[str, Any]] = [
        {"endpoint": "add_order", "kind": "ws_drop", "when": "after" if processed else "before"}
    ]
    rules[0]["next"] = 1
    if processed:
        # Hold the order's executions so the drop, not the stream, comes first.
        rules.append({"kind": "ws_delay", "delay_s": 0.5, "next": 2})
    sim.faults(*rules)
    _, cl_ord_id = _resting(harness)
    unknown = harness.reports.wait_status(cl_ord_id, {"submit_unknown"})
    assert "WebSocket lost" in (unknown.reason or ""), unknown
    harness.reports.wait_status(cl_ord_id, {"open"})
    assert sim.fault_rules()[0]["fired"] == 1
    assert len(sim.orders_by_cl_ord_id(cl_ord_id)) == 1

    sim.price(CROSSING)
    final = harness.reports.wait_terminal(cl_ord_id)
    assert final.status == "filled"
    assert final.exchange_order_id == sim.order(cl_ord_id)["txid"]
    assert not any(r.status == "rejected" for r in harness.reports.of_order(cl_ord_id))
    # The pending placement was never handed to REST when the socket dropped.
    assert "AddOrder" not in _rest_order_entry(harness)
    assert_accounting_matches(harness.reports.all, cl_ord_id, sim)
    assert_each_order_once(sim)
    assert_sequences_gap_free(harness.reports.all)


@pytest.mark.parametrize("processed", [True, False], ids=["processed", "lost"])
def test_an_answer_that_never_comes_is_an_unknown_outcome_resolved_once(
    start_harness: Callable[..., Harness], processed: bool
) -> None:
    harness = start_harness(config=engine_config(ws_request_timeout_s=0.3))
    sim = harness.sim
    when = "after" if processed else "before"
    sim.faults({"endpoint": "add_order", "kind": "ws_no_reply", "when": when, "next": 1})
    signal_id = harness.signal()  # a market order
    cl_ord_id = harness.reports.entry_id(signal_id)
    final = harness.reports.wait_terminal(cl_ord_id)
    assert final.status == "filled", final
    assert sim.fault_rules()[0]["fired"] == 1
    if not processed:
        # Resolved absent after the look-ups, then sent once more with the same cl_ord_id.
        assert any(r.status == "submit_unknown" for r in harness.reports.of_order(cl_ord_id))
    assert len(sim.orders_by_cl_ord_id(cl_ord_id)) == 1
    assert not any(r.status == "rejected" for r in harness.reports.of_order(cl_ord_id))
    assert_accounting_matches(harness.reports.all, cl_ord_id, sim)
    assert_each_order_once(sim)
    assert_sequences_gap_free(harness.reports.all)


@pytest.mark.parametrize("processed", [True, False], ids=["processed", "not-processed"])
def test_an_error_without_req_id_is_never_read_as_a_rejection(
    harness: Harness, processed: bool
) -> None:
    sim = harness.sim
    rules: list[dict[str, Any]] = [
        {
            "endpoint": "add_order",
            "kind": "ws_error_no_req_id",
            "message": "EOrder:Insufficient funds",
            "when": "after" if processed else "before",
            "next": 1,
        }
    ]
    if processed:
        # Hold the order's executions back so the error reaches the engine first.
        rules.append({"kind": "ws_delay", "delay_s": 0.5, "next": 2})
    sim.faults(*rules)
    signal_id = harness.signal()
    cl_ord_id = harness.reports.entry_id(signal_id)
    unknown = harness.reports.wait_status(cl_ord_id, {"submit_unknown"})
    assert "unattributed" in (unknown.reason or ""), unknown
    final = harness.reports.wait_terminal(cl_ord_id)
    assert final.status == "filled", final
    assert not any(r.status == "rejected" for r in harness.reports.of_order(cl_ord_id))
    assert len(sim.orders_by_cl_ord_id(cl_ord_id)) == 1
    assert_each_order_once(sim)


def _stream_up(harness: Harness, up: bool) -> None:
    wait_until(
        lambda: (
            harness.supervisor_health()["stream_up"] == up
            and harness.gateway_health()["ws_order_entry"] == up
        ),
        15,
        f"the WebSocket order entry to be {'up' if up else 'down'}",
    )


def test_websocket_down_then_rest_then_websocket_again_places_each_order_once(
    harness: Harness,
) -> None:
    sim = harness.sim
    first = harness.reports.entry_id(harness.signal())
    assert harness.reports.wait_terminal(first).status == "filled"
    assert _rest_order_entry(harness) == {}

    # The socket goes down and stays down: orders go by REST meanwhile.
    sim.faults({"kind": "ws_disconnect"})
    sim.disconnect_ws()
    _stream_up(harness, False)
    second = harness.reports.entry_id(harness.signal())
    assert harness.reports.wait_terminal(second).status == "filled"
    assert _rest_order_entry(harness) == {"AddOrder": 1}

    # Back up: orders go over the socket again.
    sim.faults()
    _stream_up(harness, True)
    before = harness.gateway_health()["calls"].get("add_order", 0)
    third = harness.reports.entry_id(harness.signal())
    assert harness.reports.wait_terminal(third).status == "filled"
    assert harness.gateway_health()["calls"].get("add_order", 0) == before + 1
    assert _rest_order_entry(harness) == {"AddOrder": 1}
    for cl_ord_id in (first, second, third):
        assert len(sim.orders_by_cl_ord_id(cl_ord_id)) == 1
        assert_accounting_matches(harness.reports.all, cl_ord_id, sim)
    assert_each_order_once(sim)
    assert_sequences_gap_free(harness.reports.all)


def test_rest_order_entry_when_configured(start_harness: Callable[..., Harness]) -> None:
    harness = start_harness(config=engine_config(order_entry="rest"))
    cl_ord_id = harness.reports.entry_id(harness.signal())
    assert harness.reports.wait_terminal(cl_ord_id).status == "filled"
    health: dict[str, Any] = harness.gateway_health()
    assert not health["ws_order_entry"]
    assert _rest_order_entry(harness) == {"AddOrder": 1}
    assert "add_order" not in health["calls"]
    assert_each_order_once(harness.sim)


def test_queued_placements_for_one_pair_go_as_one_batch_add(harness: Harness) -> None:
    assert harness.engine is not None
    gateway = harness.engine.gateway
    gateway.tell(BreakerChanged(category="outcome_unknown", state="open", time=0.0))
    ids = [_resting(harness)[1] for _ in range(3)]
    wait_until(
        lambda: harness.gateway_health()["queued"]["place"] == 3, 10, "three queued placements"
    )
    gateway.tell(BreakerChanged(category="outcome_unknown", state="closed", time=0.0))
    for cl_ord_id in ids:
        harness.reports.wait_status(cl_ord_id, {"open"})
        assert len(harness.sim.orders_by_cl_ord_id(cl_ord_id)) == 1
    calls = harness.gateway_health()["calls"]
    assert calls.get("batch_add") == 1 and "add_order" not in calls, calls
    assert _rest_order_entry(harness) == {}
    assert_each_order_once(harness.sim)


def test_a_refused_token_sends_the_order_again_once(harness: Harness) -> None:
    sim = harness.sim
    sim.faults(
        {"endpoint": "add_order", "kind": "ws_error", "message": "EAPI:Invalid token", "next": 1}
    )
    cl_ord_id = harness.reports.entry_id(harness.signal())
    final = harness.reports.wait_terminal(cl_ord_id)
    assert final.status == "filled", final
    assert sim.fault_rules()[0]["fired"] == 1
    assert not any(r.status == "rejected" for r in harness.reports.of_order(cl_ord_id))
    assert len(sim.orders_by_cl_ord_id(cl_ord_id)) == 1
    assert_each_order_once(sim)
