"""Kraken WS v2 codec against the stored samples: decoding, exact decimals, request builders."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gal_exec.kraken import ws_codec as wc
from tests.kraken_samples import SAMPLES_DIR

SAMPLES = SAMPLES_DIR

# Longest prefix first: "ws-cancel_all_orders_after" must win over "ws-cancel_all".
RESPONSE_TYPES: list[tuple[str, type]] = [
    ("ws-add_order-response", wc.AddOrderResponse),
    ("ws-amend_order-response", wc.AmendOrderResponse),
    ("ws-batch_add-response", wc.BatchAddResponse),
    ("ws-batch_cancel-response", wc.BatchCancelResponse),
    ("ws-cancel_all_orders_after-response", wc.CancelAllOrdersAfterResponse),
    ("ws-cancel_all-response", wc.CancelAllResponse),
    ("ws-cancel_order-response", wc.CancelOrderResponse),
    ("ws-edit_order-response", wc.MethodResponse),
    ("ws-executions-snapshot", wc.ExecutionsMessage),
    ("ws-executions-update", wc.ExecutionsMessage),
    ("ws-executions-subscribe-ack", wc.SubscriptionAck),
    ("ws-executions-unsubscribe-ack", wc.SubscriptionAck),
    ("ws-subscribe-response-error", wc.SubscriptionAck),
    ("ws-ticker-subscribe-ack", wc.SubscriptionAck),
    ("ws-heartbeat", wc.Heartbeat),
    ("ws-ping-response-error", wc.MethodResponse),
    ("ws-pong-response", wc.Pong),
    ("ws-status-update", wc.StatusMessage),
    ("ws-ticker-snapshot", wc.TickerMessage),
    ("ws-ticker-update", wc.TickerMessage),
]


def _samples(kind: str) -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    paths = sorted(SAMPLES.glob("ws-*.json"))
    return [p for p in paths if ("-request-" in p.name) == (kind == "request")]


def _skip_without_samples() -> None:
    if not SAMPLES.is_dir():
        pytest.skip(f"Kraken samples directory not found at {SAMPLES}")


def _expected_type(name: str) -> type:
    for prefix, expected in RESPONSE_TYPES:
        if name.startswith(prefix):
            return expected
    raise AssertionError(f"no expected type for sample {name}; add it to RESPONSE_TYPES")


def _exact(raw: bytes | str) -> object:
    """Parse JSON keeping each number's digits and exponent (0.00000000 and 0E-8 are the same
    Decimal), so comparisons are exact to the digit."""
    return json.loads(raw, parse_float=lambda text: Decimal(text).as_tuple())


def test_samples_directory_holds_ws_samples() -> None:
    _skip_without_samples()
    assert len(_samples("response")) >= 40
    assert len(_samples("request")) >= 10


@pytest.mark.parametrize("path", _samples("response"), ids=lambda p: p.name)
def test_every_ws_sample_decodes_to_its_type(path: Path) -> None:
    message = wc.decode_message(path.read_bytes())
    assert type(message) is _expected_type(path.name)


# edit_order is never sent (amend_order keeps the order's identity): its answer decodes as the
# generic envelope, without a modelled result.
@pytest.mark.parametrize(
    "path",
    [p for p in _samples("response") if not p.name.startswith("ws-edit_order")],
    ids=lambda p: p.name,
)
def test_every_ws_sample_round_trips_without_losing_a_field_or_digit(path: Path) -> None:
    raw = path.read_bytes()
    reencoded = wc.encode(wc.decode_message(raw))
    assert _exact(reencoded) == _exact(raw)


def test_json_number_decodes_to_exact_decimal() -> None:
    raw = (
        b'{"channel":"executions","type":"update","sequence":4,"data":[{"order_id":"O1",'
        b'"limit_price":0.1,"order_qty":0.30000000000000004,"cum_qty":1e-8,"cost":26599.90}]}'
    )
    execution = wc.decode_message(raw).data[0]
    assert execution.limit_price == Decimal("0.1")
    assert isinstance(execution.limit_price, Decimal)
    assert str(execution.order_qty) == "0.30000000000000004"
    assert execution.cum_qty == Decimal("1E-8")
    assert str(execution.cost) == "26599.90"


def test_trade_sample_fields() -> None:
    _skip_without_samples()
    message = wc.decode_message((SAMPLES / "ws-executions-update-trade-1.json").read_bytes())
    assert message.type == "update" and message.sequence == 10
    (trade,) = message.data
    assert trade.exec_type == "trade" and trade.trade_id == 62887576
    assert trade.last_qty == Decimal("0.005") and trade.last_price == Decimal("26599.9")
    assert trade.fees == [wc.WsFee(asset="USD", qty=Decimal("0.3458"))]
    assert trade.order_status == "partially_filled"


def test_triggers_and_deprecated_fields_decode() -> None:
    _skip_without_samples()
    raw = (SAMPLES / "ws-executions-update-pending_new-3.json").read_bytes()
    (order,) = wc.decode_message(raw).data
    assert order.triggers == wc.WsTriggers(
        price=Decimal("0.2"), price_type="static", reference="index", status="untriggered"
    )
    assert order.stop_price == Decimal("0.2") and order.trigger == "index"


def test_status_connection_id_beyond_int64() -> None:
    _skip_without_samples()
    status = wc.decode_message((SAMPLES / "ws-status-update-1.json").read_bytes())
    assert status.data[0].connection_id == 13834774380200032777
    assert status.data[0].system == "online"


def test_subscribe_ack_carries_maxratecount() -> None:
    _skip_without_samples()
    ack = wc.decode_message((SAMPLES / "ws-executions-subscribe-ack-1.json").read_bytes())
    assert ack.success and ack.result.channel == "executions"
    assert ack.result.maxratecount == 125 and ack.result.snap_trades is True


def test_cancel_after_response_camel_case_fields() -> None:
    _skip_without_samples()
    raw = (SAMPLES / "ws-cancel_all_orders_after-response-1.json").read_bytes()
    response = wc.decode_message(raw)
    assert response.result.current_time == "2023-09-21T15:49:29Z"
    assert response.result.trigger_time == "2023-09-21T15:51:09Z"


def test_error_response_keeps_kraken_error_string() -> None:
    _skip_without_samples()
    raw = (SAMPLES / "ws-add_order-response-error-1.json").read_bytes()
    response = wc.decode_message(raw)
    assert response.success is False and response.error == "EOrder:Insufficient funds"
    assert response.result is None and response.req_id == 123456789


def test_unknown_fields_and_exec_types_are_accepted() -> None:
    raw = (
        b'{"channel":"executions","type":"update","sequence":2,"brand_new":{"x":1},'
        b'"data":[{"order_id":"O1","exec_type":"future_kind","ratecount":12.5,"extra":[1]}]}'
    )
    (execution,) = wc.decode_message(raw).data
    assert execution.exec_type == "future_kind" and execution.ratecount == Decimal("12.5")


def test_an_error_without_method_or_req_id_decodes_as_a_bare_response() -> None:
    raw = b'{"error":"Malformed request","success":false,"time_in":"a","time_out":"b"}'
    message = wc.decode_message(raw)
    assert type(message) is wc.MethodResponse
    assert (message.method, message.req_id, message.success) == (None, None, False)
    assert message.error == "Malformed request"


def test_unknown_channel_is_handed_on_raw() -> None:
    raw = '{"channel":"balances","type":"snapshot","data":[]}'
    message = wc.decode_message(raw)
    assert message == wc.UnknownMessage(channel="balances", type="snapshot", raw=raw)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"not json", "not a JSON object"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"type":"update"}', "neither 'channel' nor 'method'"),
        (
            b'{"channel":"executions","type":"update","data":[{"trade_id":"x"}]}',
            "channel 'executions'",
        ),
        (b'{"channel":"executions","type":"sideways","data":[]}', "$.type"),
        (b'{"method":"add_order","success":"yes"}', "method 'add_order'"),
    ],
)
def test_malformed_messages_name_what_is_wrong(raw: bytes, fragment: str) -> None:
    with pytest.raises(wc.MalformedMessage) as caught:
        wc.decode_message(raw)
    assert fragment in str(caught.value)


def test_malformed_field_path_is_named() -> None:
    raw = b'{"channel":"executions","type":"update","data":[{"trade_id":"x"}]}'
    with pytest.raises(wc.MalformedMessage, match=r"\$\.data\[0\]\.trade_id"):
        wc.decode_message(raw)


@given(
    st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False, places=None)
)
def test_any_decimal_survives_encode_and_decode_exactly(value: Decimal) -> None:
    message = wc.ExecutionsMessage(
        type="update", data=[wc.WsExecution(order_id="O1", last_price=value)], sequence=1
    )
    decoded = wc.decode_message(wc.encode(message))
    assert str(decoded.data[0].last_price) == str(value)


# ---------------------------------------------------------------- request builders

TOKEN = "G38a1tGFzqGiUCmnegBcm8d4nfP3tytiNQz6tkCBYXY"


def _sample_request(name: str) -> wc.WsRequest:
    _skip_without_samples()
    return wc.decode_request((SAMPLES / name).read_bytes())


def _wire(request: wc.WsRequest) -> wc.WsRequest:
    return wc.decode_request(wc.encode(request))


def test_request_samples_all_decode() -> None:
    _skip_without_samples()
    for path in _samples("request"):
        request = wc.decode_request(path.read_bytes())
        assert request.method in path.name


def test_add_order_matches_doc_sample_and_encodes_numbers() -> None:
    spec = wc.OrderSpec(
        order_type="limit",
        side="buy",
        limit_price=Decimal("26500.4"),
        order_userref=100054,
        order_qty=Decimal("1.2"),
    )
    request = wc.add_order(TOKEN, spec, symbol="BTC/USD", req_id=123456789)
    assert _wire(request) == _sample_request("ws-add_order-request-1.json")
    encoded = wc.encode(request)
    assert b'"limit_price":26500.4' in encoded and b'"order_qty":1.2' in encoded


def test_add_order_with_conditional_matches_doc_sample() -> None:
    spec = wc.OrderSpec(
        order_type="limit",
        side="buy",
        order_qty=Decimal("1.2"),
        limit_price=28440,
        conditional=wc.ConditionalSpec(
            order_type="stop-loss-limit", trigger_price=28410, limit_price=28400
        ),
    )
    request = wc.add_order(TOKEN, spec, symbol="BTC/USD")
    assert _wire(request) == _sample_request("ws-add_order-request-2.json")


def test_add_order_with_triggers_matches_doc_sample() -> None:
    spec = wc.OrderSpec(
        order_type="stop-loss",
        side="sell",
        order_qty=100,
        triggers=wc.TriggerSpec(reference="last", price=Decimal("-2.0"), price_type="pct"),
    )
    request = wc.add_order(TOKEN, spec, symbol="MATIC/USD")
    assert _wire(request) == _sample_request("ws-add_order-request-3.json")


def test_amend_order_matches_doc_sample() -> None:
    request = wc.amend_order(
        "DGB00LiKlPlLI/amQaSKUUr8niqXDb+1zwvtjp34nzk",
        order_id="OAIYAU-LGI3M-PFM5VW",
        limit_price=Decimal("61031.3"),
        deadline="2024-07-21T09:53:59.050Z",
        post_only=True,
    )
    assert _wire(request) == _sample_request("ws-amend_order-request-1.json")


def test_batch_add_matches_doc_sample() -> None:
    orders = [
        wc.OrderSpec(
            order_type="limit",
            side="buy",
            limit_price=Decimal("1010.10"),
            order_qty=Decimal("0.123456789"),
            order_userref=1,
        ),
        wc.OrderSpec(
            order_type="limit",
            side="sell",
            limit_price=Decimal("2020.20"),
            order_qty=Decimal("0.987654321"),
            order_userref=2,
            stp_type="cancel_both",
        ),
    ]
    request = wc.batch_add(
        "TxxxxxxxxxOxxxxxxxxxxKxxxxxxxExxxxxxxxN",
        orders,
        symbol="BTC/USD",
        deadline="2022-06-13T08:09:10.123456Z",
        validate=False,
        req_id=1234567890,
    )
    assert _wire(request) == _sample_request("ws-batch_add-request-1.json")
    assert b'"limit_price":1010.10' in wc.encode(request)


def test_cancel_builders_match_doc_samples() -> None:
    cancel = wc.cancel_order(
        "zGXT1dUQQjJjy5VmGXMegdDQngXXehNo5qbMBVolwEQ",
        order_ids=["OM5CRX-N2HAL-GFGWE9", "OLUMT4-UTEGU-ZYM7E9"],
        req_id=123456789,
    )
    assert _wire(cancel) == _sample_request("ws-cancel_order-request-1.json")
    batch = wc.batch_cancel(
        "TxxxxxxxxxOxxxxxxxxxxKxxxxxxxExxxxxxxxN",
        orders=["1", "2", "ORDERX-IDXXX-XXXXX3"],
        req_id=1234567890,
    )
    assert _wire(batch) == _sample_request("ws-batch_cancel-request-1.json")
    everything = wc.cancel_all("weeBxllys/7kHy/zHpkATSDIS42BvDgWS2b04ZSZHZ5", req_id=1234567890)
    assert _wire(everything) == _sample_request("ws-cancel_all-request-1.json")
    after = wc.cancel_all_orders_after(
        "zwpdzWUe18Bn6h4TAMorh26+QbcMeST2B5tamfe+pgQ", 100, req_id=1234567890
    )
    assert _wire(after) == _sample_request("ws-cancel_all_orders_after-request-1.json")


def test_ping_matches_doc_sample() -> None:
    assert _wire(wc.ping(101)) == _sample_request("ws-ping-request-1.json")


def test_subscribe_executions_has_sample_fields_plus_our_flags() -> None:
    request = wc.subscribe_executions(TOKEN)
    sample = _sample_request("ws-executions-subscribe-request-1.json")
    params = _wire(request).params
    assert params.items() >= sample.params.items()
    assert params["ratecounter"] is True and params["order_status"] is True


def test_subscribe_ticker_has_sample_fields_plus_options() -> None:
    request = wc.subscribe_ticker(["ALGO/USD"], event_trigger="bbo")
    sample = _sample_request("ws-ticker-subscribe-request-1.json")
    params = _wire(request).params
    assert params.items() >= sample.params.items()
    assert params["event_trigger"] == "bbo" and params["snapshot"] is True
    with pytest.raises(TypeError):
        wc.subscribe_ticker("ALGO/USD")


def test_float_prices_are_refused() -> None:
    with pytest.raises(TypeError, match="order_qty"):
        wc.OrderSpec(order_type="market", side="buy", order_qty=1.5)
    with pytest.raises(TypeError, match="limit_price"):
        wc.amend_order(TOKEN, order_id="O1", limit_price=1.5)
    with pytest.raises(ValueError, match="finite"):
        wc.OrderSpec(order_type="market", side="buy", order_qty=Decimal("NaN"))


@pytest.mark.parametrize(
    "build",
    [
        lambda: wc.OrderSpec(
            order_type="limit", side="buy", order_qty=1, cl_ord_id="a", order_userref=1
        ),
        lambda: wc.OrderSpec(order_type="limit", side="long", order_qty=1),
        lambda: wc.amend_order(TOKEN),
        lambda: wc.amend_order(TOKEN, order_id="O1", cl_ord_id="c1"),
        lambda: wc.cancel_order(TOKEN),
        lambda: wc.batch_add(
            TOKEN, [wc.OrderSpec(order_type="market", side="buy", order_qty=1)], symbol="X/Y"
        ),
        lambda: wc.batch_cancel(TOKEN, orders=["only-one"]),
        lambda: wc.cancel_all_orders_after(TOKEN, 86400),
        lambda: wc.cancel_all_orders_after(TOKEN, -1),
    ],
)
def test_invalid_requests_are_refused(build) -> None:
    with pytest.raises(ValueError):
        build()


def test_redact_masks_every_token() -> None:
    payload = wc.encode(wc.subscribe_executions("secret-token-value"))
    redacted = wc.redact(payload)
    assert b"secret-token-value" not in redacted
    assert b'"token":"***"' in redacted


def test_executions_message_encodes_like_kraken() -> None:
    message = wc.ExecutionsMessage(
        type="update",
        data=[wc.WsExecution(order_id="O1", exec_type="new", limit_price=Decimal("1.10"))],
        sequence=9,
    )
    assert wc.encode(message) == (
        b'{"channel":"executions","type":"update","data":[{"order_id":"O1",'
        b'"limit_price":1.10,"exec_type":"new"}],"sequence":9}'
    )


def test_unmodelled_methods_decode_leniently() -> None:
    response = wc.decode_message(b'{"method":"new_method","success":true,"req_id":4}')
    assert type(response) is wc.MethodResponse and response.req_id == 4
    other = wc.decode_message(b'{"method":"new_method","payload":1}')
    assert type(other) is wc.UnknownMessage and other.method == "new_method"
