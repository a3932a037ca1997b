"""Public endpoints: Kraken's paths, response shapes and the default markets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sim_testkit import START, Client, simulator


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with simulator() as sim:
        yield Client(sim.rest_url)


def test_time(client: Client) -> None:
    answer = client.public("Time")
    assert answer == {
        "error": [],
        "result": {"unixtime": int(START), "rfc1123": "Tue, 14 Nov 23 22:13:20 +0000"},
    }


def test_system_status(client: Client) -> None:
    result = client.public("SystemStatus")["result"]
    assert result == {"status": "online", "timestamp": "2023-11-14T22:13:20Z"}


def test_asset_pairs_xbtusd_matches_kraken(client: Client) -> None:
    result = client.public("AssetPairs", "pair=XBTUSD")["result"]
    pair = result["XXBTZUSD"]
    assert (pair["altname"], pair["wsname"], pair["base"], pair["quote"]) == (
        "XBTUSD",
        "XBT/USD",
        "XXBT",
        "ZUSD",
    )
    assert (pair["pair_decimals"], pair["lot_decimals"], pair["cost_decimals"]) == (1, 8, 5)
    assert (pair["ordermin"], pair["costmin"], pair["tick_size"]) == ("0.0001", "0.5", "0.1")


def test_default_markets(client: Client) -> None:
    result = client.public("AssetPairs")["result"]
    assert len(result) >= 10
    assert result["XETHZUSD"]["tick_size"] == "0.01"
    assert result["XETHZUSD"]["ordermin"] == "0.002"
    assert result["XDGUSD"]["wsname"] == "XDG/USD"
    assert "XETHXXBT" in result and "SOLUSD" in result


def test_asset_pairs_accepts_every_naming_form(client: Client) -> None:
    for name in ("XXBTZUSD", "XBTUSD", "xbtusd", "XBT/USD", "BTC/USD"):
        assert list(client.public("AssetPairs", f"pair={name}")["result"]) == ["XXBTZUSD"]


def test_unknown_pair_answers_only_error(client: Client) -> None:
    assert client.public("AssetPairs", "pair=NOPE") == {"error": ["EQuery:Unknown asset pair"]}


def test_ticker_get_and_post(client: Client) -> None:
    by_get = client.public("Ticker", "pair=ETHUSD")["result"]["XETHZUSD"]
    by_post = client.public("Ticker", verb="POST", body=b"pair=ETHUSD")["result"]["XETHZUSD"]
    assert by_get == by_post
    assert by_get["c"][0] == "3200.00"
    assert set(by_get) == {"a", "b", "c", "v", "p", "t", "l", "h", "o"}


def test_assets(client: Client) -> None:
    result = client.public("Assets", "asset=XBT,USD")["result"]
    assert result["XXBT"]["altname"] == "XBT" and result["ZUSD"]["decimals"] == 4


def test_unknown_method_and_path(client: Client) -> None:
    assert client.public("Nope") == {"error": ["EGeneral:Unknown method"]}
    status, _ = client.request("GET", "/elsewhere")
    assert status == 404


def test_malformed_request_line_gets_400(client: Client) -> None:
    import socket

    with socket.create_connection((client.host, client.port), timeout=5) as raw:
        raw.sendall(b"NONSENSE\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 400")
