"""WS v2 -> REST parameter translation and the wire helpers of the simulator's WS server."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from gal_exec.sim.ws_translate import (
    ADD_ORDER_FIELDS,
    amend_to_rest,
    check_fields,
    order_to_rest,
)
from gal_exec.sim.ws_wire import RequestError, decode, encode, parse_rfc3339, rfc3339
from tests.kraken_samples import SAMPLES_DIR


def D(text: str) -> Decimal:
    return Decimal(text)


def sample_request(name: str) -> dict:
    """A stored Kraken WS request sample, numbers as Decimal; skip if the samples are absent."""
    path = SAMPLES_DIR / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"Kraken sample {path} not found (clone shared/ beside the repo)")
    return json.loads(path.read_text(), parse_float=Decimal)


# -- wire ----------------------------------------------------------------------------------------


def test_decimals_go_out_as_plain_json_numbers_with_their_digits() -> None:
    raw = encode({"a": D("0.00010000"), "b": D("1E+3"), "c": D("1E-8"), "d": [D("-0.17")]})
    assert raw == b'{"a":0.00010000,"b":1000,"c":0.00000001,"d":[-0.17]}'


def test_uint64_connection_id_survives_encoding() -> None:
    assert encode({"id": 13834774380200032777}) == b'{"id":13834774380200032777}'


def test_non_finite_decimal_is_refused() -> None:
    with pytest.raises(ValueError):
        encode({"a": D("NaN")})


def test_decode_reads_numbers_as_decimal_and_rejects_garbage() -> None:
    assert decode(b'{"limit_price": 26500.40, "req_id": 7}') == {
        "limit_price": D("26500.40"),
        "req_id": 7,
    }
    with pytest.raises(ValueError):
        decode("{not json")


def test_rfc3339_has_microseconds_and_z_and_round_trips() -> None:
    text = rfc3339(1_695_564_623.799685)
    assert text == "2023-09-24T14:10:23.799685Z"
    assert parse_rfc3339(text) == pytest.approx(1_695_564_623.799685)
    assert parse_rfc3339("2024-07-21T09:53:59.050Z") == pytest.approx(1_721_555_639.05)


# -- add_order -----------------------------------------------------------------------------------


def test_documented_limit_order_translates_to_addorder_params() -> None:
    sample = sample_request("ws-add_order-request-1")
    rest = order_to_rest(sample["params"], "add_order", nested_close=False)
    assert rest == {
        "ordertype": "limit",
        "type": "buy",
        "volume": D("1.2"),
        "price": D("26500.4"),
        "userref": 100054,
    }


def test_conditional_close_becomes_close_keys_or_a_nested_close() -> None:
    sample = sample_request("ws-add_order-request-2")
    flat = order_to_rest(sample["params"], "add_order", nested_close=False)
    assert flat["price"] == 28440
    assert flat["close[ordertype]"] == "stop-loss-limit"
    assert flat["close[price]"] == 28410
    assert flat["close[price2]"] == 28400
    nested = order_to_rest(sample["params"], "batch_add", nested_close=True)
    assert nested["close"] == {"ordertype": "stop-loss-limit", "price": 28410, "price2": 28400}


def test_relative_trigger_becomes_signed_percent_price_and_trigger_reference() -> None:
    sample = sample_request("ws-add_order-request-3")
    rest = order_to_rest(sample["params"], "add_order", nested_close=False)
    assert rest["ordertype"] == "stop-loss"
    assert rest["price"] == "-2.0%"
    assert rest["trigger"] == "last"


def test_stop_loss_limit_uses_trigger_as_price_and_limit_as_price2() -> None:
    order = {
        "order_type": "take-profit-limit",
        "side": "sell",
        "order_qty": D("0.5"),
        "limit_price": D("30100.5"),
        "triggers": {"price": D("30000"), "reference": "index", "price_type": "static"},
    }
    rest = order_to_rest(order, "add_order", nested_close=False)
    assert (rest["price"], rest["price2"], rest["trigger"]) == (D("30000"), D("30100.5"), "index")


def test_trailing_stop_limit_offsets_are_relative() -> None:
    order = {
        "order_type": "trailing-stop-limit",
        "side": "sell",
        "order_qty": 1,
        "triggers": {"price": D("1.5"), "price_type": "pct"},
        "limit_price": D("-20"),
    }
    rest = order_to_rest(order, "add_order", nested_close=False)
    assert rest["price"] == "+1.5%"
    assert rest["price2"] == "-20"  # limit_price_type defaults to quote for trailing-stop-limit


def test_flags_times_and_identifiers_translate() -> None:
    order = {
        "order_type": "limit",
        "side": "buy",
        "order_qty": D("0.01"),
        "limit_price": D("100.0"),
        "time_in_force": "gtd",
        "expire_time": "2023-11-14T22:14:00Z",
        "effective_time": "2023-11-14T22:13:30.000Z",
        "post_only": True,
        "reduce_only": True,
        "fee_preference": "base",
        "cl_ord_id": "my-order-1",
        "display_qty": D("0.002"),
        "stp_type": "cancel_both",
    }
    rest = order_to_rest(order, "add_order", nested_close=False)
    assert rest["timeinforce"] == "GTD"
    assert rest["expiretm"] == "1700000040"
    assert rest["starttm"] == "1700000010"
    assert rest["oflags"] == "post,fcib"
    assert rest["reduce_only"] is True
    assert rest["cl_ord_id"] == "my-order-1"
    assert rest["displayvol"] == D("0.002")
    assert rest["stptype"] == "cancel-both"


def test_cash_order_qty_is_volume_in_quote() -> None:
    order = {"order_type": "market", "side": "buy", "cash_order_qty": D("25.5")}
    rest = order_to_rest(order, "add_order", nested_close=False)
    assert (rest["volume"], rest["oflags"]) == (D("25.5"), "viqc")


@pytest.mark.parametrize(
    ("order", "message"),
    [
        (
            {"order_type": "limit", "side": "buy", "order_qty": 1, "limit_price": "100"},
            "Limit_price field must be a number_float",
        ),
        (
            {"order_type": "market", "side": "buy", "cash_order_qty": "5"},
            "Cash_order_qty field must be a number_float",
        ),
        (
            {"order_type": "limit", "side": "buy", "limit_price": 1},
            "Missing field: 'order_qty' for the given msg type: add_order",
        ),
        (
            {"order_type": "limit", "side": "buy", "order_qty": 1, "post_only": "yes"},
            "Post_only field must be a boolean",
        ),
        (
            {"order_type": "limit", "side": "buy", "order_qty": 1, "margin": True},
            "EGeneral:Permission denied",
        ),
        (
            {"order_type": "limit", "side": "buy", "order_qty": 1, "expire_time": "soon"},
            "EGeneral:Invalid arguments:expire_time",
        ),
    ],
)
def test_bad_fields_are_answered_in_krakens_words(order: dict, message: str) -> None:
    with pytest.raises(RequestError) as caught:
        order_to_rest(order, "add_order", nested_close=False)
    assert caught.value.message == message


def test_unknown_field_is_unsupported() -> None:
    with pytest.raises(RequestError) as caught:
        check_fields({"order_type": "limit", "leverage": 2}, ADD_ORDER_FIELDS, "add_order")
    assert caught.value.message == "Unsupported field: 'leverage' for the given msg type: add_order"


# -- amend_order ---------------------------------------------------------------------------------


def test_documented_amend_translates_to_amendorder_params() -> None:
    sample = sample_request("ws-amend_order-request-1")
    rest = amend_to_rest(sample["params"], lambda symbol: symbol)
    assert rest == {
        "txid": "OAIYAU-LGI3M-PFM5VW",
        "limit_price": D("61031.3"),
        "post_only": True,
        "deadline": "2024-07-21T09:53:59.050Z",
    }


def test_amend_needs_an_identifier_and_marks_relative_prices() -> None:
    with pytest.raises(RequestError):
        amend_to_rest({"order_qty": 1}, lambda symbol: symbol)
    rest = amend_to_rest(
        {"cl_ord_id": "x", "trigger_price": D("2.5"), "trigger_price_type": "pct"},
        lambda symbol: symbol,
    )
    assert rest == {"cl_ord_id": "x", "trigger_price": "+2.5%"}
