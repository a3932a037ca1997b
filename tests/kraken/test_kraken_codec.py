"""REST reply codecs: every stored sample decodes; errors and broken replies raise typed errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gal_exec.kraken.codec import (
    RESULT_TYPES,
    AddOrderBatchResult,
    AddOrderResult,
    OrderInfo,
    WebSocketsToken,
    decode_response,
    decode_result,
)
from gal_exec.kraken.errors import KrakenAPIError, MalformedResponse

# Sample file prefix -> Kraken method.
_METHOD_BY_PREFIX = {
    "addorder": "AddOrder",
    "addorderbatch": "AddOrderBatch",
    "amendorder": "AmendOrder",
    "assetpairs": "AssetPairs",
    "balance": "Balance",
    "cancelallordersafter": "CancelAllOrdersAfter",
    "cancelorder": "CancelOrder",
    "cancelorderbatch": "CancelOrderBatch",
    "closedorders": "ClosedOrders",
    "editorder": "EditOrder",
    "getwebsocketstoken": "GetWebSocketsToken",
    "openorders": "OpenOrders",
    "queryorders": "QueryOrders",
    "querytrades": "QueryTrades",
    "systemstatus": "SystemStatus",
    "ticker": "Ticker",
    "time": "Time",
    "tradeshistory": "TradesHistory",
}


def _read(samples_dir: Path, name: str) -> bytes:
    return (samples_dir / name).read_bytes()


def test_every_rest_sample_decodes(samples_dir: Path, rest_sample_name: str) -> None:
    body = _read(samples_dir, rest_sample_name)
    prefix = rest_sample_name.split("-response-")[0]
    if prefix == "error":
        with pytest.raises(KrakenAPIError) as caught:
            decode_result("AddOrder", body)
        assert caught.value.errors == msgspec.json.decode(body)["error"]
        return
    method = _METHOD_BY_PREFIX[prefix]
    result = decode_result(method, body)
    # Every money field is Decimal: re-encode and check nothing came back as a float.
    assert isinstance(result, (msgspec.Struct, dict))
    assert not _floats_outside_times(msgspec.to_builtins(result, builtin_types=(Decimal,)))


_FLOAT_FIELDS = {"opentm", "closetm", "starttm", "expiretm", "time"}


def _floats_outside_times(value: object, key: str = "") -> list[str]:
    if isinstance(value, float):
        return [] if key in _FLOAT_FIELDS else [key]
    if isinstance(value, dict):
        return [bad for k, v in value.items() for bad in _floats_outside_times(v, k)]
    if isinstance(value, list):
        return [bad for v in value for bad in _floats_outside_times(v, key)]
    return []


def test_every_rest_sample_prefix_is_known(rest_sample_name: str) -> None:
    prefix = rest_sample_name.split("-response-")[0]
    assert prefix == "error" or prefix in _METHOD_BY_PREFIX


def test_add_order_with_close(samples_dir: Path) -> None:
    result = decode_result("AddOrder", _read(samples_dir, "addorder-response-1.json"))
    assert isinstance(result, AddOrderResult)
    assert result.txid == ["OUF4EM-FRGI2-MQMWZD"]
    assert result.descr.close == "close position @ stop loss 22000.0 -> limit 21000.0"


def test_add_order_validate_only_has_no_txid() -> None:
    body = b'{"error":[],"result":{"descr":{"order":"buy 1.0 XBTUSD @ market"}}}'
    assert decode_response(body, AddOrderResult).txid == []


def test_batch_entries_have_scalar_txid_and_optional_error(samples_dir: Path) -> None:
    result = decode_result("AddOrderBatch", _read(samples_dir, "addorderbatch-response-1.json"))
    assert [entry.txid for entry in result.orders] == ["65LRD3-AHGRA-YAH8E5", "OK8HFF-5J2PL-XLR17S"]
    partial = (
        b'{"error":[],"result":{"orders":[{"txid":"A","descr":{"order":"x"}},'
        b'{"error":"EOrder:Insufficient funds"}]}}'
    )
    decoded = decode_response(partial, AddOrderBatchResult)
    assert decoded.orders[1].txid is None
    assert decoded.orders[1].error == "EOrder:Insufficient funds"


def test_order_info_from_stringly_capture(samples_dir: Path) -> None:
    orders = decode_result("QueryOrders", _read(samples_dir, "queryorders-response-2.json"))
    order = orders["OGMZCL-KC6MC-ZRBGM6"]
    assert order.userref == 0
    assert order.opentm == pytest.approx(1705260547.472)
    assert order.closetm == pytest.approx(1705260547.4728658)
    assert order.vol_exec == Decimal("0.10000000")
    assert order.cost == Decimal("7.105741")
    assert order.fee == Decimal("0.018475")
    assert order.trades == ["TWA6QJ-ZO4EM-6QIHQJ"]
    assert order.reason is None and order.refid is None
    assert order.oflag_set == {"fciq"}


def test_order_info_from_documented_example(samples_dir: Path) -> None:
    orders = decode_result("QueryOrders", _read(samples_dir, "queryorders-response-3.json"))
    stop = orders["OBCMZD-JIEE7-77TH3F"]
    assert stop.descr.ordertype == "stop-loss-limit"
    assert stop.trigger == "index"
    assert stop.status == "closed" and stop.vol_exec == stop.vol == Decimal("1.25")


def test_trailing_stop_keeps_relative_descr_price(samples_dir: Path) -> None:
    result = decode_result("OpenOrders", _read(samples_dir, "openorders-response-3.json"))
    order = result.open["OF7S76-H2IMS-N2ML4U"]
    assert order.descr.price == "+50.0000%"
    assert order.stopprice == Decimal("0.75790000")
    assert order.limitprice == Decimal("0.50527000")


def test_closed_orders_count_and_reason(samples_dir: Path) -> None:
    result = decode_result("ClosedOrders", _read(samples_dir, "closedorders-response-1.json"))
    assert result.count == 2
    assert {order.reason for order in result.closed.values()} == {"User requested"}


def test_trades_history_and_query_trades(samples_dir: Path) -> None:
    history = decode_result("TradesHistory", _read(samples_dir, "tradeshistory-response-1.json"))
    trade = history.trades["THVRQM-33VKH-UCI7BS"]
    assert trade.price == Decimal("30010.00000") and trade.vol == Decimal("0.02000000")
    assert trade.maker is True and trade.trade_id == 40274859
    queried = decode_result("QueryTrades", _read(samples_dir, "querytrades-response-1.json"))
    assert queried["TTEUX3-HDAAA-RC2RUO"].pair == "XXBTZEUR"


def test_asset_pairs_decimals(samples_dir: Path) -> None:
    pairs = decode_result("AssetPairs", _read(samples_dir, "assetpairs-response-1.json"))
    xbt = pairs["XXBTZUSD"]
    assert (xbt.pair_decimals, xbt.lot_decimals, xbt.cost_decimals) == (1, 8, 5)
    assert xbt.ordermin == Decimal("0.0001")
    assert xbt.costmin == Decimal("0.5")
    assert xbt.tick_size == Decimal("0.1")
    assert xbt.fees[0] == [Decimal(0), Decimal("0.26")]


def test_cancel_all_orders_after_camel_case(samples_dir: Path) -> None:
    result = decode_result(
        "CancelAllOrdersAfter", _read(samples_dir, "cancelallordersafter-response-1.json")
    )
    assert result.current_time == "2023-03-24T17:41:56Z"
    assert result.trigger_time == "2023-03-24T17:42:56Z"


def test_cancel_pending_flag() -> None:
    result = decode_result("CancelOrder", b'{"error":[],"result":{"count":1,"pending":false}}')
    assert (result.count, result.pending) == (1, False)


def test_ticker_and_balance(samples_dir: Path) -> None:
    ticker = decode_result("Ticker", _read(samples_dir, "ticker-response-2.json"))["XBTUSDT"]
    assert (ticker.ask, ticker.bid, ticker.last) == (
        Decimal("73380.70000"),
        Decimal("73380.60000"),
        Decimal("73380.60000"),
    )
    assert ticker.t == [6405, 21103]
    balance = decode_result("Balance", _read(samples_dir, "balance-response-1.json"))
    assert balance["XXBT"] == Decimal("1011.1908877900")


def test_balance_ex() -> None:
    body = b'{"error":[],"result":{"ZUSD":{"balance":"25.5","hold_trade":"1.25"}}}'
    entry = decode_result("BalanceEx", body)["ZUSD"]
    assert (entry.balance, entry.hold_trade) == (Decimal("25.5"), Decimal("1.25"))


def test_websockets_token_is_redacted_in_repr(samples_dir: Path) -> None:
    token = decode_result(
        "GetWebSocketsToken", _read(samples_dir, "getwebsocketstoken-response-1.json")
    )
    assert isinstance(token, WebSocketsToken)
    assert token.token == "1Dwc4lzSwNWOAwkMdqhssNNFhs1ed606d1WcF3XfEMw"
    assert token.token not in repr(token) and token.expires == 900


def test_error_reply_raises_api_error_even_with_result() -> None:
    with pytest.raises(KrakenAPIError) as caught:
        decode_response(b'{"error":["EService:Unavailable"],"result":{}}', OrderInfo, endpoint="X")
    assert caught.value.errors == ["EService:Unavailable"]
    assert caught.value.endpoint == "X"


def test_warnings_alone_do_not_fail_a_reply_with_result() -> None:
    body = b'{"error":["WGeneral:Something"],"result":{"count":1}}'
    assert decode_result("CancelOrder", body).count == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<html>502 Bad Gateway</html>", "not JSON"),
        (b"", "not JSON"),
        (b"[]", "Expected `object`"),
        (b'{"error":[]}', "neither a result nor an error"),
        (b'{"error":[],"result":{"txid":["A"]}}', "descr"),
        (b'{"error":[],"result":{"count":"many"}}', "$.result.count"),
    ],
)
def test_malformed_replies_name_endpoint_and_problem(body: bytes, expected: str) -> None:
    method = "CancelOrder" if b"count" in body else "AddOrder"
    with pytest.raises(MalformedResponse) as caught:
        decode_result(method, body)
    assert caught.value.endpoint == method
    assert method in str(caught.value)
    assert expected in str(caught.value)


def test_unknown_method_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="NoSuchMethod"):
        decode_result("NoSuchMethod", b"{}")


def test_result_types_cover_every_endpoint_the_client_uses() -> None:
    expected = {
        "AddOrder", "AddOrderBatch", "AmendOrder", "CancelOrder", "CancelOrderBatch", "CancelAll",
        "CancelAllOrdersAfter", "QueryOrders", "OpenOrders", "ClosedOrders", "QueryTrades",
        "TradesHistory", "GetWebSocketsToken", "Balance", "BalanceEx", "Time", "SystemStatus",
        "Assets", "AssetPairs", "Ticker",
    }  # fmt: skip
    assert expected <= set(RESULT_TYPES)


@given(
    volume=st.decimals(min_value=0, max_value=10**9, places=8, allow_nan=False),
    as_string=st.booleans(),
)
def test_decimal_fields_decode_exactly_from_number_or_string(
    volume: Decimal, as_string: bool
) -> None:
    text = format(volume, "f")
    literal = f'"{text}"' if as_string else text
    body = (
        '{"error":[],"result":{"O1":{"status":"open","vol":' + literal + ","
        '"descr":{"pair":"XBTUSD","type":"buy","ordertype":"limit"}}}}'
    ).encode()
    assert decode_result("QueryOrders", body)["O1"].vol == volume
