"""Engine.stop_trading: the stop policy runs apart from teardown and says what became of each
order open at the stop."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from gal_exec.stopping import StopOutcome
from tests.e2e.support import WAIT_S, Harness, engine_config, wait_until

pytestmark = pytest.mark.timeout(60)


def _open_orders(harness: Harness, signal_ids: list[str]) -> list[str]:
    """Wait until each signal's entry is open; returns their cl_ord_ids."""
    reports = harness.reports.wait_for(
        lambda rs: (
            [
                next((r for r in rs if r.signal_id == sid and r.status == "open"), None)
                for sid in signal_ids
            ]
            if all(any(r.signal_id == sid and r.status == "open" for r in rs) for sid in signal_ids)
            else None
        ),
        what="every limit order to rest",
    )
    return [report.client_order_id for report in reports]


def _resting(harness: Harness, count: int) -> list[str]:
    ids = [
        harness.signal(order_type="limit", quantity="0.01", limit_price="30000.0")
        for _ in range(count)
    ]
    return _open_orders(harness, ids)


def test_cancel_policy_cancels_and_reports_each_open_order(harness: Harness) -> None:
    open_ids = _resting(harness, 3)
    assert harness.engine is not None
    outcome = harness.engine.stop_trading(cancel_open=True)
    assert outcome.cancel_open and outcome.open_count == 3
    assert sorted(outcome.canceled) == sorted(open_ids)
    assert outcome.left_open == () and outcome.left_open_count == 0
    assert {harness.sim.order(cl)["status"] for cl in open_ids} == {"canceled"}


def test_leave_policy_leaves_orders_on_the_exchange_and_names_them(harness: Harness) -> None:
    open_ids = _resting(harness, 2)
    assert harness.engine is not None
    outcome = harness.engine.stop_trading(cancel_open=False)
    assert outcome.open_count == 2 and outcome.canceled == ()
    assert sorted(outcome.left_open) == sorted(open_ids) and outcome.left_open_count == 2
    assert {harness.sim.order(cl)["status"] for cl in open_ids} == {"open"}


def test_an_order_that_fills_while_its_cancel_is_in_flight_is_filled_meanwhile(
    start_harness: Callable[..., Harness],
) -> None:
    # REST order entry: the simulator's latency fault holds a REST cancel in flight
    harness = start_harness(config=engine_config(order_entry="rest"))
    (resting,) = _resting(harness, 1)
    harness.sim.faults({"endpoint": "CancelOrder", "kind": "latency", "delay_s": 1.0})
    assert harness.engine is not None
    engine = harness.engine
    result: list[StopOutcome] = []
    stopping = threading.Thread(target=lambda: result.append(engine.stop_trading(cancel_open=True)))
    stopping.start()
    wait_until(lambda: harness.supervisor_health()["halted"], WAIT_S, "the stop's Halt")
    harness.sim.price("29990.0")  # the market comes down through the limit before the cancel
    harness.sim.step(3)
    stopping.join(WAIT_S)
    (outcome,) = result
    assert outcome.open_count == 1 and outcome.filled == (resting,)
    assert outcome.canceled == () and outcome.left_open == ()
    assert harness.sim.order(resting)["status"] == "closed"
