"""Readiness as a pure function: each condition alone, their order, and the ready case."""

from __future__ import annotations

import msgspec
import pytest

from gal_exec.core.readiness import Readiness, ReadinessFacts, readiness

READY = ReadinessFacts(
    stream="up",
    exchange_status="online",
    status_age_s=5.0,
    status_max_age_s=90.0,
    recovery_done=True,
    dead_man_required=True,
    dead_man_time_left_s=45.0,
)


def test_all_conditions_met_is_ready():
    assert readiness(READY) == Readiness(ready=True, reasons=())


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"stream": "down", "stream_reason": "connection lost"},
            "executions stream: not subscribed (connection lost)",
        ),
        ({"stream": "down"}, "executions stream: not subscribed"),
        ({"stream": "off"}, "executions stream: not started"),
        ({"exchange_status": "maintenance"}, "exchange status: maintenance"),
        ({"exchange_status": "cancel_only"}, "exchange status: cancel_only"),
        (
            {"exchange_status": None, "status_age_s": None, "status_error": "timeout"},
            "exchange status: not known yet (timeout)",
        ),
        ({"status_age_s": 120.0}, "exchange status: last answer 120 s old (limit 90 s)"),
        ({"recovery_done": False}, "start-up recovery: in progress"),
        ({"dead_man_time_left_s": None}, "dead man's switch: not armed yet"),
        (
            {"dead_man_time_left_s": 0.0},
            "dead man's switch: lapsed (refreshes failed; open orders cancelled)",
        ),
        ({"halted": "risk limit"}, "halted: risk limit"),
    ],
)
def test_each_failing_condition_is_named(changes, reason):
    verdict = readiness(msgspec.structs.replace(READY, **changes))
    assert verdict == Readiness(ready=False, reasons=(reason,))


def test_dead_man_matters_only_where_configured():
    facts = msgspec.structs.replace(READY, dead_man_required=False, dead_man_time_left_s=None)
    assert readiness(facts).ready


def test_several_failures_are_all_listed_in_a_fixed_order():
    facts = msgspec.structs.replace(
        READY, stream="down", halted="ops", recovery_done=False, exchange_status="maintenance"
    )
    assert readiness(facts).reasons == (
        "executions stream: not subscribed",
        "exchange status: maintenance",
        "start-up recovery: in progress",
        "halted: ops",
    )
