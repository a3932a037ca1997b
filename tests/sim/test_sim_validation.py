"""AddOrder's validation over REST: each rule answers Kraken's exact error string."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sim_testkit import Client, simulator

BASE = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "60000", "volume": "0.01"}


@pytest.fixture(scope="module")
def sim() -> Iterator:
    with simulator(enforce_rate_limits=False) as running:
        yield running


@pytest.fixture
def client(sim) -> Client:
    return Client(sim.rest_url)


def order(**changes: str) -> dict[str, str]:
    params = dict(BASE)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return params


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"pair": "NOPE"}, "EQuery:Unknown asset pair"),
        ({"pair": None}, "EGeneral:Invalid arguments:pair"),
        ({"type": "hold"}, "EGeneral:Invalid arguments:type"),
        ({"ordertype": "moon"}, "EGeneral:Invalid arguments:ordertype"),
        ({"volume": None}, "EGeneral:Invalid arguments:volume"),
        ({"volume": "abc"}, "EGeneral:Invalid arguments:volume"),
        ({"volume": "0.000000001"}, "EGeneral:Invalid arguments:volume"),
        ({"price": None}, "EGeneral:Invalid arguments:price"),
        ({"price": "sixty"}, "EGeneral:Invalid arguments:price"),
        ({"volume": "0.00005"}, "EOrder:Order minimum not met"),
        ({"price": "60000.05"}, "EOrder:Tick size check failed"),
        ({"pair": "XDGUSD", "price": "0.0001000", "volume": "100"}, "EOrder:Cost minimum not met"),
        ({"volume": "500"}, "EOrder:Insufficient funds"),
        ({"type": "sell", "volume": "101", "price": "70000"}, "EOrder:Insufficient funds"),
        ({"oflags": "post,moon"}, "EGeneral:Invalid arguments:oflags"),
        ({"oflags": "fcib,fciq"}, "EGeneral:Invalid arguments:oflags"),
        ({"ordertype": "market", "oflags": "post"}, "EGeneral:Invalid arguments:oflags"),
        ({"timeinforce": "XYZ"}, "EGeneral:Invalid arguments:timeinforce"),
        ({"timeinforce": "GTD"}, "EGeneral:Invalid arguments:expiretm"),
        ({"expiretm": "+3"}, "EGeneral:Invalid arguments:expiretm"),
        (
            {"cl_ord_id": "this-id-is-far-too-long-for-kraken"},
            "EGeneral:Invalid arguments:cl_ord_id",
        ),
        ({"cl_ord_id": "ok-id", "userref": "7"}, "EGeneral:Invalid arguments:cl_ord_id"),
        ({"userref": "99999999999"}, "EGeneral:Invalid arguments:userref"),
        ({"ordertype": "stop-loss-limit"}, "EGeneral:Invalid arguments:price2"),
        ({"ordertype": "trailing-stop", "price": "100"}, "EGeneral:Invalid arguments:price"),
        ({"trigger": "mark"}, "EGeneral:Invalid arguments:trigger"),
        ({"leverage": "2:1"}, "EOrder:Cannot open position"),
        ({"validate": "maybe"}, "EGeneral:Invalid arguments:validate"),
        ({"deadline": "2000-01-01T00:00:00Z"}, "EService:Deadline elapsed"),
        (
            {"close[ordertype]": "market", "close[price]": "1"},
            "EGeneral:Invalid arguments:close[ordertype]",
        ),
    ],
)
def test_validation_errors(client: Client, sim, changes: dict, error: str) -> None:
    before = len(sim.exchange.dump_orders())
    assert client.error("AddOrder", order(**changes)) == error
    assert len(sim.exchange.dump_orders()) == before


def test_cl_ord_id_forms(client: Client) -> None:
    for cl_ord_id in (
        "6d1b345e-2821-40e2-ad83-4ecb18a06876",
        "6d1b345e282140e2ad834ecb18a06876",
        "free text 18 chars",
    ):
        txid = client.ok("AddOrder", order(cl_ord_id=cl_ord_id))["txid"][0]
        client.ok("CancelOrder", {"txid": txid})


def test_cl_ord_id_unique_among_open_orders_only(client: Client) -> None:
    client.ok("AddOrder", order(cl_ord_id="dup-1"))
    assert client.error("AddOrder", order(cl_ord_id="dup-1")) == (
        "EOrder:Duplicate client order id"
    )
    assert client.ok("CancelOrder", {"cl_ord_id": "dup-1"}) == {"count": 1}
    client.ok("AddOrder", order(cl_ord_id="dup-1"))
    client.ok("CancelOrder", {"cl_ord_id": "dup-1"})


def test_validate_only_and_lenient_booleans(client: Client, sim) -> None:
    before = len(sim.exchange.dump_orders())
    for flag in ("true", "True", "1"):
        result = client.ok("AddOrder", order(validate=flag))
        assert result == {"descr": {"order": "buy 0.01000000 XBTUSD @ limit 60000.0"}}
    assert len(sim.exchange.dump_orders()) == before
    for flag in ("false", "False", "0"):
        txid = client.ok("AddOrder", order(validate=flag))["txid"][0]
        client.ok("CancelOrder", {"txid": txid})


def test_json_body_with_nested_close(client: Client, sim) -> None:
    params = {
        **BASE,
        "userref": 12,
        "close": {"ordertype": "limit", "price": "+100"},
        "validate": False,
        "reduce_only": False,
    }
    result = client.ok("AddOrder", params, json_body=True)
    assert result["descr"] == {
        "order": "buy 0.01000000 XBTUSD @ limit 60000.0",
        "close": "close position @ limit +100.0",
    }
    client.ok("CancelOrder", {"txid": result["txid"][0]})


def test_conditional_close_with_cl_ord_id_is_refused(client: Client) -> None:
    params = order(cl_ord_id="with-close", **{"close[ordertype]": "limit", "close[price]": "70000"})
    assert client.error("AddOrder", params) == "EGeneral:Invalid arguments:cl_ord_id"


def test_unknown_order(client: Client) -> None:
    assert client.error("CancelOrder", {"txid": "OAAAAA-BBBBB-CCCCCC"}) == "EOrder:Unknown order"
    assert client.error("CancelOrder", {"cl_ord_id": "never"}) == "EOrder:Unknown order"
    assert client.error("AmendOrder", {"txid": "OAAAAA-BBBBB-CCCCCC", "order_qty": "1"}) == (
        "EOrder:Unknown order"
    )
    assert client.error("QueryOrders", {"txid": "OAAAAA-BBBBB-CCCCCC"}) == "EOrder:Invalid order"


def test_open_orders_limit_per_pair() -> None:
    with simulator(tier="intermediate") as sim:
        client = Client(sim.rest_url)
        exchange = sim.exchange
        for _ in range(80):
            exchange.add_order(client.key, order())
        assert client.error("AddOrder", order()) == "EOrder:Orders limit exceeded"
        client.ok("AddOrder", order(pair="ETHUSD", price="3000.00", volume="0.01"))


def test_batch_validates_all_then_places_each(client: Client, sim) -> None:
    good = {"ordertype": "limit", "type": "buy", "volume": "0.01", "price": "50000"}
    before = len(sim.exchange.dump_orders())
    refused = client.error(
        "AddOrderBatch",
        {"pair": "XBTUSD", "orders": [good, {**good, "price": "5.05"}]},
        json_body=True,
    )
    assert refused == "EOrder:Tick size check failed"
    assert len(sim.exchange.dump_orders()) == before
    result = client.ok(
        "AddOrderBatch",
        {"pair": "XBTUSD", "orders": [good, {**good, "volume": "400"}]},
        json_body=True,
    )
    first, second = result["orders"]
    assert isinstance(first["txid"], str) and second == {"error": "EOrder:Insufficient funds"}
    assert (
        client.error("AddOrderBatch", {"pair": "XBTUSD", "orders": [good]}, json_body=True)
        == "EGeneral:Invalid arguments:orders"
    )
    client.ok("CancelOrder", {"txid": first["txid"]})


def test_form_encoded_batch_and_batch_cancel_forms(client: Client) -> None:
    form = {"pair": "XBTUSD"}
    for index in range(2):
        form.update(
            {
                f"orders[{index}][ordertype]": "limit",
                f"orders[{index}][type]": "buy",
                f"orders[{index}][volume]": "0.01",
                f"orders[{index}][price]": "50000",
                f"orders[{index}][cl_ord_id]": f"form-{index}",
            }
        )
    txids = [entry["txid"] for entry in client.ok("AddOrderBatch", form)["orders"]]
    assert len(txids) == 2
    answer = client.ok(
        "CancelOrderBatch",
        {"orders": [{"txid": txids[0]}, {"cl_ord_id": "form-1"}]},
        json_body=True,
    )
    assert answer == {"count": 2}


def test_history_queries(client: Client, sim) -> None:
    txid = client.ok("AddOrder", order(ordertype="market", price=None, volume="0.001"))["txid"][0]
    trades = client.ok("QueryOrders", {"txid": txid, "trades": "true"})[txid]["trades"]
    fills = client.ok("QueryTrades", {"txid": ",".join(trades)})
    assert [fill["ordertxid"] for fill in fills.values()] == [txid]
    history = client.ok("TradesHistory")
    assert set(trades) <= set(history["trades"]) and history["count"] >= len(trades)
    closed = client.ok("ClosedOrders", {"ofs": "0"})
    assert txid in closed["closed"] and closed["count"] >= 1
    assert client.error("QueryTrades", {"txid": "TNOPE0-XXXXX-XXXXXX"}) == (
        "EGeneral:Invalid arguments:txid"
    )


def test_websockets_token(client: Client, sim) -> None:
    result = client.ok("GetWebSocketsToken")
    assert result["expires"] == 900 and len(result["token"]) >= 20
    assert sim.exchange.key_for_token(result["token"]) == client.key
    unused = client.ok("GetWebSocketsToken")["token"]
    sim.exchange.advance(901)
    assert sim.exchange.key_for_token(unused) is None
    assert sim.exchange.key_for_token(result["token"]) == client.key  # used: does not expire
