"""The message protocol: JSON round trips, clear decode errors, and signal checks."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gal_exec.core.intake import signal_problems
from gal_exec.messages import (
    CancelSignal,
    ExecutionReport,
    Halt,
    MessageDecodeError,
    Resume,
    TradeSignalApproved,
    decode_inbound,
    decode_report,
    encode,
)


def signal(**overrides) -> TradeSignalApproved:
    fields = dict(
        signal_id="s-1",
        pair="XBT/USD",
        side="buy",
        order_type="limit",
        quantity=Decimal("0.01"),
        limit_price=Decimal("50000.0"),
    )
    fields.update(overrides)
    return TradeSignalApproved(**fields)


@pytest.mark.parametrize(
    "message",
    [
        signal(sl_price=Decimal("49000"), tp_price=Decimal("52000.5"), timeout_s=30.0),
        CancelSignal(signal_id="s-1"),
        Halt(reason="maintenance", cancel_open=True),
        Resume(),
    ],
)
def test_inbound_round_trip(message):
    line = encode(message)
    assert msgspec.json.decode(line)["type"] == type(message).__name__
    assert decode_inbound(line) == message


def test_decimals_travel_as_strings_and_keep_their_digits():
    line = encode(signal(quantity=Decimal("0.10000000")))
    assert b'"quantity":"0.10000000"' in line
    assert decode_inbound(line).quantity == Decimal("0.10000000")
    assert str(decode_inbound(line).quantity) == "0.10000000"


def test_report_round_trip():
    report = ExecutionReport(
        signal_id="s-1",
        client_order_id="g1",
        exchange_order_id="OABCDE-FGHIJ-KLMNOP",
        status="partially_filled",
        quantity=Decimal("1.5"),
        filled_quantity=Decimal("0.5"),
        last_fill_quantity=Decimal("0.5"),
        last_fill_price=Decimal("30000.1"),
        average_price=Decimal("30000.1"),
        fee=Decimal("0.06"),
        fee_asset="USD",
        trade_id="T1",
        sequence=3,
    )
    line = encode(report)
    assert b'"fee":"0.06"' in line
    assert decode_report(line) == report


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"type":"Nope"}', "unknown message type 'Nope'"),
        (b'{"signal_id":"x"}', "missing required field `type`"),
        (
            b'{"type":"TradeSignalApproved","signal_id":"s","pair":"XBT/USD","side":"buy",'
            b'"order_type":"limit"}',
            "missing required field `quantity`",
        ),
        (
            b'{"type":"TradeSignalApproved","signal_id":"s","pair":"XBT/USD","side":"hold",'
            b'"order_type":"limit","quantity":"1"}',
            "`side`",
        ),
        (
            b'{"type":"TradeSignalApproved","signal_id":"s","pair":"XBT/USD","side":"buy",'
            b'"order_type":"limit","quantity":"lots"}',
            "invalid decimal string - at `quantity`",
        ),
        (b'{"type":"Halt","reason":"x","extra":1}', "unknown field `extra`"),
        (b"[1, 2]", "expected a JSON object"),
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
    ],
)
def test_malformed_lines_name_the_problem(line, expected):
    with pytest.raises(MessageDecodeError) as info:
        decode_inbound(line)
    assert expected in str(info.value)
    assert "$." not in str(info.value)


def test_valid_signal_has_no_problems():
    assert signal_problems(signal(sl_price=Decimal("49000"), tp_price=Decimal("51000"))) == []
    assert signal_problems(signal(order_type="market", limit_price=None)) == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"quantity": Decimal("0")}, "quantity must be positive; got 0"),
        ({"quantity": Decimal("-1")}, "quantity must be positive"),
        ({"quantity": Decimal("NaN")}, "quantity must be a finite number"),
        ({"limit_price": None}, "order_type limit needs limit_price"),
        ({"order_type": "stop-loss", "limit_price": None}, "needs trigger_price"),
        ({"order_type": "market"}, "market takes no limit_price"),
        ({"sl_price": Decimal("50001")}, "sl_price 50001 must be below the entry price 50000.0"),
        ({"tp_price": Decimal("49999")}, "tp_price 49999 must be above the entry price"),
        (
            {"side": "sell", "sl_price": Decimal("49000")},
            "sl_price 49000 must be above the entry price",
        ),
        ({"time_in_force": "GTD"}, "GTD needs expire_at"),
        ({"expire_at": 1.0}, "expire_at is only valid with time_in_force GTD"),
        (
            {"order_type": "market", "limit_price": None, "post_only": True},
            "post_only is only valid",
        ),
        ({"timeout_s": -1.0}, "timeout_s must be positive"),
        ({"signal_id": " "}, "signal_id must not be empty"),
    ],
)
def test_signal_problems_are_actionable(overrides, expected):
    problems = signal_problems(signal(**overrides))
    assert any(expected in p for p in problems), problems


def test_gtd_expiry_must_be_in_the_future():
    problems = signal_problems(signal(time_in_force="GTD", expire_at=1000.0), now=999.0)
    assert any("at least 5 s in the future" in p for p in problems)
    assert signal_problems(signal(time_in_force="GTD", expire_at=2000.0), now=1000.0) == []


decimals = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1e9"), places=8)


@given(quantity=decimals, price=decimals, cancel=st.booleans())
def test_round_trip_property(quantity, price, cancel):
    message = signal(quantity=quantity, limit_price=price)
    assert decode_inbound(encode(message)) == message
    halt = Halt(reason="r", cancel_open=cancel)
    assert decode_inbound(encode(halt)) == halt


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"quantity": Decimal("100000000000000000000")}, "quantity out of range"),
        ({"limit_price": Decimal("1e27")}, "limit_price out of range"),
        ({"quantity": Decimal("1E-999999999")}, "quantity out of range"),
        ({"sl_price": Decimal("1E-999999999")}, "sl_price out of range"),
        (
            {"order_type": "stop-loss", "limit_price": None, "trigger_price": Decimal("1E-9999")},
            "trigger_price out of range",
        ),
        ({"timeout_s": 9.3e9}, "timeout_s out of range"),
        ({"timeout_s": float("inf")}, "timeout_s must be a finite number"),
        ({"time_in_force": "GTD", "expire_at": float("nan")}, "expire_at must be a finite"),
        ({"time_in_force": "GTD", "expire_at": 1.0e12}, "expire_at is"),
    ],
)
def test_numbers_and_durations_beyond_kraken_are_refused_before_arithmetic(fields, expected):
    problems = signal_problems(signal(**fields), now=1_800_000_000.0)
    assert len(problems) == 1 and problems[0].startswith(expected), problems
    assert len(problems[0]) < 200


def test_ids_and_pairs_repeated_in_every_report_are_bounded() -> None:
    (problem,) = signal_problems(signal(signal_id="i" * 10_000))
    assert problem.startswith("signal_id longer than 256 characters (10000): iii")
    assert len(problem) < 200
    (problem,) = signal_problems(signal(pair="XBT/USD" * 10))
    assert problem.startswith("pair longer than 32 characters (70)")
