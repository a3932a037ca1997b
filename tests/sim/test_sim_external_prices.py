"""External prices (paper trading): markets follow quotes, and a stale market is cancel_only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sim_testkit import exchange

from gal_exec.sim import DEMO_API_KEY as KEY
from gal_exec.sim import Exchange, SimError

D = Decimal


def place(ex: Exchange, **params: str) -> str:
    base = {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.5"}
    base.update(params)
    return ex.add_order(KEY, base)["txid"][0]


def info(ex: Exchange, txid: str) -> dict:
    return ex.query_orders(KEY, txid, trades=True)[txid]


@pytest.fixture
def ex() -> Exchange:
    market, _ = exchange(liquidity_per_step=1.0, enforce_rate_limits=False, volatility_bps=5.0)
    market.use_external_prices()
    return market


def test_a_market_without_a_quote_refuses_orders_and_shows_no_ticker(ex: Exchange) -> None:
    with pytest.raises(SimError, match="EService:Market in cancel_only mode"):
        place(ex)
    assert "XXBTZUSD" not in ex.ticker("XBTUSD")
    assert ex.ticker_ws("BTC/USD") is None
    state = ex.state()["markets"]["XXBTZUSD"]
    assert state["source"] == "external" and state["stale"] is True


def test_orders_fill_at_the_quoted_touch_and_steps_do_not_move_it(ex: Exchange) -> None:
    assert ex.external_quote("BTC/USD", bid=D("70000.1"), ask=D("70000.3"), last=D("70000.2"))
    ex.step(5)  # the random walk is off for an external market
    market = ex.engine.markets["XXBTZUSD"]
    assert (market.bid, market.ask, market.last) == (D("70000.1"), D("70000.3"), D("70000.2"))
    buy = info(ex, place(ex))
    assert buy["status"] == "closed" and D(buy["price"]) == D("70000.3")
    sell = info(ex, place(ex, type="sell"))
    assert D(sell["price"]) == D("70000.1")
    ticker = ex.ticker("XBTUSD")["XXBTZUSD"]
    assert D(ticker["a"][0]) == D("70000.3") and D(ticker["b"][0]) == D("70000.1")


def test_a_resting_order_fills_when_the_quote_reaches_it(ex: Exchange) -> None:
    ex.external_quote("BTC/USD", bid=D("70000.0"), ask=D("70001.0"), last=D("70000.5"))
    txid = place(ex, ordertype="limit", price="69990.0")
    assert info(ex, txid)["status"] == "open"
    ex.external_quote("BTC/USD", bid=D("69980.0"), ask=D("69985.0"), last=D("69982.0"))
    order = info(ex, txid)
    assert order["status"] == "closed" and D(order["price"]) == D("69990.0")


def test_a_stale_feed_stops_fills_and_new_orders_until_quoted_again(ex: Exchange) -> None:
    ex.external_quote("BTC/USD", bid=D("70000.0"), ask=D("70001.0"), last=D("70000.5"))
    txid = place(ex, ordertype="limit", price="69990.0")
    ex.external_stale("price feed lost: test")
    ex.set_price("XBTUSD", D("69000"))  # even a move does not fill a stale market
    assert info(ex, txid)["status"] == "open"
    with pytest.raises(SimError, match="cancel_only"):
        place(ex)
    assert ex.state()["external_reason"] == "price feed lost: test"
    assert ex.cancel_order(KEY, txid=txid)["count"] == 1  # cancels still work
    ex.external_quote("BTC/USD", bid=D("70000.0"), ask=D("70001.0"), last=D("70000.5"))
    assert info(ex, place(ex))["status"] == "closed"


def test_an_unknown_symbol_or_empty_quote_is_ignored(ex: Exchange) -> None:
    assert not ex.external_quote("NOPE/USD", bid=D(1), ask=D(2), last=D(1))
    assert not ex.external_quote("BTC/USD", bid=None, ask=None, last=None)
    assert ex.engine.markets["XXBTZUSD"].stale
