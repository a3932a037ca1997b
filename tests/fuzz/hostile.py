"""Hostile inputs by class, shared by the fuzz tests: signal lines (JSON of every wrong shape, bad
bytes, numbers out of every range), config values and damaged journals."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from tests.signal_support import signal_body


def fuzz_settings(examples: int, *, shrink: bool = True, derandomize: bool = False) -> settings:
    """Hypothesis settings for the fuzz tests: no deadline (a subprocess, a sqlite file), no
    example database, and no shrinking where one example is a whole engine run."""
    phases = list(Phase) if shrink else [Phase.explicit, Phase.generate]
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=derandomize,
        phases=phases,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


FIELDS = (
    "signal_id",
    "pair",
    "side",
    "order_type",
    "quantity",
    "limit_price",
    "trigger_price",
    "sl_price",
    "tp_price",
    "time_in_force",
    "expire_at",
    "timeout_s",
    "post_only",
    "reduce_only",
)
DECIMAL_FIELDS = ("quantity", "limit_price", "trigger_price", "sl_price", "tp_price")


valid_signal = signal_body


# ---- numbers by class ------------------------------------------------------------------------

huge_numbers = st.one_of(
    st.integers(min_value=16, max_value=10**9).map(lambda e: f"1E+{e}"),
    st.integers(min_value=16, max_value=60).map(lambda n: "9" * n),
    st.tuples(st.integers(1, 9), st.integers(16, 400)).map(lambda de: f"{de[0]}e{de[1]}"),
)
tiny_numbers = st.one_of(
    st.integers(min_value=19, max_value=10**9).map(lambda e: f"1E-{e}"),
    st.integers(min_value=19, max_value=60).map(lambda n: "0." + "0" * n + "1"),
    st.integers(min_value=19, max_value=10**9).map(lambda e: f"0E-{e}"),
)
long_numbers = st.integers(min_value=21, max_value=80).map(lambda n: "1." + "3" * n)
special_numbers = st.sampled_from(
    ["NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", "-0", "0", "-1", "1e400", "-1e400"]
)
hostile_decimal_text = st.one_of(huge_numbers, tiny_numbers, long_numbers, special_numbers)
# A JSON number (not a string): msgspec decodes it straight into a Decimal.
hostile_decimal_json = st.one_of(
    hostile_decimal_text.map(json.dumps),
    st.sampled_from(["1e400", "-1e400", "1E-999999999", "123456789012345678901234567890.5"]),
)
hostile_durations = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=3.2e7),
    st.floats(max_value=0),
    st.sampled_from(["1e400", "-1e400", "9.3e9", "1e308"]),
)

# ---- other values ----------------------------------------------------------------------------

control_text = st.text(alphabet=st.characters(max_codepoint=0x9F), max_size=40)
huge_text = st.integers(min_value=1_000, max_value=20_000).map(lambda n: "i" * n)
wrong_json = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
    control_text,
    huge_text,
)


def _dump(value: Any) -> str:
    return json.dumps(value)


@st.composite
def hostile_signal_json(draw: st.DrawFn) -> bytes:
    """One TradeSignalApproved-shaped JSON line with one or more fields made hostile."""
    body = valid_signal(draw(st.text(min_size=1, max_size=12)))
    text_fields = {name: _dump(value) for name, value in body.items()}
    for name in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True)):
        if name in DECIMAL_FIELDS:
            raw = draw(st.one_of(hostile_decimal_json, wrong_json.map(_dump)))
        elif name in ("timeout_s", "expire_at"):
            raw = draw(st.one_of(hostile_durations.map(str), wrong_json.map(_dump)))
        else:
            raw = _dump(draw(wrong_json))
        text_fields[name] = raw
    if draw(st.booleans()):
        text_fields[draw(st.text(min_size=1, max_size=8))] = _dump(draw(wrong_json))
    return ("{" + ",".join(f"{_dump(k)}:{v}" for k, v in text_fields.items()) + "}").encode()


@st.composite
def nested_line(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(min_value=60, max_value=5_000))
    opener = draw(st.sampled_from([b"[", b'{"a":']))
    closer = b"]" if opener == b"[" else b"}"
    return opener * depth + b"1" + closer * draw(st.integers(min_value=0, max_value=depth))


@st.composite
def hostile_batch(draw: st.DrawFn) -> bytes:
    count = draw(st.sampled_from([0, 1, 3, 101, 1_000]))
    members: list[Any] = [valid_signal(f"b-{i}") for i in range(count)]
    if members and draw(st.booleans()):
        members[0] = draw(wrong_json)
    body = {
        "type": "BatchSubmit",
        "batch_id": draw(st.one_of(st.text(max_size=10), huge_text)),
        "signals": members,
    }
    return json.dumps(body).encode()


raw_bytes_line = st.one_of(
    st.binary(max_size=200).map(lambda data: data.replace(b"\n", b" ")),
    st.sampled_from(
        [
            b"\xff",
            b"\xc3",
            b"\xef\xbb\xbf",
            b"\x00",
            b"\r",
            b'{"type":"Resume"}\x00',
            b"\xed\xa0\x80",
        ]
    ),
)
message_types = st.sampled_from(
    [b'{"type":"Nope"}', b'{"no_type":1}', b"[]", b"1", b'"x"', b"null", b'{"type":null}',
     b'{"type":"CancelSignal","signal_id":"\\ud800"}', b'{"type":"Halt","reason":7}']
)  # fmt: skip

hostile_line = st.one_of(
    hostile_signal_json(),
    nested_line(),
    hostile_batch(),
    raw_bytes_line,
    message_types,
)
"""Any hostile line (without its LF)."""


# ---- a fixed catalog for end-to-end runs ----------------------------------------------------


def catalog() -> list[bytes]:
    """One line of every hostile class that reached the engine's crash paths before."""
    fixed = [
        b"\xff\xfe",
        b'{"type":"Resume"\x00}',
        b"[" * 800 + b"]" * 800,
        b"[" * 100_000,
        json.dumps(valid_signal("h-qty", quantity="100000000000000000000")).encode(),
        json.dumps(valid_signal("h-price", order_type="limit", limit_price="1e27")).encode(),
        json.dumps(
            valid_signal("h-sl", order_type="limit", limit_price="30000.0", sl_price="1E-999999999")
        ).encode(),
        json.dumps(
            valid_signal(
                "h-trig", order_type="stop-loss", trigger_price="1E-999999999", quantity="0.01"
            )
        ).encode(),
        json.dumps(valid_signal("h-tiny", quantity="1E-999999999")).encode(),
        json.dumps(valid_signal("h-timeout", order_type="limit", limit_price="30000.0", timeout_s=9.3e9)).encode(),
        b'{"type":"TradeSignalApproved","signal_id":"h-num","pair":"XBT/USD","side":"buy",'
        b'"order_type":"market","quantity":1e400}',
        json.dumps(valid_signal("h-50", quantity="0." + "1" * 50)).encode(),
        json.dumps(valid_signal("i" * 10_000)).encode(),
        json.dumps(valid_signal("h-ctl\x1b[2J\r", pair="XBT/USD\x07")).encode(),
        json.dumps(valid_signal("h-gtd", time_in_force="GTD", expire_at=1e300)).encode(),
        json.dumps({"type": "BatchSubmit", "batch_id": "hb", "signals": [valid_signal(f"hb-{i}") for i in range(1_000)]}).encode(),
        json.dumps({"type": "BatchSubmit", "batch_id": "hb2", "signals": [valid_signal("hb2-1", quantity="1E+999")]}).encode(),
        json.dumps({"type": "Unknown"}).encode(),
        b"\r",
    ]  # fmt: skip
    return fixed
