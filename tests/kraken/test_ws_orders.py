"""AddOrder requests in WS v2 terms: each order type's legs, flags and times, what WS cannot carry,
and agreement with the simulator's own translation back to REST."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gal_exec.kraken import ws_codec
from gal_exec.kraken.orders import OrderRequest, RelativePrice
from gal_exec.kraken.ws_orders import NotExpressible, order_spec
from gal_exec.sim.ws_translate import order_to_rest
from gal_exec.sim.ws_wire import decode

D = Decimal


def _order(**fields: Any) -> OrderRequest:
    base: dict[str, Any] = {
        "pair": "XBTUSD",
        "type": "buy",
        "ordertype": "limit",
        "volume": D("0.01"),
        "cl_ord_id": "abc-1",
    }
    return OrderRequest(**{**base, **fields})


def _params(order: OrderRequest) -> dict[str, Any]:
    """The add_order params as they go on the wire (numbers back as Decimal)."""
    frame = ws_codec.encode(ws_codec.add_order("t", order_spec(order), symbol="BTC/USD"))
    params = decode(frame)["params"]
    for name in ("symbol", "token"):
        params.pop(name)
    return params


def test_limit_ioc_post_only_with_fee_preference() -> None:
    order = _order(price=D("64000.5"), timeinforce="IOC", oflags=("post", "fciq"), reduce_only=True)
    assert _params(order) == {
        "order_type": "limit",
        "side": "buy",
        "order_qty": D("0.01"),
        "limit_price": D("64000.5"),
        "time_in_force": "ioc",
        "post_only": True,
        "reduce_only": True,
        "cl_ord_id": "abc-1",
        "fee_preference": "quote",
    }


def test_stop_loss_limit_puts_the_trigger_in_triggers_and_the_limit_in_limit_price() -> None:
    order = _order(
        type="sell",
        ordertype="stop-loss-limit",
        price=D("63000"),
        price2=D("62900"),
        trigger="index",
    )
    params = _params(order)
    assert params["triggers"] == {"reference": "index", "price": D("63000")}
    assert params["limit_price"] == D("62900")


def test_trailing_stop_limit_offsets() -> None:
    order = _order(
        type="sell",
        ordertype="trailing-stop-limit",
        price=RelativePrice(offset=D("2"), sign="+", percent=True),
        price2=RelativePrice(offset=D("10"), sign="-"),
    )
    params = _params(order)
    assert params["triggers"] == {"price": D("2"), "price_type": "pct"}
    assert (params["limit_price"], params["limit_price_type"]) == (D("-10"), "quote")


def test_conditional_close_expiry_and_stp() -> None:
    order = _order(
        price=D("64000"),
        timeinforce="GTD",
        expiretm=1_800_000_000,
        stptype="cancel-both",
        close_ordertype="stop-loss-limit",
        close_price=D("63000"),
        close_price2=D("62900"),
        cl_ord_id=None,
        userref=7,
    )
    params = _params(order)
    assert params["conditional"] == {
        "order_type": "stop-loss-limit",
        "trigger_price": D("63000"),
        "limit_price": D("62900"),
    }
    assert params["expire_time"] == "2027-01-15T08:00:00Z"
    assert params["stp_type"] == "cancel_both"
    assert params["order_userref"] == 7 and "cl_ord_id" not in params


@pytest.mark.parametrize(
    "fields",
    [
        {"leverage": "2:1"},
        {"oflags": ("viqc",)},
        {"ordertype": "stop-loss", "price": RelativePrice(offset=D("5"), sign="#")},
        {"expiretm": "+60"},
        {"ordertype": "trailing-stop", "price": D("100")},
    ],
    ids=["leverage", "quote-volume", "either-way-offset", "relative-expiry", "absolute-trailing"],
)
def test_what_ws_cannot_carry_goes_by_rest(fields: dict[str, Any]) -> None:
    with pytest.raises(NotExpressible):
        order_spec(_order(**{"price": D("64000"), **fields}))


@pytest.mark.parametrize(
    "fields",
    [
        {"price": D("64000.5"), "timeinforce": "IOC", "oflags": ("post",)},
        {"ordertype": "market", "oflags": ("fcib",)},
        {"ordertype": "stop-loss", "type": "sell", "price": D("63000"), "trigger": "last"},
        {
            "ordertype": "take-profit-limit",
            "type": "sell",
            "price": D("66000"),
            "price2": D("65900"),
        },
        {
            "ordertype": "trailing-stop",
            "type": "sell",
            "price": RelativePrice(offset=D("1.5"), sign="+", percent=True),
        },
        {
            "price": D("64000"),
            "close_ordertype": "take-profit",
            "close_price": RelativePrice(offset=D("3"), sign="+", percent=True),
            "cl_ord_id": None,
        },
        {"price": D("64000"), "displayvol": D("0.005"), "ordertype": "iceberg"},
    ],
    ids=["limit", "market", "stop", "take-profit-limit", "trailing", "close", "iceberg"],
)
def test_the_simulators_translation_gives_back_the_rest_request(fields: dict[str, Any]) -> None:
    order = _order(**fields)
    rest = order_to_rest(_params(order), "add_order", nested_close=False)
    expected = {key: value for key, value in order.to_params().items() if key != "pair"}
    assert {key: str(value) for key, value in rest.items()} == expected
