"""Hostile signal lines through the reader's decoder and the signal checks, by class.

The bulk of the examples run here, without an engine: every line is a message or one bounded,
one-line reason; a decoded signal's checks never raise and quote only bounded text; nothing a
line holds makes memory grow beyond a small multiple of the line cap.
"""

from __future__ import annotations

import io
import json
import tracemalloc

import pytest
from hostile import (
    DECIMAL_FIELDS,
    catalog,
    fuzz_settings,
    hostile_decimal_text,
    hostile_durations,
    hostile_line,
    huge_numbers,
    tiny_numbers,
    valid_signal,
)
from hypothesis import given
from hypothesis import strategies as st

from gal_exec.core.grid import order_problems
from gal_exec.core.intake import signal_problems
from gal_exec.core.numbers import in_range
from gal_exec.messages import BatchSubmit, TradeSignalApproved
from gal_exec.signal_lines import MAX_LINE_BYTES, RawLine, decode_line, split_lines
from tests.signal_support import XBT_RULES

FAST = fuzz_settings(400)
SLOW = fuzz_settings(10_000)
REASON_CHARS = 1_100  # a bounded reason (1000) plus the supervisor's own words
NOW = 1_800_000_000.0

XBT = XBT_RULES.limits()


def judge(data: bytes, number: int = 3):
    return decode_line(RawLine(number, data, len(data)))


def check_signal(signal: TradeSignalApproved) -> list[str]:
    """What intake runs on a decoded signal before placing it (exchange-independent, then the
    pair's rules when those pass); every reason bounded, never an exception."""
    problems = signal_problems(signal, now=NOW)
    if not problems:
        problems = order_problems(signal, XBT)
        # a signal that passes every check has numbers Kraken takes
        if not problems:
            for name in DECIMAL_FIELDS:
                value = getattr(signal, name)
                assert value is None or in_range(value), (name, value)
    for problem in problems:
        assert len(problem) <= REASON_CHARS and "\n" not in problem, problem[:200]
    return problems


def check_line(data: bytes) -> None:
    judged = judge(data)
    assert judged.message is None or judged.problem is None
    if judged.problem is not None:
        assert len(judged.problem) <= REASON_CHARS and "\n" not in judged.problem
        assert not any(ord(c) < 0x20 for c in judged.problem)
    message = judged.message
    if isinstance(message, TradeSignalApproved):
        check_signal(message)
    elif isinstance(message, BatchSubmit):
        for member in message.signals:
            check_signal(member)


@FAST
@given(line=hostile_line)
def test_any_hostile_line_is_a_message_or_one_bounded_reason(line: bytes) -> None:
    check_line(line)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@SLOW
@given(line=hostile_line)
def test_any_hostile_line_is_a_message_or_one_bounded_reason_long(line: bytes) -> None:
    check_line(line)


@pytest.mark.parametrize("line", catalog(), ids=lambda line: repr(line[:30]))
def test_every_line_of_the_catalog(line: bytes) -> None:
    check_line(line)


def _signal_with(field: str, text: str) -> TradeSignalApproved | None:
    fields: dict[str, object] = {field: text}
    if field in ("limit_price", "sl_price", "tp_price"):
        fields.setdefault("order_type", "limit")
        fields.setdefault("limit_price", "30000.0")
        fields[field] = text
    if field == "trigger_price":
        fields["order_type"] = "stop-loss"
    judged = judge(json.dumps(valid_signal("n", **fields)).encode())
    return judged.message if isinstance(judged.message, TradeSignalApproved) else None


@FAST
@given(field=st.sampled_from(DECIMAL_FIELDS), text=st.one_of(huge_numbers, tiny_numbers))
def test_huge_and_tiny_numbers_are_refused_with_short_text(field: str, text: str) -> None:
    signal = _signal_with(field, text)
    assert signal is not None
    problems = check_signal(signal)
    assert any(problem.startswith(f"{field} out of range: ") for problem in problems), problems
    assert all(len(problem) < 200 for problem in problems)


@FAST
@given(field=st.sampled_from(DECIMAL_FIELDS), text=hostile_decimal_text)
def test_no_hostile_number_passes_unless_kraken_could_take_it(field: str, text: str) -> None:
    signal = _signal_with(field, text)
    if signal is not None:
        check_signal(signal)


@FAST
@given(field=st.sampled_from(["timeout_s", "expire_at"]), value=hostile_durations)
def test_absurd_durations_are_refused(field: str, value: object) -> None:
    fields: dict[str, object] = {"order_type": "limit", "limit_price": "30000.0"}
    if field == "expire_at":
        fields["time_in_force"] = "GTD"
    body = json.dumps(valid_signal("d", **fields))[:-1] + f',"{field}":{value}' + "}"
    judged = judge(body.encode())
    if judged.message is None:
        assert judged.problem is not None  # e.g. 1e400: out of a float's range
        return
    assert isinstance(judged.message, TradeSignalApproved)
    problems = check_signal(judged.message)
    assert any(field in problem for problem in problems), problems


@pytest.mark.parametrize(
    "line",
    [
        b'{"type":"TradeSignalApproved","signal_id":"' + b"i" * (MAX_LINE_BYTES - 100) + b'"}',
        b"[" * MAX_LINE_BYTES,
        b'{"a":' * (MAX_LINE_BYTES // 5),
        b"9" * MAX_LINE_BYTES,
        json.dumps(valid_signal("m", quantity="1" * (MAX_LINE_BYTES - 200))).encode(),
        b"\xff" * MAX_LINE_BYTES,
        b" " * MAX_LINE_BYTES,
        b"x" * (8 * MAX_LINE_BYTES),
    ],
    ids=["long-id", "brackets", "objects", "digits", "long-number", "bad-bytes", "spaces", "8MiB"],
)
def test_memory_stays_bounded_whatever_one_line_holds(line: bytes) -> None:
    data = line + b"\n" + json.dumps(valid_signal("after")).encode() + b"\n"
    tracemalloc.start()
    try:
        judged = [decode_line(raw) for raw in split_lines(io.BytesIO(data).read)]
        for one in judged:
            if isinstance(one.message, TradeSignalApproved):
                check_signal(one.message)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 * MAX_LINE_BYTES, peak
    assert isinstance(judged[-1].message, TradeSignalApproved)
    assert judged[-1].message.signal_id == "after"
