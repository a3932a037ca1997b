"""AmendSignal on the wire (JSON lines) and built in Python."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gal_exec.messages import AmendSignal, MessageDecodeError, decode_inbound, validate_inbound


def test_amend_signal_decodes_from_a_json_line() -> None:
    by_signal = decode_inbound(
        '{"type":"AmendSignal","signal_id":"s-1","limit_price":"64100.0","quantity":"0.5"}'
    )
    assert by_signal == AmendSignal(
        signal_id="s-1", limit_price=Decimal("64100.0"), quantity=Decimal("0.5")
    )
    by_order = decode_inbound(
        '{"type":"AmendSignal","client_order_id":"g1-sl","trigger_price":"63000.0"}'
    )
    assert by_order == AmendSignal(client_order_id="g1-sl", trigger_price=Decimal("63000.0"))


def test_a_bad_amend_line_names_the_problem() -> None:
    with pytest.raises(MessageDecodeError, match="unknown field `price`"):
        decode_inbound('{"type":"AmendSignal","signal_id":"s-1","price":"1"}')
    with pytest.raises(MessageDecodeError, match="AmendSignal"):
        decode_inbound('{"type":"Amend","signal_id":"s-1"}')


def test_an_amend_built_in_python_takes_decimals_only() -> None:
    problem = validate_inbound(AmendSignal(signal_id="s-1", limit_price=64100.0))  # type: ignore[arg-type]
    assert (
        problem == "limit_price must be a Decimal (or a decimal string in JSON); got float 64100.0"
    )
    good = AmendSignal(signal_id="s-1", quantity=Decimal("0.5"))
    assert validate_inbound(good) == good
