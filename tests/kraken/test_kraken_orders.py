"""OrderRequest: Kraken form fields, plain decimals, relative prices, batch encoding, checks."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gal_exec.core.clock import ManualClock
from gal_exec.core.vocabulary import is_valid_cl_ord_id
from gal_exec.kraken.orders import (
    OrderRequest,
    RelativePrice,
    deadline_after,
    format_decimal,
)

D = Decimal


def _limit(**changes: object) -> OrderRequest:
    fields: dict[str, object] = {
        "pair": "XBTUSD",
        "type": "buy",
        "ordertype": "limit",
        "volume": D("1.25"),
        "price": D("37500"),
    }
    fields.update(changes)
    return OrderRequest(**fields)  # type: ignore[arg-type]


def test_limit_order_params() -> None:
    assert _limit().to_params() == {
        "pair": "XBTUSD",
        "type": "buy",
        "ordertype": "limit",
        "volume": "1.25",
        "price": "37500",
    }


def test_all_optional_fields() -> None:
    order = OrderRequest(
        pair="XBTUSD",
        type="sell",
        ordertype="stop-loss-limit",
        volume=D("0.5"),
        price=D("29000"),
        price2=D("28900.5"),
        trigger="index",
        reduce_only=True,
        oflags=("post", "fciq"),
        timeinforce="GTD",
        expiretm="+60",
        starttm=0,
        cl_ord_id="my-order-1",
        close_ordertype="take-profit",
        close_price=D("35000"),
        validate=True,
        deadline="2024-01-01T00:00:05.000Z",
    )
    assert order.to_params() == {
        "pair": "XBTUSD",
        "type": "sell",
        "ordertype": "stop-loss-limit",
        "volume": "0.5",
        "price": "29000",
        "price2": "28900.5",
        "trigger": "index",
        "timeinforce": "GTD",
        "cl_ord_id": "my-order-1",
        "reduce_only": "true",
        "oflags": "post,fciq",
        "starttm": "0",
        "expiretm": "+60",
        "close[ordertype]": "take-profit",
        "close[price]": "35000",
        "validate": "true",
        "deadline": "2024-01-01T00:00:05.000Z",
    }


def test_userref_and_iceberg() -> None:
    params = _limit(ordertype="iceberg", displayvol=D("0.1"), userref=-5).to_params()
    assert params["displayvol"] == "0.1" and params["userref"] == "-5"


def test_decimals_never_use_exponents() -> None:
    params = _limit(volume=D("1E-8"), price=D("1E+5")).to_params()
    assert (params["volume"], params["price"]) == ("0.00000001", "100000")


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_format_decimal_round_trips_without_exponent(value: Decimal) -> None:
    text = format_decimal(value)
    assert "E" not in text and "e" not in text
    assert Decimal(text) == value


def test_format_decimal_refuses_non_finite_and_floats() -> None:
    with pytest.raises(ValueError):
        format_decimal(D("NaN"))
    with pytest.raises(TypeError):
        format_decimal(1.5)  # type: ignore[arg-type]


def test_relative_prices() -> None:
    order = _limit(
        ordertype="trailing-stop-limit",
        price=RelativePrice(offset=D("1.5"), percent=True),
        price2=RelativePrice(offset=D("0")),
    )
    params = order.to_params()
    assert (params["price"], params["price2"]) == ("+1.5%", "+0")
    assert str(RelativePrice(offset=D("10"), sign="-")) == "-10"
    assert str(RelativePrice(offset=D("5"), sign="#")) == "#5"
    with pytest.raises(ValueError):
        str(RelativePrice(offset=D("-1")))


def test_batch_params_are_indexed_and_nested() -> None:
    order = _limit(close_ordertype="stop-loss", close_price=D("30000"), cl_ord_id="a1")
    assert order.to_batch_params(3) == {
        "orders[3][type]": "buy",
        "orders[3][ordertype]": "limit",
        "orders[3][volume]": "1.25",
        "orders[3][price]": "37500",
        "orders[3][cl_ord_id]": "a1",
        "orders[3][close][ordertype]": "stop-loss",
        "orders[3][close][price]": "30000",
    }


def test_batch_refuses_per_order_validate_or_deadline() -> None:
    with pytest.raises(ValueError, match="on the batch"):
        _limit(validate=True).to_batch_params(0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cl_ord_id": "abc", "userref": 1}, "mutually exclusive"),
        ({"cl_ord_id": "x" * 19}, "cl_ord_id"),
        ({"userref": 2**31}, "32-bit"),
        ({"timeinforce": "GTD"}, "GTD needs expiretm"),
        ({"close_price": D("1")}, "close_ordertype"),
        ({"oflags": ("fcib", "fciq")}, "fcib and fciq"),
    ],
)
def test_invalid_combinations_raise(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _limit(**changes).to_params()


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("6d1b345e-2821-40e2-ad83-4ecb18a06876", True),
        ("6d1b345e282140e2ad834ecb18a06876", True),
        ("short-id-18-chars!", True),
        ("x" * 19, False),
        ("", False),
        ("bad\nid", False),
        ("ünicode", False),
    ],
)
def test_cl_ord_id_forms(value: str, valid: bool) -> None:
    assert is_valid_cl_ord_id(value) is valid


def test_deadline_after_is_rfc3339_utc() -> None:
    assert deadline_after(ManualClock(start=1_700_000_000.0), 5) == "2023-11-14T22:13:25.000Z"


def test_order_request_round_trips_through_msgspec() -> None:
    order = _limit(price=RelativePrice(offset=D("2"), sign="-", percent=True), expiretm=1700000000)
    assert msgspec.json.decode(msgspec.json.encode(order), type=OrderRequest) == order
