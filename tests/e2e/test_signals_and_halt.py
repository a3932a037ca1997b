"""Signals that must be refused, and Halt / Resume, against the simulator."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

import pytest

from gal_exec.core.clock import ManualClock
from gal_exec.kraken.auth import Credentials
from gal_exec.kraken.nonce import NonceSequencer
from gal_exec.kraken.rest import KrakenRestClient
from gal_exec.messages import CancelSignal, Halt, Resume
from tests.e2e.invariants import assert_sequences_gap_free
from tests.e2e.support import Harness, engine_config, wait_until

pytestmark = pytest.mark.timeout(60)


def _rejection(harness: Harness, signal_id: str) -> str:
    report = harness.reports.wait_for(
        lambda rs: next((r for r in rs if r.signal_id == signal_id), None),
        what=f"a report for {signal_id}",
    )
    assert report.status == "rejected", report
    assert report.reason, report
    return report.reason


def test_bad_signals_are_rejected_while_the_others_go_on(harness: Harness) -> None:
    first = harness.signal(signal_id="good-1")
    unknown_pair = harness.signal(signal_id="bad-pair", pair="NOPE/USD")
    too_small = harness.signal(signal_id="bad-size", quantity="0.00001")
    crossed = harness.signal(
        signal_id="bad-bracket",
        order_type="limit",
        quantity="0.01",
        limit_price="65000.0",
        sl_price="66000.0",
    )
    off_tick = harness.signal(
        signal_id="bad-tick", order_type="limit", quantity="0.01", limit_price="64000.05"
    )
    broke = harness.signal(signal_id="bad-funds", side="sell", quantity="1000")  # 100 XBT held
    duplicate = harness.signal(signal_id="good-1")
    harness.submit(CancelSignal(signal_id="never-sent"))
    second = harness.signal(signal_id="good-2")

    assert "NOPE/USD" in _rejection(harness, unknown_pair)
    assert "ordermin" in _rejection(harness, too_small)
    assert "sl_price" in _rejection(harness, crossed)
    assert "tick" in _rejection(harness, off_tick)
    repeated = harness.reports.wait_for(
        lambda rs: next(
            (r for r in rs if r.signal_id == duplicate and r.status == "rejected"), None
        ),
        what="the repeated signal_id to be rejected",
    )
    assert "duplicate" in (repeated.reason or "")
    cancel_unknown = harness.reports.wait_for(
        lambda rs: next((r for r in rs if r.signal_id == "never-sent"), None)
    )
    assert cancel_unknown.status == "rejected" and "never-sent" in (cancel_unknown.reason or "")

    refused = harness.reports.wait_terminal(harness.reports.entry_id(broke))
    assert refused.status == "rejected"
    assert refused.error_code == "EOrder:Insufficient funds", refused

    for signal_id in (first, second):
        cl_ord_id = harness.reports.entry_id(signal_id)
        final = harness.reports.wait_terminal(cl_ord_id)
        assert final.status == "filled", final
        assert harness.sim.order(cl_ord_id)["status"] == "closed"
    # Only the two good orders rest on the exchange's books (it refused the unfunded one).
    assert sorted(o["cl_ord_id"] for o in harness.sim.orders()) == sorted(
        harness.reports.entry_id(s) for s in (first, second)
    )
    health = harness.supervisor_health()
    assert health["rejected_signals"] == 5
    assert health["live_orders"] == 0
    assert_sequences_gap_free(harness.reports.all)


def test_halt_cancels_open_orders_rejects_signals_and_resume_lifts_it(harness: Harness) -> None:
    resting = [
        harness.signal(order_type="limit", quantity="0.01", limit_price="64000.0") for _ in range(3)
    ]
    ids = [harness.reports.entry_id(s) for s in resting]
    for cl_ord_id in ids:
        harness.reports.wait_status(cl_ord_id, {"open"})

    harness.submit(Halt(reason="risk limit breached", cancel_open=True))
    for cl_ord_id in ids:
        final = harness.reports.wait_terminal(cl_ord_id)
        assert final.status == "canceled"
        assert final.reason == "halted: risk limit breached"
        assert harness.sim.order(cl_ord_id)["status"] == "canceled"
    assert harness.sim.state()["open_orders"] == 0

    while_halted = harness.signal()
    report = harness.reports.wait_for(
        lambda rs: next((r for r in rs if r.signal_id == while_halted), None)
    )
    assert report.status == "rejected"
    assert report.reason == "halted: risk limit breached"
    assert harness.supervisor_health()["halted"] == "risk limit breached"
    assert len(harness.sim.orders()) == 3

    harness.submit(Resume())
    after = harness.signal(quantity="0.02")  # right behind Resume, in the same mailbox
    final = harness.reports.wait_terminal(harness.reports.entry_id(after))
    assert final.status == "filled" and final.filled_quantity == Decimal("0.02")
    assert len(harness.sim.orders()) == 4
    assert harness.supervisor_health()["halted"] is None
    assert_sequences_gap_free(harness.reports.all)


def test_stop_with_cancel_open_leaves_nothing_open_on_the_exchange(harness: Harness) -> None:
    resting = [
        harness.signal(order_type="limit", quantity="0.01", limit_price="64000.0") for _ in range(3)
    ]
    for signal_id in resting:
        harness.reports.wait_status(harness.reports.entry_id(signal_id), {"open"})
    assert harness.sim.state()["open_orders"] == 3
    assert harness.engine is not None

    harness.engine.stop(cancel_open=True, timeout=10)

    assert harness.sim.state()["open_orders"] == 0
    assert {o["status"] for o in harness.sim.orders()} == {"canceled"}
    finals = [r for r in harness.reports.all if r.status == "canceled"]
    assert len(finals) == 3
    assert all(r.reason == "halted: engine stopping" for r in finals)


def test_another_client_using_the_key_halts_the_engine_naming_the_cause(
    start_harness: Callable[..., Harness],
) -> None:
    harness = start_harness(config=engine_config(order_entry="rest"))
    first = harness.signal()
    assert harness.reports.wait_terminal(harness.reports.entry_id(first)).status == "filled"

    # Another program signs with the same key and nonces far ahead of the engine's.
    assert harness.simulator is not None
    ahead = ManualClock(start=time.time() + 10**6)
    other = KrakenRestClient(
        harness.simulator.rest_url,
        Credentials(harness.simulator.api_key, harness.simulator.api_secret),
        nonce=NonceSequencer(ahead),
        clock=ahead,
    )
    other.balance()

    refused = [harness.signal(), harness.signal()]
    for signal_id in refused:
        final = harness.reports.wait_terminal(harness.reports.entry_id(signal_id))
        assert final.status == "rejected" and final.error_code == "EAPI:Invalid nonce", final
    halted = wait_until(
        lambda: harness.supervisor_health()["halted"], 10, "the engine to halt itself"
    )
    assert halted.startswith("EAPI:Invalid nonce: ")
    assert "another client" in halted and "nonce window" in halted
    after = harness.signal()
    assert _rejection(harness, after) == f"halted: {halted}"
    assert len(harness.sim.orders()) == 1  # nothing reached the exchange after the other client
