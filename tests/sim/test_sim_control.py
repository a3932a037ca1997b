"""The /sim/ control API: drive the market, read every order and trade, change the rules."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sim_testkit import Client, simulator

from gal_exec.config import SimConfig
from gal_exec.sim import Simulator

BUY = {
    "pair": "XBTUSD",
    "type": "buy",
    "ordertype": "limit",
    "price": "59000",
    "volume": "0.5",
    "cl_ord_id": "ctl-1",
}


@pytest.fixture
def client() -> Iterator[Client]:
    with simulator(liquidity_per_step=1.0) as sim:
        yield Client(sim.rest_url)


def post(client: Client, route: str, payload: dict) -> dict:
    status, answer = client.control("POST", route, payload)
    assert status == 200, answer
    return answer


def test_price_fills_and_dumps(client: Client) -> None:
    txid = client.ok("AddOrder", BUY)["txid"][0]
    quote = post(client, "price", {"pair": "BTC/USD", "price": "58000"})
    assert quote == {
        "ok": True,
        "pair": "XXBTZUSD",
        "bid": "58000.0",
        "ask": "58000.0",
        "last": "58000.0",
    }
    _, dumped = client.control("GET", "orders")
    order = dumped["orders"][0]
    assert {
        k: order[k]
        for k in (
            "txid",
            "cl_ord_id",
            "userref",
            "pair",
            "side",
            "ordertype",
            "status",
            "vol",
            "vol_exec",
            "price",
        )
    } == {
        "txid": txid,
        "cl_ord_id": "ctl-1",
        "userref": None,
        "pair": "XXBTZUSD",
        "side": "buy",
        "ordertype": "limit",
        "status": "closed",
        "vol": "0.50000000",
        "vol_exec": "0.50000000",
        "price": "59000.0",
    }
    assert order["opentm"] == 1_700_000_000.0 and order["closetm"] == 1_700_000_000.0
    _, trades = client.control("GET", "trades")
    trade = trades["trades"][0]
    assert (trade["ordertxid"], trade["price"], trade["vol"], trade["fee"], trade["side"]) == (
        txid,
        "59000.0",
        "0.50000000",
        "73.7500",
        "buy",
    )
    assert isinstance(trade["trade_id"], int) and trade["time"] == 1_700_000_000.0


def test_liquidity_step_and_pause(client: Client) -> None:
    post(client, "liquidity", {"pair": "XBTUSD", "per_step": "0.2"})
    post(client, "pause", {"paused": True})
    txid = client.ok("AddOrder", {**BUY, "ordertype": "market", "cl_ord_id": "m"})["txid"][0]
    post(client, "step", {"n": 3})
    assert client.ok("QueryOrders", {"txid": txid})[txid]["vol_exec"] == "0.00000000"
    post(client, "pause", {"paused": False})
    assert client.ok("QueryOrders", {"txid": txid})[txid]["vol_exec"] == "0.20000000"
    post(client, "step", {"n": 2})
    assert client.ok("QueryOrders", {"txid": txid})[txid]["status"] == "closed"


def test_advance_and_state(client: Client) -> None:
    answer = post(client, "advance", {"seconds": 1.5})
    assert answer["time"] == 1_700_000_001.5
    _, state = client.control("GET", "state")
    assert state["clock"] == "manual" and state["time"] == 1_700_000_001.5
    assert state["markets"]["XXBTZUSD"]["steps"] == 6
    assert state["markets"]["XETHZUSD"]["last"] == "3200.00"
    client.ok("Balance")
    assert state["tier"] == "starter"
    _, state = client.control("GET", "state")
    assert state["rate_counters"][client.key]["rest"] == pytest.approx(1)


def test_status_modes(client: Client) -> None:
    post(client, "status", {"status": "cancel_only"})
    assert client.public("SystemStatus")["result"]["status"] == "cancel_only"
    assert client.error("AddOrder", BUY) == "EService:Market in cancel_only mode"
    post(client, "status", {"status": "post_only"})
    assert client.error("AddOrder", BUY) == "EService:Market in post_only mode"
    client.ok("AddOrder", {**BUY, "oflags": "post"})
    post(client, "status", {"status": "maintenance"})
    assert client.error("CancelAll") == "EService:Unavailable"
    post(client, "status", {"status": "online"})
    assert client.ok("CancelAll") == {"count": 1}


def test_accounts(client: Client) -> None:
    secret = (
        "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
    )
    post(
        client, "accounts", {"api_key": "second", "api_secret": secret, "balances": {"ZUSD": "100"}}
    )
    second = Client(f"http://{client.host}:{client.port}", key="second", secret=secret)
    assert second.ok("Balance") == {"ZUSD": "100.0000"}
    assert second.error("AddOrder", BUY) == "EOrder:Insufficient funds"


@pytest.mark.parametrize(
    ("verb", "route", "payload", "status"),
    [
        ("POST", "price", {"pair": "XBTUSD"}, 400),
        ("POST", "price", {"pair": "NOPE", "price": "1"}, 400),
        ("POST", "price", {"pair": "XBTUSD", "price": "-5"}, 400),
        ("POST", "step", {"n": "many"}, 400),
        ("POST", "pause", {"paused": "perhaps"}, 400),
        ("POST", "status", {"status": "asleep"}, 400),
        ("POST", "nothing", {}, 404),
        ("GET", "price", None, 404),
    ],
)
def test_bad_control_requests(client: Client, verb, route, payload, status) -> None:
    got, answer = client.control(verb, route, payload)
    assert got == status and answer["error"]


def test_advance_needs_the_manual_clock() -> None:
    with Simulator(SimConfig(step_interval_s=0.05)) as sim:
        client = Client(sim.rest_url)
        got, answer = client.control("POST", "advance", {"seconds": 1})
        assert got == 400 and "manual" in answer["error"]


def test_real_clock_steps_by_itself() -> None:
    with Simulator(SimConfig(step_interval_s=0.02, volatility_bps=50.0)) as sim:
        ticks: list[dict] = []
        enough = threading.Event()

        def on_tick(ticker: dict) -> None:
            ticks.append(ticker)
            if len(ticks) >= 24:
                enough.set()

        sim.exchange.subscribe_ticker(on_tick)
        assert enough.wait(10)
        prices = {t["last"] for t in ticks if t["symbol"] == "BTC/USD"}
        assert len(prices) > 1 and all(isinstance(p, Decimal) for p in prices)


def test_price_csv_replay(tmp_path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("timestamp,price\n1,65010.0\n2,65020.0\n3,3300.00,ETHUSD\n")
    with simulator(price_csv=str(path)) as sim:
        client = Client(sim.rest_url)
        post(client, "step", {"n": 1})
        assert client.public("Ticker", "pair=XBTUSD")["result"]["XXBTZUSD"]["c"][0] == "65010.0"
        assert client.public("Ticker", "pair=ETHUSD")["result"]["XETHZUSD"]["c"][0] == "3300.00"
        post(client, "step", {"n": 5})
        assert client.public("Ticker", "pair=XBTUSD")["result"]["XXBTZUSD"]["c"][0] == "65020.0"


def test_bad_price_csv_names_the_line(tmp_path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("1,65010.0\n2,abc\n")
    with pytest.raises(ValueError, match=r"prices\.csv:2"):
        simulator(price_csv=str(path)).start()
