"""The matching engine, driven through the Exchange on a manual clock: fills over steps, each
order type's trigger, time in force, post-only, conditional close, fees and holds."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sim_testkit import exchange

from gal_exec.sim import DEMO_API_KEY as KEY
from gal_exec.sim import Exchange

D = Decimal


def place(ex: Exchange, **params: str) -> str:
    base = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "volume": "1"}
    base.update(params)
    return ex.add_order(KEY, base)["txid"][0]


def info(ex: Exchange, txid: str) -> dict:
    return ex.query_orders(KEY, txid, trades=True)[txid]


def record(ex: Exchange) -> list[dict]:
    events: list[dict] = []
    ex.subscribe_executions(KEY, events.extend)
    return events


@pytest.fixture
def ex() -> Exchange:
    market, _ = exchange(liquidity_per_step=1.0, enforce_rate_limits=False)
    market.set_price("XBTUSD", D("60000"))
    return market


def test_large_market_order_fills_over_steps(ex: Exchange) -> None:
    events = record(ex)
    txid = place(ex, ordertype="market", volume="2.5")
    assert info(ex, txid)["vol_exec"] == "1.00000000"
    ex.step()
    assert info(ex, txid)["vol_exec"] == "2.00000000"
    ex.step()
    order = info(ex, txid)
    assert (order["status"], order["vol_exec"], len(order["trades"])) == ("closed", "2.50000000", 3)
    kinds = [event["exec_type"] for event in events]
    assert kinds == ["pending_new", "new", "trade", "trade", "trade", "filled"]
    assert events[0]["order_qty"] == D("2.5") and events[0]["symbol"] == "BTC/USD"
    assert events[-1]["cum_qty"] == D("2.5") and events[-1]["order_status"] == "filled"


def test_resting_limit_fills_as_maker_at_its_price(ex: Exchange) -> None:
    txid = place(ex, price="59000.0")
    ex.step(3)
    assert info(ex, txid)["vol_exec"] == "0.00000000"
    ex.set_price("XBTUSD", D("58000"))
    order = info(ex, txid)
    assert (order["status"], order["price"], order["fee"]) == ("closed", "59000.0", "147.50000")
    trade = ex.trades_history(KEY)["trades"][order["trades"][0]]
    assert trade["maker"] is True and trade["price"] == "59000.0"


def test_marketable_limit_takes_at_the_touch_and_rests_the_rest(ex: Exchange) -> None:
    txid = place(ex, price="61000.0", volume="1.5")
    order = info(ex, txid)
    assert (order["status"], order["vol_exec"], order["price"]) == ("open", "1.00000000", "60000.0")
    assert order["fee"] == "240.00000"  # taker 0.40 %
    ex.step()
    assert info(ex, txid)["status"] == "closed"


@pytest.mark.parametrize(
    ("side", "ordertype", "trigger", "quiet", "fires"),
    [
        ("sell", "stop-loss", "59000.0", "59000.1", "59000.0"),
        ("buy", "stop-loss", "61000.0", "60999.9", "61000.0"),
        ("sell", "take-profit", "61000.0", "60999.9", "61000.0"),
        ("buy", "take-profit", "59000.0", "59000.1", "59000.0"),
    ],
)
def test_stop_and_take_profit_triggers(ex: Exchange, side, ordertype, trigger, quiet, fires):
    txid = place(ex, type=side, ordertype=ordertype, price=trigger, volume="0.5")
    ex.set_price("XBTUSD", D(quiet))
    assert info(ex, txid)["vol_exec"] == "0.00000000"
    ex.set_price("XBTUSD", D(fires))
    order = info(ex, txid)
    assert (order["status"], order["vol_exec"], order["stopprice"]) == (
        "closed",
        "0.50000000",
        trigger,
    )
    assert order["misc"] == ("touched" if ordertype == "take-profit" else "stopped")


def test_stop_loss_limit_rests_at_its_limit_after_the_trigger(ex: Exchange) -> None:
    txid = place(
        ex,
        type="sell",
        ordertype="stop-loss-limit",
        price="59000.0",
        price2="59500.0",
        volume="0.5",
    )
    ex.set_price("XBTUSD", D("59000"))
    order = info(ex, txid)
    assert (order["status"], order["vol_exec"], order["limitprice"]) == (
        "open",
        "0.00000000",
        "59500.0",
    )
    ex.set_price("XBTUSD", D("59600"))
    assert info(ex, txid)["status"] == "closed"
    assert info(ex, txid)["price"] == "59500.0"


def test_take_profit_limit(ex: Exchange) -> None:
    txid = place(
        ex,
        type="sell",
        ordertype="take-profit-limit",
        price="61000.0",
        price2="60900.0",
        volume="0.5",
    )
    ex.set_price("XBTUSD", D("61000"))
    assert info(ex, txid)["status"] == "closed"


def test_trailing_stop_follows_the_peak(ex: Exchange) -> None:
    txid = place(ex, type="sell", ordertype="trailing-stop", price="+1000", volume="0.5")
    assert info(ex, txid)["stopprice"] == "59000.0"
    ex.set_price("XBTUSD", D("62000"))
    assert info(ex, txid)["stopprice"] == "61000.0"
    ex.set_price("XBTUSD", D("61000.1"))
    assert info(ex, txid)["status"] == "open"
    ex.set_price("XBTUSD", D("61000"))
    order = info(ex, txid)
    assert order["status"] == "closed"
    assert order["descr"]["price"] == "+1000.0"


def test_trailing_stop_limit_in_percent(ex: Exchange) -> None:
    txid = place(
        ex, type="buy", ordertype="trailing-stop-limit", price="+1%", price2="+100", volume="0.5"
    )
    order = info(ex, txid)
    assert (order["stopprice"], order["limitprice"]) == ("60600.0", "60700.0")
    assert order["descr"]["order"] == (
        "buy 0.50000000 XBTUSD @ trailing stop +1.0000% -> limit +100.0"
    )
    ex.set_price("XBTUSD", D("60600"))
    assert info(ex, txid)["status"] == "closed"


def test_relative_prices(ex: Exchange) -> None:
    below = place(ex, price="-1%")
    above = place(ex, type="sell", price="#500")
    assert info(ex, below)["descr"]["price"] == "59400.0"
    assert info(ex, above)["descr"]["price"] == "60500.0"


def test_ioc_fills_what_is_there_and_cancels_the_rest(ex: Exchange) -> None:
    events = record(ex)
    txid = place(ex, price="61000.0", volume="1.5", timeinforce="IOC")
    order = info(ex, txid)
    assert (order["status"], order["vol_exec"], order["reason"]) == (
        "canceled",
        "1.00000000",
        "Immediate or cancel",
    )
    assert events[-1]["exec_type"] == "canceled" and events[-1]["cum_qty"] == D("1")
    resting = place(ex, price="50000.0", timeinforce="IOC")
    assert info(ex, resting)["vol_exec"] == "0.00000000"
    assert info(ex, resting)["status"] == "canceled"


def test_fok(ex: Exchange) -> None:
    killed = place(ex, price="61000.0", volume="1.5", timeinforce="FOK")
    assert (info(ex, killed)["status"], info(ex, killed)["vol_exec"]) == ("canceled", "0.00000000")
    filled = place(ex, price="61000.0", volume="0.5", timeinforce="FOK")
    assert info(ex, filled)["status"] == "closed"


def test_gtd_expiry_relative_and_absolute(ex: Exchange) -> None:
    events = record(ex)
    relative = place(ex, price="50000.0", expiretm="+10")
    absolute = place(ex, price="50000.0", expiretm=str(int(ex.clock.time()) + 20))
    assert info(ex, relative)["expiretm"] == ex.clock.time() + 10
    ex.advance(9.9)
    assert info(ex, relative)["status"] == "open"
    ex.advance(0.1)
    assert info(ex, relative)["status"] == "expired"
    assert info(ex, absolute)["status"] == "open"
    ex.advance(10)
    assert info(ex, absolute)["status"] == "expired"
    assert [e["exec_type"] for e in events if e["exec_type"] == "expired"] == ["expired"] * 2


def test_post_only_that_would_take_is_cancelled(ex: Exchange) -> None:
    events = record(ex)
    txid = place(ex, price="60000.0", oflags="post")
    order = info(ex, txid)
    assert (order["status"], order["reason"], order["vol_exec"]) == (
        "canceled",
        "Post only order",
        "0.00000000",
    )
    assert [e["exec_type"] for e in events] == ["pending_new", "canceled"]
    assert events[-1]["reason"] == "Post only order"
    maker = place(ex, price="59999.9", oflags="post")
    assert info(ex, maker)["status"] == "open" and info(ex, maker)["oflags"] == "post,fciq"


def test_conditional_close_creates_secondaries_per_fill(ex: Exchange) -> None:
    txid = ex.add_order(
        KEY,
        {
            "pair": "XBTUSD",
            "type": "buy",
            "ordertype": "limit",
            "price": "61000.0",
            "volume": "1.5",
            "userref": "42",
            "close[ordertype]": "stop-loss-limit",
            "close[price]": "-1000",
            "close[price2]": "-1100",
        },
    )["txid"][0]
    ex.step()
    children = [o for o in ex.dump_orders() if o["refid"] == txid]
    assert [(c["side"], c["ordertype"], c["vol"], c["price"], c["price2"]) for c in children] == [
        ("sell", "stop-loss-limit", "1.00000000", "60000.0", "59900.0"),
        ("sell", "stop-loss-limit", "0.50000000", "60000.0", "59900.0"),
    ]
    assert all(c["userref"] == 42 for c in children)
    assert info(ex, txid)["descr"]["close"] == "close position @ stop loss -1000.0 -> limit -1100.0"


def test_fee_currency_and_balances(ex: Exchange) -> None:
    before = ex.balance(KEY)
    place(ex, ordertype="market", volume="0.5")
    after = ex.balance(KEY)
    assert D(after["XXBT"]) - D(before["XXBT"]) == D("0.5")
    assert D(before["ZUSD"]) - D(after["ZUSD"]) == D("30000") + D("120")
    place(ex, ordertype="market", type="sell", volume="0.5", oflags="fcib")
    final = ex.balance(KEY)
    assert D(after["XXBT"]) - D(final["XXBT"]) == D("0.5") + D("0.002")
    assert D(final["ZUSD"]) - D(after["ZUSD"]) == D("30000")


def test_holds_follow_open_orders(ex: Exchange) -> None:
    txid = place(ex, price="50000.0", volume="2")
    assert ex.balance_ex(KEY)["ZUSD"]["hold_trade"] == "100400.0000"
    sell = place(ex, type="sell", price="70000.0", volume="3")
    assert ex.balance_ex(KEY)["XXBT"]["hold_trade"] == "3.0000000000"
    ex.cancel_order(KEY, txid=txid)
    ex.cancel_order(KEY, txid=sell)
    held = ex.balance_ex(KEY)
    assert held["ZUSD"]["hold_trade"] == "0.0000" and held["XXBT"]["hold_trade"] == "0.0000000000"


def test_amend_quantity_and_price(ex: Exchange) -> None:
    events = record(ex)
    txid = place(ex, price="50000.0", cl_ord_id="amend-me")
    amend = ex.amend_order(
        KEY, {"cl_ord_id": "amend-me", "order_qty": "0.4", "limit_price": "55000.0"}
    )
    assert amend["amend_id"].startswith("T")
    order = info(ex, txid)
    assert (order["vol"], order["descr"]["price"], order["misc"]) == (
        "0.40000000",
        "55000.0",
        "amended",
    )
    assert events[-1]["exec_type"] == "amended" and events[-1]["order_qty"] == D("0.4")
    with pytest.raises(Exception, match="EOrder:Post only order"):
        ex.amend_order(KEY, {"txid": txid, "limit_price": "60000.0", "post_only": "true"})
    ex.amend_order(KEY, {"txid": txid, "limit_price": "60000.0"})
    assert info(ex, txid)["status"] == "closed"


def test_scheduled_start(ex: Exchange) -> None:
    txid = place(ex, ordertype="market", volume="0.1", starttm="+30")
    assert info(ex, txid)["status"] == "pending"
    ex.advance(30)
    assert info(ex, txid)["status"] == "closed"


def test_cancels_by_userref_cl_ord_id_batch_and_all(ex: Exchange) -> None:
    first = place(ex, price="50000.0", userref="7")
    place(ex, price="50000.0", userref="7")
    assert ex.cancel_order(KEY, txid="7") == {"count": 2}
    assert info(ex, first)["reason"] == "User requested"
    ids = [place(ex, price="50000.0") for _ in range(3)]
    place(ex, price="50000.0", cl_ord_id="batch-1")
    assert ex.cancel_order_batch(KEY, ids[:2] + ["OUNKNO-WNORD-ERXXXX"], ["batch-1"]) == {
        "count": 3
    }
    assert ex.cancel_all(KEY) == {"count": 1}
    assert ex.open_orders(KEY) == {"open": {}}


def test_dead_mans_switch_lapses() -> None:
    ex, clock = exchange()
    txids = [place(ex, price="50000.0") for _ in range(2)]
    armed = ex.cancel_all_orders_after(KEY, 60)
    assert armed == {"currentTime": "2023-11-14T22:13:20Z", "triggerTime": "2023-11-14T22:14:20Z"}
    ex.advance(50)
    ex.cancel_all_orders_after(KEY, 60)  # re-arming pushes the trigger back
    ex.advance(59)
    assert all(info(ex, txid)["status"] == "open" for txid in txids)
    clock.advance(1)  # anyone advancing the shared clock fires it
    assert [info(ex, txid)["reason"] for txid in txids] == ["Dead man's switch"] * 2
    later = place(ex, price="50000.0")
    ex.advance(3600)
    assert info(ex, later)["status"] == "open"
    assert ex.cancel_all_orders_after(KEY, 0)["triggerTime"] == "0"


def test_pause_holds_marketable_orders(ex: Exchange) -> None:
    ex.set_paused(True)
    txid = place(ex, ordertype="market", volume="0.5")
    ex.step(5)
    assert info(ex, txid)["status"] == "open"
    ex.set_paused(False)
    assert info(ex, txid)["status"] == "closed"


def test_partial_fill_sequence_is_deterministic() -> None:
    def run() -> list[tuple]:
        ex, _ = exchange(volatility_bps=20.0, spread_bps=5.0, seed=11, liquidity_per_step=0.3)
        place(ex, ordertype="market", volume="1")
        ex.advance(2)
        return [(t["price"], t["vol"]) for t in ex.dump_trades()]

    first = run()
    assert len(first) == 4 and first == run()


def test_callbacks_may_call_back_and_events_stay_in_order(ex: Exchange) -> None:
    seen: list[tuple[str, str]] = []

    def on_update(events: list[dict]) -> None:
        for event in events:
            seen.append((event["order_id"], event["exec_type"]))
        ex.open_orders(KEY)  # calling back into the exchange from a callback must not deadlock

    ex.subscribe_executions(KEY, on_update)
    threads = [
        threading.Thread(
            target=lambda: [place(ex, ordertype="market", volume="0.01") for _ in range(20)]
        )
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    by_order: dict[str, list[str]] = {}
    for txid, kind in seen:
        by_order.setdefault(txid, []).append(kind)
    assert len(by_order) == 60
    assert all(kinds == ["pending_new", "new", "trade", "filled"] for kinds in by_order.values())
