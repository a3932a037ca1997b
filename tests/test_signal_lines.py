"""Signal lines: bytes split on LF only, each line judged alone, every refusal bounded."""

from __future__ import annotations

import io
import json
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gal_exec.messages import CancelSignal, Resume, TradeSignalApproved
from gal_exec.signal_lines import (
    MAX_LINE_BYTES,
    MAX_NESTING,
    RawLine,
    decode_line,
    nesting_exceeds,
    split_lines,
)

SIGNAL = {
    "type": "TradeSignalApproved",
    "signal_id": "s-1",
    "pair": "XBT/USD",
    "side": "buy",
    "order_type": "market",
    "quantity": "0.01",
}


def line(body: object = SIGNAL) -> bytes:
    return json.dumps(body).encode()


def judge(data: bytes, number: int = 1):
    return decode_line(RawLine(number, data, len(data)))


def lines_of(data: bytes, **options) -> list[RawLine]:
    return list(split_lines(io.BytesIO(data).read, **options))


def test_lines_split_on_lf_only_so_a_bare_cr_stays_inside_its_line() -> None:
    data = b'{"type":\r"Resume"}\n\n{"type":"Resume"}\r\n{"type":"Resume"}'
    raws = lines_of(data)
    assert [raw.number for raw in raws] == [1, 2, 3, 4]
    assert isinstance(decode_line(raws[0]).message, Resume)
    assert decode_line(raws[1]) == decode_line(RawLine(2, b"", 0))  # blank: nothing
    assert decode_line(raws[1]).message is None and decode_line(raws[1]).problem is None
    assert isinstance(decode_line(raws[2]).message, Resume)  # CRLF accepted
    assert isinstance(decode_line(raws[3]).message, Resume)  # no final LF


def test_a_bom_on_line_1_is_dropped_and_nowhere_else() -> None:
    assert isinstance(judge(b"\xef\xbb\xbf" + line(), 1).message, TradeSignalApproved)
    later = judge(b"\xef\xbb\xbf" + line(), 2)
    assert later.message is None and later.problem is not None


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"\xff", "not valid UTF-8 (byte 0xff at byte 1)"),
        (b'{"type":"Resume"}\xc3', "not valid UTF-8 (byte 0xc3 at byte 18)"),
        (b'{"type":"Res\x00ume"}', "contains a NUL byte (at byte 13)"),
        (b"[" * 800 + b"]" * 800, f"nesting deeper than {MAX_NESTING}"),
        (b"{" * 100_000, f"nesting deeper than {MAX_NESTING}"),
        (b"{this is not json", "not valid JSON"),
    ],
)
def test_a_bad_line_is_one_reason(data: bytes, expected: str) -> None:
    judged = judge(data, 7)
    assert judged.message is None and judged.problem is not None
    assert judged.problem.startswith(expected), judged.problem


def test_an_over_long_line_is_skipped_without_being_held() -> None:
    huge = b"x" * (5 * MAX_LINE_BYTES)
    data = line() + b"\n" + huge + b"\n" + line()
    tracemalloc.start()
    try:
        raws = []
        for raw in split_lines(io.BytesIO(data).read):
            raws.append(RawLine(raw.number, raw.data[:100], raw.length) if raw.skipped else raw)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_LINE_BYTES
    assert [raw.number for raw in raws] == [1, 2, 3]
    assert raws[1].skipped and raws[1].length == len(huge)
    assert decode_line(raws[1]).problem == (
        f"line longer than {MAX_LINE_BYTES} bytes ({len(huge)} bytes); skipped"
    )
    assert isinstance(decode_line(raws[2]).message, TradeSignalApproved)


def test_a_line_exactly_at_the_cap_is_read() -> None:
    padded = line()[:-1] + b" " * (MAX_LINE_BYTES - len(line())) + b"}"
    (raw,) = lines_of(padded + b"\n")
    assert not raw.skipped and isinstance(decode_line(raw).message, TradeSignalApproved)
    (raw,) = lines_of(padded + b" \n")
    assert raw.skipped


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    body = dict(SIGNAL, signal_id="[" * 200 + '"{' * 25)  # 250 brackets, in a string
    assert not nesting_exceeds(line(body))
    assert isinstance(judge(line(body)).message, TradeSignalApproved)


def test_nesting_at_the_limit_is_decoded_by_the_json_decoder() -> None:
    deep = b"[" * MAX_NESTING + b"]" * MAX_NESTING
    assert not nesting_exceeds(deep)
    judged = judge(deep)
    assert judged.problem is not None and "expected a JSON object" in judged.problem


def test_a_refused_line_quotes_a_bounded_excerpt_and_keeps_its_signal_id() -> None:
    judged = judge(line(dict(SIGNAL, side="s" * 100_000)))
    assert judged.problem is not None and len(judged.problem) < 200
    assert judged.signal_id == "s-1"
    long_id = judge(line(dict(SIGNAL, side="x", signal_id="i" * 10_000)))
    assert long_id.signal_id == ""  # too long to carry back


def test_a_cancel_signal_decodes() -> None:
    assert judge(line({"type": "CancelSignal", "signal_id": "s-1"})).message == CancelSignal(
        signal_id="s-1"
    )


@st.composite
def json_values(draw: st.DrawFn, depth: int) -> object:
    if depth == 0:
        return draw(st.one_of(st.integers(), st.text(max_size=5), st.booleans(), st.none()))
    inner = json_values(depth - 1)
    return draw(
        st.one_of(
            st.lists(inner, max_size=2), st.dictionaries(st.text(max_size=3), inner, max_size=2)
        )
    )


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    return 0


@given(value=json_values(6), limit=st.integers(min_value=0, max_value=8))
def test_the_nesting_scan_agrees_with_the_real_depth(value: object, limit: int) -> None:
    assert nesting_exceeds(json.dumps(value).encode(), limit) == (_depth(value) > limit)


@given(
    chunks=st.lists(st.binary(max_size=40), max_size=30),
    chunk_size=st.integers(min_value=1, max_value=17),
    cap=st.integers(min_value=1, max_value=50),
)
def test_splitting_any_bytes_matches_lf_splitting(
    chunks: list[bytes], chunk_size: int, cap: int
) -> None:
    data = b"".join(chunks)
    raws = lines_of(data, max_bytes=cap, chunk=chunk_size)
    expected = data.split(b"\n")
    if expected and expected[-1] == b"":
        expected.pop()
    assert [raw.number for raw in raws] == list(range(1, len(expected) + 1))
    for raw, want in zip(raws, expected, strict=True):
        assert raw.length == len(want)
        assert raw.data == (want if len(want) <= cap else b"")


@given(data=st.binary(max_size=300))
def test_any_line_is_a_message_a_reason_or_blank(data: bytes) -> None:
    judged = judge(data.replace(b"\n", b" "))
    assert (judged.message is None) or (judged.problem is None)
    if judged.problem is not None:
        assert "\n" not in judged.problem and len(judged.problem) <= 1001


@pytest.mark.parametrize(
    "body, expected",
    [
        (dict(SIGNAL, signal_id="i" * 20_000), "signal_id longer than 256 characters (20000): iii"),
        (dict(SIGNAL, pair="P" * 33), "pair longer than 32 characters (33)"),
        ({"type": "CancelSignal", "signal_id": "c" * 257}, "signal_id longer than 256"),
        ({"type": "Halt", "reason": "r" * 5000}, "reason longer than 1000 characters"),
        (
            {"type": "BatchSubmit", "batch_id": "b" * 300, "signals": [SIGNAL]},
            "batch_id longer than 256",
        ),
        (
            {"type": "BatchSubmit", "batch_id": "b", "signals": [dict(SIGNAL, pair="Q" * 40)]},
            "pair longer than 32",
        ),
    ],
)
def test_names_repeated_in_every_report_are_bounded_before_the_engine_sees_them(body, expected):
    judged = judge(line(body))
    assert judged.message is None and judged.problem is not None
    assert judged.problem.startswith(expected) and len(judged.problem) < 200
