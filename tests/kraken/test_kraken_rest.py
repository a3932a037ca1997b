"""KrakenRestClient against `responses`: signing, encoding, typed results and typed failures."""

from __future__ import annotations

import base64
import logging
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import requests
import responses
import urllib3.exceptions

from gal_exec.core.clock import ManualClock
from gal_exec.kraken.auth import Credentials, sign
from gal_exec.kraken.codec import AddOrderResult, OpenOrdersResult
from gal_exec.kraken.errors import (
    CredentialsError,
    ErrorCategory,
    KrakenAPIError,
    MalformedResponse,
    TransportError,
)
from gal_exec.kraken.nonce import NonceSequencer
from gal_exec.kraken.orders import OrderRequest
from gal_exec.kraken.rest import KrakenRestClient

BASE = "https://api.example-kraken.test"
SECRET = base64.b64encode(bytes(range(64))).decode()
API_KEY = "TESTKEY0123456789abcdef"
D = Decimal


@pytest.fixture
def client() -> KrakenRestClient:
    return KrakenRestClient(
        BASE, Credentials(API_KEY, SECRET), clock=ManualClock(start=1_700_000_000.0)
    )


def _private(method: str) -> str:
    return f"{BASE}/0/private/{method}"


def _form(call: responses.Call) -> dict[str, str]:
    body = call.request.body
    assert isinstance(body, bytes)
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


def _order() -> OrderRequest:
    return OrderRequest(
        pair="XBTUSD",
        type="buy",
        ordertype="limit",
        volume=D("1.25"),
        price=D("37500"),
        cl_ord_id="c1",
    )


@responses.activate
def test_add_order_signs_exact_bytes_sent(client: KrakenRestClient, samples_dir: Path) -> None:
    responses.post(
        _private("AddOrder"), body=(samples_dir / "addorder-response-2.json").read_bytes()
    )
    result = client.add_order(_order())
    assert isinstance(result, AddOrderResult) and result.txid == ["OL7LNO-R4SAD-6UINEU"]
    request = responses.calls[0].request
    body = request.body
    assert isinstance(body, bytes)
    nonce = int(_form(responses.calls[0])["nonce"])
    assert nonce == 1_700_000_000_000_000
    assert body.startswith(f"nonce={nonce}&".encode())
    assert request.headers["API-Key"] == API_KEY
    assert request.headers["API-Sign"] == sign(SECRET, "/0/private/AddOrder", nonce, body)
    assert request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert request.headers["User-Agent"] == "gal-exec/0.1"
    assert _form(responses.calls[0]) == {
        "nonce": str(nonce),
        "pair": "XBTUSD",
        "type": "buy",
        "ordertype": "limit",
        "volume": "1.25",
        "price": "37500",
        "cl_ord_id": "c1",
    }


@responses.activate
def test_plus_signs_are_percent_encoded(client: KrakenRestClient) -> None:
    responses.post(_private("AddOrder"), json={"error": [], "result": {"descr": {"order": "x"}}})
    client.add_order(
        OrderRequest(pair="XBTUSD", type="buy", ordertype="market", volume=D("1"), expiretm="+30")
    )
    assert b"expiretm=%2B30" in responses.calls[0].request.body


@responses.activate
def test_nonces_increase_across_calls(client: KrakenRestClient) -> None:
    responses.post(_private("Balance"), json={"error": [], "result": {"ZUSD": "1.5"}})
    for _ in range(3):
        assert client.balance() == {"ZUSD": D("1.5")}
    nonces = [int(_form(call)["nonce"]) for call in responses.calls]
    assert nonces == sorted(nonces) and len(set(nonces)) == 3


@responses.activate
def test_add_order_batch_encoding(client: KrakenRestClient, samples_dir: Path) -> None:
    responses.post(
        _private("AddOrderBatch"),
        body=(samples_dir / "addorderbatch-response-1.json").read_bytes(),
    )
    second = OrderRequest(
        pair="XBTUSD", type="sell", ordertype="limit", volume=D("0.14"), price=D("40000")
    )
    result = client.add_order_batch([_order(), second], deadline="2024-01-01T00:00:05Z")
    assert len(result.orders) == 2
    form = _form(responses.calls[0])
    assert form["pair"] == "XBTUSD"
    assert form["orders[0][ordertype]"] == "limit"
    assert form["orders[0][cl_ord_id]"] == "c1"
    assert form["orders[1][type]"] == "sell"
    assert form["orders[1][price]"] == "40000"
    assert form["deadline"] == "2024-01-01T00:00:05Z"
    assert "orders[0][pair]" not in form


def test_batch_size_and_pair_rules(client: KrakenRestClient) -> None:
    with pytest.raises(ValueError, match="2 to 15"):
        client.add_order_batch([_order()])
    other = OrderRequest(pair="ETHUSD", type="buy", ordertype="market", volume=D("1"))
    with pytest.raises(ValueError, match="one pair"):
        client.add_order_batch([_order(), other])


@responses.activate
def test_amend_cancel_and_dead_mans_switch(client: KrakenRestClient) -> None:
    responses.post(_private("AmendOrder"), json={"error": [], "result": {"amend_id": "A1"}})
    responses.post(_private("CancelOrder"), json={"error": [], "result": {"count": 1}})
    responses.post(_private("CancelOrderBatch"), json={"error": [], "result": {"count": 3}})
    responses.post(_private("CancelAll"), json={"error": [], "result": {"count": 4}})
    responses.post(
        _private("CancelAllOrdersAfter"),
        json={"error": [], "result": {"currentTime": "a", "triggerTime": "b"}},
    )
    assert client.amend_order(cl_ord_id="c1", limit_price=D("101.5"), post_only=True).amend_id == (
        "A1"
    )
    assert client.cancel_order(txid="OABC").count == 1
    assert client.cancel_order_batch(["O1", "O2"], ["c3"]).count == 3
    assert client.cancel_all().count == 4
    assert client.cancel_all_orders_after(60).trigger_time == "b"
    forms = [_form(call) for call in responses.calls]
    assert forms[0]["cl_ord_id"] == "c1" and forms[0]["limit_price"] == "101.5"
    assert forms[0]["post_only"] == "true" and "txid" not in forms[0]
    assert forms[1]["txid"] == "OABC"
    assert (forms[2]["orders[0]"], forms[2]["orders[1]"], forms[2]["cl_ord_ids[0]"]) == (
        "O1",
        "O2",
        "c3",
    )
    assert set(forms[3]) == {"nonce"}
    assert forms[4]["timeout"] == "60"


def test_argument_checks_before_sending(client: KrakenRestClient) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        client.cancel_order()
    with pytest.raises(ValueError, match="exactly one"):
        client.cancel_order(txid="O1", cl_ord_id="c1")
    with pytest.raises(ValueError, match="1 to 50"):
        client.query_orders([f"O{i}" for i in range(51)])
    with pytest.raises(ValueError, match="1 to 50"):
        client.cancel_order_batch([f"O{i}" for i in range(51)])
    with pytest.raises(ValueError, match="1 to 20"):
        client.query_trades([f"T{i}" for i in range(21)])
    with pytest.raises(ValueError, match="86399"):
        client.cancel_all_orders_after(86400)


@responses.activate
def test_queries(client: KrakenRestClient, samples_dir: Path) -> None:
    responses.post(
        _private("QueryOrders"), body=(samples_dir / "queryorders-response-3.json").read_bytes()
    )
    responses.post(
        _private("OpenOrders"), body=(samples_dir / "openorders-response-4.json").read_bytes()
    )
    responses.post(
        _private("ClosedOrders"), body=(samples_dir / "closedorders-response-1.json").read_bytes()
    )
    responses.post(
        _private("QueryTrades"), body=(samples_dir / "querytrades-response-1.json").read_bytes()
    )
    responses.post(
        _private("TradesHistory"),
        body=(samples_dir / "tradeshistory-response-1.json").read_bytes(),
    )
    responses.post(
        _private("GetWebSocketsToken"),
        body=(samples_dir / "getwebsocketstoken-response-1.json").read_bytes(),
    )
    responses.post(_private("BalanceEx"), json={"error": [], "result": {"XXBT": {"balance": "1"}}})
    ids = [f"O{i}" for i in range(50)]
    assert len(client.query_orders(ids, trades=True)) == 2
    assert isinstance(client.open_orders(cl_ord_id="c1"), OpenOrdersResult)
    assert client.closed_orders(cl_ord_id="c1", start=1688148000, ofs=50).count == 2
    assert len(client.query_trades(["T1", "T2"])) == 2
    assert len(client.trades_history(start=1).trades) == 2
    assert client.get_websockets_token().expires == 900
    assert client.balance_ex()["XXBT"].balance == D("1")
    forms = [_form(call) for call in responses.calls]
    assert forms[0]["txid"] == ",".join(ids) and forms[0]["trades"] == "true"
    assert forms[1]["cl_ord_id"] == "c1"
    assert (forms[2]["cl_ord_id"], forms[2]["start"], forms[2]["ofs"]) == ("c1", "1688148000", "50")
    assert forms[3]["txid"] == "T1,T2"


@responses.activate
def test_public_endpoints(client: KrakenRestClient, samples_dir: Path) -> None:
    for method, sample in [
        ("Time", "time-response-1.json"),
        ("SystemStatus", "systemstatus-response-1.json"),
        ("AssetPairs", "assetpairs-response-1.json"),
        ("Ticker", "ticker-response-1.json"),
    ]:
        responses.get(f"{BASE}/0/public/{method}", body=(samples_dir / sample).read_bytes())
    responses.get(
        f"{BASE}/0/public/Assets",
        json={"error": [], "result": {"XXBT": {"altname": "XBT", "decimals": 10}}},
    )
    assert client.time().unixtime == 1688669448
    assert client.system_status().status == "online"
    assert client.asset_pairs(["XBTUSD", "ETHXBT"])["XXBTZUSD"].tick_size == D("0.1")
    assert client.ticker(["XBTUSD"])["XXBTZUSD"].last == D("30303.20000")
    assert client.assets(["XBT"])["XXBT"].decimals == 10
    asset_pairs_request = responses.calls[2].request
    assert asset_pairs_request.url.endswith("/0/public/AssetPairs?pair=XBTUSD%2CETHXBT")
    assert "API-Key" not in asset_pairs_request.headers


@responses.activate
@pytest.mark.parametrize("sample", ["error-response-1.json", "error-response-2.json"])
def test_kraken_error_body_raises_api_error(
    client: KrakenRestClient, samples_dir: Path, sample: str
) -> None:
    body = (samples_dir / sample).read_bytes()
    responses.post(_private("AddOrder"), body=body)
    with pytest.raises(KrakenAPIError) as caught:
        client.add_order(_order())
    assert caught.value.endpoint == "AddOrder"
    assert caught.value.classify(placing=True).category is ErrorCategory.PERMANENT


@responses.activate
@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (requests.ReadTimeout("read timed out"), "timeout"),
        (requests.ConnectTimeout("connect timed out"), "connect_failed"),
        (requests.ConnectionError("Connection aborted"), "connection_reset"),
        (
            requests.ConnectionError(
                urllib3.exceptions.MaxRetryError(
                    None,  # type: ignore[arg-type]
                    "/0/private/AddOrder",
                    urllib3.exceptions.NewConnectionError(None, "refused"),  # type: ignore[arg-type]
                )
            ),
            "connect_failed",
        ),
        (requests.exceptions.ChunkedEncodingError("broken"), "connection_reset"),
    ],
)
def test_transport_failures(client: KrakenRestClient, failure: Exception, kind: str) -> None:
    responses.post(_private("AddOrder"), body=failure)
    with pytest.raises(TransportError) as caught:
        client.add_order(_order())
    assert caught.value.kind == kind
    expected = (
        ErrorCategory.RETRYABLE if kind == "connect_failed" else ErrorCategory.OUTCOME_UNKNOWN
    )
    assert caught.value.classify(placing=True).category is expected


@responses.activate
@pytest.mark.parametrize(
    ("status", "kind"),
    [(500, "http_5xx"), (502, "http_5xx"), (404, "http_other"), (429, "http_other")],
)
def test_bad_status(client: KrakenRestClient, status: int, kind: str) -> None:
    responses.post(_private("OpenOrders"), status=status, body=b"<html>oops</html>")
    with pytest.raises(TransportError) as caught:
        client.open_orders()
    assert (caught.value.kind, caught.value.status) == (kind, status)
    assert caught.value.classify(placing=False).category is ErrorCategory.RETRYABLE


@responses.activate
@pytest.mark.parametrize(
    "body", [b"<html>not json</html>", b'{"error":[],"result":{"open":[]}}', b'{"error":[]}']
)
def test_malformed_reply(client: KrakenRestClient, body: bytes) -> None:
    responses.post(_private("OpenOrders"), body=body)
    with pytest.raises(MalformedResponse, match="OpenOrders"):
        client.open_orders()


@responses.activate
def test_low_level_private_returns_raw_bytes(client: KrakenRestClient) -> None:
    responses.post(_private("OpenOrders"), body=b'{"error":["EService:Unavailable"]}')
    assert client.private("OpenOrders", [("trades", "true")]) == (
        b'{"error":["EService:Unavailable"]}'
    )
    assert _form(responses.calls[0])["trades"] == "true"


def test_private_call_without_credentials() -> None:
    client = KrakenRestClient(BASE, None, clock=ManualClock())
    with pytest.raises(CredentialsError, match="Balance needs API credentials"):
        client.balance()


@responses.activate
def test_debug_log_redacts_secrets(
    client: KrakenRestClient, samples_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token_body = (samples_dir / "getwebsocketstoken-response-1.json").read_bytes()
    responses.post(_private("GetWebSocketsToken"), body=token_body)
    caplog.set_level(logging.DEBUG, logger="gal_exec.kraken.rest")
    token = client.get_websockets_token()
    request = responses.calls[0].request
    text = caplog.text
    assert "POST /0/private/GetWebSocketsToken" in text and "nonce=" in text
    assert "GetWebSocketsToken -> HTTP 200" in text and '"expires": 900' in text
    for secret in (SECRET, API_KEY, request.headers["API-Sign"], token.token):
        assert secret not in text
    assert "<redacted>" in text


def test_tls_and_scheme_rules() -> None:
    clock = ManualClock()
    with pytest.raises(ValueError, match="plain http"):
        KrakenRestClient("http://api.kraken.com", None, clock=clock)
    with pytest.raises(ValueError, match="TLS verification"):
        KrakenRestClient("https://api.kraken.com", None, clock=clock, verify=False)
    unverified = requests.Session()
    unverified.verify = False
    with pytest.raises(ValueError, match="TLS verification"):
        KrakenRestClient("https://api.kraken.com", None, clock=clock, session=unverified)
    with pytest.raises(ValueError, match="http"):
        KrakenRestClient("ftp://api.kraken.com", None, clock=clock)
    for loopback in ("http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"):
        KrakenRestClient(loopback, None, clock=clock, verify=False)


@responses.activate
def test_session_ignores_environment_and_trailing_0_is_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:1")
    client = KrakenRestClient(f"{BASE}/0/", None, clock=ManualClock())
    responses.get(f"{BASE}/0/public/Time", json={"error": [], "result": {"unixtime": 5}})
    assert client.time().unixtime == 5
    assert client._http.session.trust_env is False  # type: ignore[attr-defined]


def test_clients_of_one_key_share_the_nonce_gate() -> None:
    sequencer = NonceSequencer(ManualClock())
    credentials = Credentials(API_KEY, SECRET)
    first = KrakenRestClient(BASE, credentials, nonce=sequencer, clock=ManualClock())
    second = KrakenRestClient(BASE, credentials, nonce=sequencer, clock=ManualClock())
    assert first._gate is second._gate is sequencer.gate(0)
    with pytest.raises(ValueError, match="window"):
        KrakenRestClient(BASE, credentials, nonce=sequencer, clock=ManualClock(), nonce_window=10)
