"""API key permissions: GetApiKeyInfo in Kraken's shape, and EGeneral:Permission denied."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
import websocket
from sim_testkit import Client, simulator

from gal_exec.kraken.auth import Credentials
from gal_exec.kraken.errors import KrakenAPIError
from gal_exec.kraken.rest import KrakenRestClient
from gal_exec.sim.permissions import ALL_PERMISSIONS, TRADING_PERMISSIONS, required_permission
from gal_exec.timers import SystemClock

SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="


@pytest.fixture(scope="module")
def sim() -> Iterator:
    with simulator() as running:
        running.exchange.add_account(
            "read-only", SECRET, {"ZUSD": 100}, permissions=["query-funds"], name="watcher"
        )
        # Keys for the REST client, whose microsecond nonces sit below the testkit's.
        running.exchange.add_account("trader-us", SECRET, {"ZUSD": 100}, name="trader")
        running.exchange.add_account("read-only-us", SECRET, {}, permissions=["query-funds"])
        yield running


def test_demo_key_info_has_kraken_shape_and_trading_permissions(sim) -> None:
    info = Client(sim.rest_url).ok("GetApiKeyInfo")
    assert set(info) == {
        "apiKeyName",
        "apiKey",
        "nonce",
        "nonceWindow",
        "permissions",
        "iban",
        "validUntil",
        "queryFrom",
        "queryTo",
        "createdTime",
        "modifiedTime",
        "ipAllowlist",
        "lastUsed",
    }
    assert info["apiKeyName"] == "demo"
    assert info["permissions"] == list(TRADING_PERMISSIONS)
    assert "withdraw-funds" not in info["permissions"]
    assert int(info["nonce"]) > 0 and isinstance(info["nonceWindow"], int)


def test_a_key_without_a_permission_is_refused_that_call_only(sim) -> None:
    client = Client(sim.rest_url, key="read-only", secret=SECRET)
    assert "ZUSD" in client.ok("Balance")
    assert client.ok("GetApiKeyInfo")["permissions"] == ["query-funds"]
    for method, params in (
        ("OpenOrders", {}),
        ("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "1"}),
        ("CancelAllOrdersAfter", {"timeout": "60"}),
        ("GetWebSocketsToken", {}),
    ):
        assert client.error(method, params) == "EGeneral:Permission denied", method


def test_accounts_control_takes_permissions_and_refuses_unknown_ones(sim) -> None:
    url = f"{sim.control_url}/accounts"
    good = {"api_key": "all", "api_secret": SECRET, "permissions": list(ALL_PERMISSIONS)}
    assert requests.post(url, json=good, timeout=5).status_code == 200
    info = Client(sim.rest_url, key="all", secret=SECRET).ok("GetApiKeyInfo")
    assert "withdraw-funds" in info["permissions"]
    bad = {"api_key": "x", "api_secret": SECRET, "permissions": ["fly"]}
    answer = requests.post(url, json=bad, timeout=5)
    assert answer.status_code == 400 and "unknown permission 'fly'" in answer.json()["error"]


def test_rest_client_decodes_key_info(sim) -> None:
    client = KrakenRestClient(sim.rest_url, Credentials("trader-us", SECRET), clock=SystemClock())
    info = client.get_api_key_info()
    assert info.name == "trader" and "modify-trades" in info.permissions
    denied = KrakenRestClient(
        sim.rest_url, Credentials("read-only-us", SECRET), clock=SystemClock()
    )
    with pytest.raises(KrakenAPIError, match="Permission denied"):
        denied.open_orders()


def test_ws_methods_need_the_rest_methods_permission() -> None:
    assert required_permission("add_order") == required_permission("AddOrder") == ("modify-trades",)
    assert required_permission("cancel_all_orders_after") == ("cancel-close-trades",)
    assert required_permission("GetApiKeyInfo") == ()


def test_ws_trading_method_without_its_permission_is_denied(sim) -> None:
    sim.exchange.add_account(
        "ws-reader", SECRET, {"ZUSD": 100}, permissions=["access-websocket", "query-open-trades"]
    )
    token = Client(sim.rest_url, key="ws-reader", secret=SECRET).ok("GetWebSocketsToken")["token"]
    connection = websocket.create_connection(sim.ws_auth_url, timeout=5)
    try:
        request = {
            "method": "add_order",
            "req_id": 7,
            "params": {
                "order_type": "market",
                "side": "buy",
                "order_qty": 0.01,
                "symbol": "BTC/USD",
                "token": token,
            },
        }
        connection.send(json.dumps(request))
        while True:
            answer = json.loads(connection.recv())
            if answer.get("method") == "add_order":
                break
    finally:
        connection.close()
    assert answer["success"] is False and answer["error"] == "EGeneral:Permission denied"
    assert answer["req_id"] == 7
