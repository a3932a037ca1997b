"""Conformance with a third-party client: python-kraken-sdk pointed at the simulator only
through its ``url`` argument, exactly as it would talk to api.kraken.com."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from kraken.exceptions import KrakenInvalidOrderError, KrakenUnknownOrderError
from kraken.spot import Market, Trade, User
from sim_testkit import simulator

from gal_exec.sim import Simulator


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with simulator(liquidity_per_step=5.0) as running:
        yield running


@pytest.fixture
def clients(sim: Simulator) -> tuple[Market, Trade, User]:
    sim.exchange.advance(60)  # let the starter-tier REST counter decay between tests
    credentials = {"key": sim.api_key, "secret": sim.api_secret, "url": sim.rest_url}
    return Market(url=sim.rest_url), Trade(**credentials), User(**credentials)


def test_time_status_and_pairs(clients) -> None:
    market, _, _ = clients
    assert market.request("GET", "/0/public/Time", auth=False)["unixtime"] >= 1_700_000_000
    assert market.get_system_status()["status"] == "online"
    pairs = market.get_asset_pairs(pair=["XBTUSD", "ETHUSD"])
    assert set(pairs) == {"XXBTZUSD", "XETHZUSD"}
    assert market.get_ticker(pair="XBTUSD")["XXBTZUSD"]["c"][0] == "65000.0"


def test_limit_order_lifecycle_by_cl_ord_id(clients) -> None:
    _, trade, user = clients
    placed = trade.create_order(
        ordertype="limit",
        side="buy",
        pair="XBTUSD",
        volume="0.01",
        price="60000",
        cl_ord_id="sdk-order-1",
    )
    txid = placed["txid"][0]
    assert placed["descr"]["order"] == "buy 0.01000000 XBTUSD @ limit 60000.0"
    found = user.get_orders_info(txid=txid)[txid]
    assert (found["status"], found["cl_ord_id"]) == ("open", "sdk-order-1")
    assert list(user.get_open_orders(cl_ord_id="sdk-order-1")["open"]) == [txid]
    assert trade.cancel_order(cl_ord_id="sdk-order-1") == {"count": 1}
    assert user.get_orders_info(txid=txid)[txid]["status"] == "canceled"
    closed = user.get_closed_orders(cl_ord_id="sdk-order-1")
    assert list(closed["closed"]) == [txid] and closed["count"] == 1


def test_market_order_fills_and_moves_the_balance(clients) -> None:
    _, trade, user = clients
    before = Decimal(user.get_account_balance()["XXBT"])
    txid = trade.create_order(ordertype="market", side="buy", pair="XBTUSD", volume="0.02")["txid"][
        0
    ]
    order = user.get_orders_info(txid=txid, trades=True)[txid]
    assert (order["status"], order["vol_exec"]) == ("closed", "0.02000000")
    assert Decimal(user.get_account_balance()["XXBT"]) - before == Decimal("0.02")
    fills = user.get_trades_info(txid=order["trades"])
    assert [fill["ordertxid"] for fill in fills.values()] == [txid]
    assert user.get_balances()["XXBT"]["hold_trade"] == "0.0000000000"


def test_batch_amend_and_errors(clients) -> None:
    _, trade, user = clients
    batch = trade.create_order_batch(
        orders=[
            {"ordertype": "limit", "type": "buy", "volume": "0.01", "price": "50000"},
            {"ordertype": "limit", "type": "buy", "volume": "0.01", "price": "50000.1"},
        ],
        pair="XBTUSD",
    )
    txids = [entry["txid"] for entry in batch["orders"]]
    assert trade.amend_order(txid=txids[0], limit_price="49000")["amend_id"]
    assert user.get_orders_info(txid=txids[0])[txids[0]]["descr"]["price"] == "49000.0"
    assert trade.cancel_order_batch(orders=txids) == {"count": 2}
    with pytest.raises(KrakenUnknownOrderError):
        trade.cancel_order(txid=txids[0])
    with pytest.raises(KrakenInvalidOrderError):
        user.get_orders_info(txid="OAAAAA-BBBBB-CCCCCC")
    after = trade.cancel_all_orders_after_x(timeout=60)
    assert set(after) == {"currentTime", "triggerTime"}
    assert trade.cancel_all_orders_after_x(timeout=0)["triggerTime"] == "0"
