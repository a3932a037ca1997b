"""Paper trading's price source: simulator B quotes its markets from simulator A's public WS v2
ticker, standing in for Kraken's, and goes stale (cancel_only) while that feed is down."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
import requests
from sim_testkit import START, Client, manual_config

from gal_exec.core.clock import ManualClock
from gal_exec.paper import PaperFeed
from gal_exec.sim.server import Simulator

pytestmark = pytest.mark.timeout(30)
D = Decimal


def wait(feed: PaperFeed, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    with feed.changed:
        assert feed.changed.wait_for(predicate, timeout), (feed.quotes, feed.sessions, feed.drops)


def control(sim: Simulator, route: str, **body: object) -> dict:
    answer = requests.post(f"{sim.control_url}/{route}", json=body, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_paper_simulator_trades_at_the_feeds_prices_and_stops_while_it_is_down() -> None:
    with Simulator(manual_config(spread_bps=10.0), clock=ManualClock(START)) as source:
        feed = PaperFeed(source.ws_url, ["BTC/USD"], liveness_timeout_s=5.0)
        paper = Simulator(manual_config(), clock=ManualClock(START), price_source=feed)
        with paper:
            wait(feed, lambda: feed.quotes >= 1)  # the snapshot
            moved = control(source, "price", pair="XBTUSD", price="71000.0")
            wait(feed, lambda: feed.quotes >= 2)
            market = paper.exchange.engine.markets["XXBTZUSD"]
            assert (market.bid, market.ask) == (D(moved["bid"]), D(moved["ask"]))
            client = Client(paper.rest_url)
            txid = client.ok(
                "AddOrder",
                {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.1"},
            )["txid"][0]
            order = client.ok("QueryOrders", {"txid": txid})[txid]
            assert order["status"] == "closed" and D(order["price"]) == D(moved["ask"])
            # ETH/USD is not followed: it never trades.
            assert client.error(
                "AddOrder",
                {"pair": "ETHUSD", "type": "buy", "ordertype": "market", "volume": "0.1"},
            ) == ("EService:Market in cancel_only mode")

            control(source, "ws/disconnect")
            wait(feed, lambda: feed.drops >= 1)
            assert paper.exchange.state()["markets"]["XXBTZUSD"]["stale"] is True
            refused = client.error(
                "AddOrder",
                {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.1"},
            )
            assert refused == "EService:Market in cancel_only mode"

            quotes = feed.quotes
            wait(feed, lambda: feed.sessions >= 2 and feed.quotes > quotes)  # snapshot again
            assert paper.exchange.state()["markets"]["XXBTZUSD"]["stale"] is False
            again = control(source, "price", pair="XBTUSD", price="70500.0")
            wait(feed, lambda: market.ask == D(again["ask"]))
            txid = client.ok(
                "AddOrder",
                {"pair": "XBTUSD", "type": "sell", "ordertype": "market", "volume": "0.1"},
            )["txid"][0]
            assert D(client.ok("QueryOrders", {"txid": txid})[txid]["price"]) == D(again["bid"])
