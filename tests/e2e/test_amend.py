"""AmendSignal against the simulator: amends in place (same txid), lost answers resolved from the
order's record, refusals, and an entry amend that caps its protection."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gal_exec.messages import AmendSignal, CancelSignal, ExecutionReport, Halt
from tests.e2e.invariants import assert_no_rate_limit_errors, assert_sequences_gap_free
from tests.e2e.support import TERMINAL, WAIT_S, Harness, engine_config, wait_until

pytestmark = pytest.mark.timeout(60)

D = Decimal


def _resting_entry(harness: Harness, **fields: str) -> tuple[str, str, str]:
    """A buy limit below the market, open on the exchange: (signal_id, cl_ord_id, txid)."""
    values = {"quantity": "0.02", "limit_price": "60000.0", **fields}
    quantity = values.pop("quantity")
    signal_id = harness.signal(order_type="limit", quantity=quantity, **values)
    entry = harness.reports.entry_id(signal_id)
    harness.reports.wait_status(entry, {"open"})
    return signal_id, entry, harness.sim.order(entry)["txid"]


def _report_with(harness: Harness, cl_ord_id: str, prefix: str) -> ExecutionReport:
    return harness.reports.wait_for(
        lambda rs: next(
            (
                r
                for r in rs
                if r.client_order_id == cl_ord_id and (r.reason or "").startswith(prefix)
            ),
            None,
        ),
        what=f"a report of {cl_ord_id} starting {prefix!r}",
    )


def _refusal(harness: Harness, signal_id: str, what: str) -> ExecutionReport:
    return harness.reports.wait_for(
        lambda rs: next(
            (
                r
                for r in rs
                if r.signal_id == signal_id and r.status == "rejected" and what in (r.reason or "")
            ),
            None,
        ),
        what=f"a rejected report of {signal_id} saying {what!r}",
    )


def test_a_resting_limit_is_amended_in_place(harness: Harness) -> None:
    signal_id, entry, txid = _resting_entry(harness)
    harness.submit(AmendSignal(signal_id=signal_id, limit_price=D("60100.0"), quantity=D("0.03")))

    amended = _report_with(harness, entry, "amended")
    assert amended.reason == "amended: limit_price 60000.0 -> 60100.0; quantity 0.02 -> 0.03"
    assert (amended.status, amended.quantity, amended.limit_price) == (
        "open",
        D("0.03"),
        D("60100.0"),
    )
    assert amended.exchange_order_id == txid
    on_exchange = harness.sim.order(entry)
    assert on_exchange["txid"] == txid and on_exchange["status"] == "open"
    assert (D(on_exchange["vol"]), D(on_exchange["price"])) == (D("0.03"), D("60100.0"))

    # By client_order_id too, and the order still fills and ends as one order.
    harness.submit(AmendSignal(client_order_id=entry, limit_price=D("65100.0")))
    filled = harness.reports.wait_terminal(entry)
    assert (filled.status, filled.filled_quantity, filled.limit_price) == (
        "filled",
        D("0.03"),
        D("65100.0"),
    )
    assert harness.sim.orders_by_cl_ord_id(entry)[0]["txid"] == txid
    assert_sequences_gap_free(harness.reports.all)
    assert_no_rate_limit_errors(harness.reports.all)
    assert harness.engine is not None
    record = harness.engine.journal.order(entry) if harness.engine.journal else None
    assert record is not None and record.limit_price == D("65100.0")


def test_an_amend_whose_answer_is_lost_is_resolved_from_the_order(start_harness) -> None:
    # No stream: only the order's record (QueryOrders by txid) can tell what happened.
    harness = start_harness(stream=False)
    signal_id, entry, txid = _resting_entry(harness)
    harness.sim.faults({"endpoint": "AmendOrder", "kind": "http_502", "when": "after", "next": 1})
    harness.submit(AmendSignal(signal_id=signal_id, limit_price=D("60200.0")))

    unknown = _report_with(harness, entry, "amend outcome unknown")
    assert unknown.limit_price == D("60000.0")  # not taken for done
    resolved = _report_with(harness, entry, "amended (its answer was lost")
    assert resolved.limit_price == D("60200.0") and resolved.status == "open"
    assert harness.gateway_health()["calls"]["AmendOrder"] == 1  # never sent again
    assert D(harness.sim.order(entry)["price"]) == D("60200.0")
    assert harness.sim.order(entry)["txid"] == txid

    # Lost before it reached the exchange: the record shows it did not apply.
    harness.sim.faults({"endpoint": "AmendOrder", "kind": "http_502", "when": "before", "next": 1})
    harness.submit(AmendSignal(signal_id=signal_id, limit_price=D("60300.0")))
    not_applied = _report_with(harness, entry, "amend not applied")
    assert not_applied.limit_price == D("60200.0")
    assert D(harness.sim.order(entry)["price"]) == D("60200.0")
    assert_sequences_gap_free(harness.reports.all)


@pytest.mark.parametrize(
    "refusal",
    [
        {"endpoint": "amend_order", "kind": "ws_error", "message": "EOrder:Insufficient funds"},
        {"endpoint": "AmendOrder", "kind": "error", "message": "EOrder:Insufficient funds"},
    ],
    ids=["ws", "rest"],
)
def test_an_amend_the_exchange_refuses_leaves_the_order_as_it_was(
    start_harness, refusal: dict
) -> None:
    path = "ws" if refusal["kind"] == "ws_error" else "rest"
    harness = start_harness(config=engine_config(order_entry=path))
    signal_id, entry, txid = _resting_entry(harness)
    harness.sim.faults(refusal)
    harness.submit(AmendSignal(signal_id=signal_id, quantity=D("0.05")))

    refused = _report_with(harness, entry, "amend refused by the exchange")
    assert refused.error_code == "EOrder:Insufficient funds"
    assert (refused.status, refused.quantity, refused.limit_price) == (
        "open",
        D("0.02"),
        D("60000.0"),
    )
    assert "EOrder:Insufficient funds" in (refused.reason or "")
    assert D(harness.sim.order(entry)["vol"]) == D("0.02")
    assert harness.sim.order(entry)["txid"] == txid


def test_bad_amends_are_rejected_reports_never_crashes(harness: Harness) -> None:
    signal_id, entry, _txid = _resting_entry(harness, sl_price="59000.0", tp_price="62000.0")
    bad = [
        (
            AmendSignal(signal_id="no-such-signal", limit_price=D("60100.0")),
            "no-such-signal",
            "no order of signal_id",
        ),
        (AmendSignal(signal_id=signal_id, limit_price=D("60100.05")), signal_id, "tick"),
        (AmendSignal(signal_id=signal_id, quantity=D("0.00001")), signal_id, "ordermin"),
        (
            AmendSignal(signal_id=signal_id, limit_price=D("60000.0")),
            signal_id,
            "nothing to change",
        ),
        (AmendSignal(signal_id=signal_id), signal_id, "give quantity"),
        (
            AmendSignal(signal_id=signal_id, trigger_price=D("61000.0")),
            signal_id,
            "has no trigger_price",
        ),
        # The stop-loss must stay below a buy's entry price.
        (
            AmendSignal(signal_id=signal_id, limit_price=D("58000.0")),
            signal_id,
            "sl_price 59000.0 must be below the amended entry price 58000.0",
        ),
    ]
    for message, reported_as, what in bad:
        harness.submit(message)
        _refusal(harness, reported_as, what)
    assert harness.sim.order(entry)["status"] == "open"
    assert D(harness.sim.order(entry)["price"]) == D("60000.0")
    assert harness.gateway_health()["calls"].get("AmendOrder", 0) == 0

    # A finished order: nothing to amend.
    harness.submit(CancelSignal(signal_id=signal_id))
    harness.reports.wait_terminal(entry)
    harness.submit(AmendSignal(signal_id=signal_id, limit_price=D("60100.0")))
    _refusal(harness, signal_id, "has ended")


@pytest.mark.parametrize("stop", ["cancel", "halt"])
def test_a_cancel_while_an_amend_is_in_flight_ends_in_one_terminal_report(
    harness: Harness, stop: str
) -> None:
    signal_id, entry, _txid = _resting_entry(harness)
    harness.sim.faults({"endpoint": "AmendOrder", "kind": "latency", "delay_s": 0.3, "next": 1})
    harness.submit(AmendSignal(signal_id=signal_id, limit_price=D("60100.0")))
    if stop == "cancel":
        harness.submit(CancelSignal(signal_id=signal_id))
    else:
        harness.submit(Halt(reason="operator", cancel_open=True))
    final = harness.reports.wait_terminal(entry)
    assert final.status == "canceled"
    wait_until(
        lambda: harness.gateway_health()["in_flight"] == 0, 10, "the amend's answer to arrive"
    )
    assert harness.engine is not None and harness.engine.wait_until_idle(10)
    terminal = [r for r in harness.reports.of_order(entry) if r.status in TERMINAL]
    assert len(terminal) == 1, terminal
    assert harness.reports.last(entry).status == "canceled"
    assert harness.sim.order(entry)["status"] == "canceled"
    assert_sequences_gap_free(harness.reports.all)


def test_an_entry_amended_down_caps_its_protection(harness: Harness) -> None:
    """The children cover what the entry filled; amended down, the entry ends at the new
    quantity and its children stop growing there (they would have grown to the old one)."""
    sim = harness.sim
    reports = harness.reports
    sim.liquidity("0.01")
    signal_id = harness.signal(
        order_type="limit",
        quantity="0.04",
        limit_price="65100.0",
        sl_price="64000.0",
        tp_price="66000.0",
    )
    entry = reports.entry_id(signal_id)
    reports.wait_filled_quantity(entry, D("0.01"))
    stop_loss = reports.child_id(signal_id, "stop_loss")
    take_profit = reports.child_id(signal_id, "take_profit")
    for child in (stop_loss, take_profit):
        assert reports.wait_status(child, {"open"}).quantity == D("0.01")

    harness.submit(AmendSignal(signal_id=signal_id, quantity=D("0.02")))
    amended = _report_with(harness, entry, "amended")
    assert amended.quantity == D("0.02")
    sim.step()
    assert reports.wait_terminal(entry).filled_quantity == D("0.02")
    for child in (stop_loss, take_profit):
        reports.wait_for(
            lambda rs, child=child: any(
                r.client_order_id == child and r.quantity == D("0.02") for r in rs
            ),
            what=f"{child} grown to the amended entry's 0.02",
        )
    sim.step(3)
    assert D(sim.order(entry)["vol"]) == D("0.02")
    assert D(sim.order(entry)["vol_exec"]) == D("0.02")
    for child in (stop_loss, take_profit):
        assert D(sim.order(child)["vol"]) == D("0.02")
        assert reports.last(child).quantity == D("0.02")

    # Moving the stop: the child's trigger only, checked against the market and the take-profit.
    harness.submit(AmendSignal(client_order_id=stop_loss, trigger_price=D("66500.0")))
    _refusal(harness, signal_id, "must stay below the take-profit")
    harness.submit(AmendSignal(client_order_id=stop_loss, quantity=D("0.01")))
    _refusal(harness, signal_id, "follows its entry's position")
    harness.submit(AmendSignal(client_order_id=stop_loss, trigger_price=D("64500.0")))
    moved = _report_with(harness, stop_loss, "amended: trigger_price")
    assert moved.trigger_price == D("64500.0")
    assert D(sim.order(stop_loss)["price"]) == D("64500.0")
    assert harness.engine is not None and harness.engine.journal is not None
    journal = harness.engine.journal
    # The new level is journaled by the supervisor once the order tells it of the amend, beside
    # (not before) the report the order sends: wait for the journal, not for the report.
    record = wait_until(
        lambda: (r := journal.order(entry)) is not None and r.sl_price == D("64500.0") and r,
        WAIT_S,
        "the entry's stop-loss level journaled",
    )
    assert record.sl_price == D("64500.0")
