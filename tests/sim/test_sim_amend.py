"""The simulator's AmendOrder follows Kraken's rules: the same order (ids and fills kept), a new
price or more quantity goes to the back of the queue while less keeps its place, a quantity
below the filled one cancels the rest (charged like a cancel), iceberg display quantity, and the
pair's minimum."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sim_testkit import exchange

from gal_exec.sim import DEMO_API_KEY as KEY
from gal_exec.sim import Exchange
from gal_exec.sim.errors import REASON_AMEND_QTY, SimError

D = Decimal


@pytest.fixture
def ex() -> Exchange:
    market, _ = exchange(liquidity_per_step=0.5, enforce_rate_limits=False)
    market.set_price("XBTUSD", D("60000"))
    return market


def rest(ex: Exchange, price: str, volume: str = "1", **params: str) -> str:
    order = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "volume": volume}
    order.update(price=price, **params)
    return ex.add_order(KEY, order)["txid"][0]


def info(ex: Exchange, txid: str) -> dict:
    return ex.query_orders(KEY, txid, trades=True)[txid]


def filled_first(ex: Exchange, first: str, second: str) -> str:
    """Which of two buys at 59000 the market reaches first (0.5 per step: one of them)."""
    ex.set_price("XBTUSD", D("58900"))
    done = {txid: D(info(ex, txid)["vol_exec"]) for txid in (first, second)}
    (winner,) = [txid for txid, executed in done.items() if executed > 0]
    return winner


@pytest.mark.parametrize(
    ("change", "keeps_place"),
    [
        ({"order_qty": "0.6"}, True),
        ({"order_qty": "1.5"}, False),
        ({"limit_price": "59000.0"}, False),  # a new price (here: the same level re-entered)
    ],
)
def test_queue_priority_after_an_amend(ex: Exchange, change: dict, keeps_place: bool) -> None:
    first = rest(ex, "59000.0")
    second = rest(ex, "59000.0")
    ex.amend_order(KEY, {"txid": first, **change})
    assert filled_first(ex, first, second) == (first if keeps_place else second)


def test_an_amend_below_the_filled_quantity_cancels_the_rest(ex: Exchange) -> None:
    events: list[dict] = []
    ex.subscribe_executions(KEY, events.extend)
    txid = rest(ex, "59000.0")
    ex.set_price("XBTUSD", D("58900"))  # 0.5 fills
    assert info(ex, txid)["vol_exec"] == "0.50000000"
    ex.amend_order(KEY, {"txid": txid, "order_qty": "0.3"})
    order = info(ex, txid)
    assert (order["status"], order["vol"], order["vol_exec"], order["reason"]) == (
        "canceled",
        "0.50000000",
        "0.50000000",
        REASON_AMEND_QTY,
    )
    assert "amended" in order["misc"]
    assert [e["exec_type"] for e in events[-2:]] == ["amended", "canceled"]
    assert events[-2]["order_qty"] == D("0.5")
    assert ex.open_orders(KEY)["open"] == {}


def test_an_amend_to_exactly_the_filled_quantity_closes_the_order(ex: Exchange) -> None:
    txid = rest(ex, "59000.0")
    ex.set_price("XBTUSD", D("58900"))
    ex.amend_order(KEY, {"txid": txid, "order_qty": "0.5"})
    order = info(ex, txid)
    assert (order["status"], order["vol"], order["vol_exec"]) == (
        "closed",
        "0.50000000",
        "0.50000000",
    )


def test_a_cancelling_amend_costs_a_cancel_on_the_trading_counter() -> None:
    market, _ = exchange(tier="pro", liquidity_per_step=0.5)
    market.set_price("XBTUSD", D("60000"))
    txid = rest(market, "59000.0")
    market.set_price("XBTUSD", D("58900"))
    before = market.rate_counter(KEY)["BTC/USD"]
    market.amend_order(KEY, {"txid": txid, "order_qty": "0.1"})
    # at age 0: the amend costs 1 + 3 and the cancel of the rest 8
    assert market.rate_counter(KEY)["BTC/USD"] - before == 12


def test_amended_quantity_must_meet_the_pairs_minimum(ex: Exchange) -> None:
    txid = rest(ex, "50000.0")
    with pytest.raises(SimError, match="EOrder:Order minimum not met"):
        ex.amend_order(KEY, {"txid": txid, "order_qty": "0.00001"})
    assert info(ex, txid)["vol"] == "1.00000000"


def test_an_icebergs_display_quantity_is_amended_within_its_bounds(ex: Exchange) -> None:
    iceberg = rest(ex, "50000.0", volume="1.5", ordertype="iceberg", displayvol="0.5")
    ex.amend_order(KEY, {"txid": iceberg, "display_qty": "0.2"})
    assert ex.engine.orders[iceberg].display_volume == D("0.2")
    with pytest.raises(SimError, match="display_qty"):
        ex.amend_order(KEY, {"txid": iceberg, "display_qty": "0.05"})  # below 1/15 of 1.5
    plain = rest(ex, "50000.0")
    with pytest.raises(SimError, match="display_qty"):
        ex.amend_order(KEY, {"txid": plain, "display_qty": "0.5"})
    assert ex.engine.orders[iceberg].display_volume == D("0.2")
