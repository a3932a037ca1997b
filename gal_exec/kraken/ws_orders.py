"""An AddOrder request (REST's field names, :class:`OrderRequest`) in WebSocket v2's terms.

WS v2 speaks ``order_qty``, ``limit_price``, ``triggers{price, price_type, reference}``, lower-case
``time_in_force``, RFC3339 times, ``conditional{...}`` and ``stp_type`` with underscores. A request
WS cannot express exactly (``#`` relative prices, leverage, volume in quote currency, relative
start or expiry times) raises :class:`NotExpressible`: it goes by REST instead.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from gal_exec.kraken.orders import OrderRequest, RelativePrice
from gal_exec.kraken.ws_codec import ConditionalSpec, OrderSpec, TriggerSpec

__all__ = ["NotExpressible", "order_spec"]

_TRIGGERED = frozenset({"stop-loss", "stop-loss-limit", "take-profit", "take-profit-limit"})
_TRAILING = frozenset({"trailing-stop", "trailing-stop-limit"})
_WITH_LIMIT_LEG = frozenset({"stop-loss-limit", "take-profit-limit", "trailing-stop-limit"})
_FEE_PREFERENCE = {"fcib": "base", "fciq": "quote"}


class NotExpressible(ValueError):
    """The order has a feature WS v2 cannot carry exactly; send it by REST."""


def _price(value: Decimal | RelativePrice) -> tuple[Decimal, str | None]:
    """(number, price_type): static prices have no type; relative ones are signed offsets."""
    if not isinstance(value, RelativePrice):
        return value, None
    if value.sign == "#":
        raise NotExpressible("a '#' relative price has no WS v2 form")
    offset = -value.offset if value.sign == "-" else value.offset
    return offset, "pct" if value.percent else "quote"


def _trailing(value: Decimal | RelativePrice) -> tuple[Decimal, str | None]:
    """A trailing stop's distance from the peak: positive, in quote units or percent."""
    if not isinstance(value, RelativePrice) or value.sign != "+":
        raise NotExpressible("a trailing stop's price must be a '+' offset")
    return value.offset, "pct" if value.percent else "quote"


def _time(value: int | str | None) -> str | None:
    if value is None or value == 0 or value == "0":
        return None
    if isinstance(value, str):
        if not value.isdigit():
            raise NotExpressible(f"relative time {value!r} has no WS v2 form")
        value = int(value)
    return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _legs(
    order_type: str, price: Decimal | RelativePrice | None, price2: Decimal | RelativePrice | None
) -> dict[str, Any]:
    """limit_price / trigger fields for one order type from REST's price and price2."""
    if order_type in _TRAILING:
        trigger = _trailing(price) if price is not None else None
    elif order_type in _TRIGGERED:
        trigger = _price(price) if price is not None else None
    else:
        limit = _price(price) if price is not None else None
        if limit is None:
            return {}
        return {"limit_price": limit[0], "limit_price_type": limit[1]}
    legs: dict[str, Any] = {}
    if trigger is not None:
        legs["trigger_price"], legs["trigger_price_type"] = trigger
    if order_type in _WITH_LIMIT_LEG and price2 is not None:
        legs["limit_price"], legs["limit_price_type"] = _price(price2)
    return legs


def order_spec(order: OrderRequest) -> OrderSpec:
    """The add_order / batch_add fields for ``order`` (without symbol, token, deadline and
    validate, which belong to the request). Raises NotExpressible."""
    if order.leverage is not None:
        raise NotExpressible("WS v2 takes no leverage ratio")
    flags = set(order.oflags)
    if "viqc" in flags:
        raise NotExpressible("volume in quote currency goes by REST")
    fee_preference = None
    for flag, preference in _FEE_PREFERENCE.items():
        if flag in flags:
            fee_preference = preference
    legs = _legs(order.ordertype, order.price, order.price2)
    triggers = None
    if "trigger_price" in legs:
        triggers = TriggerSpec(
            reference=order.trigger,
            price=legs["trigger_price"],
            price_type=legs["trigger_price_type"],
        )
    elif order.trigger is not None:
        raise NotExpressible("a trigger reference without a trigger price")
    conditional = None
    if order.close_ordertype is not None:
        close = _legs(order.close_ordertype, order.close_price, order.close_price2)
        conditional = ConditionalSpec(
            order_type=order.close_ordertype,
            limit_price=close.get("limit_price"),
            limit_price_type=close.get("limit_price_type"),
            trigger_price=close.get("trigger_price"),
            trigger_price_type=close.get("trigger_price_type"),
        )
    time_in_force = order.timeinforce.lower() if order.timeinforce else None
    return OrderSpec(
        order_type=order.ordertype,
        side=order.type,
        order_qty=order.volume,
        limit_price=legs.get("limit_price"),
        limit_price_type=legs.get("limit_price_type"),
        triggers=triggers,
        time_in_force=time_in_force,  # type: ignore[arg-type]
        post_only=True if "post" in flags else None,
        reduce_only=True if order.reduce_only else None,
        effective_time=_time(order.starttm),
        expire_time=_time(order.expiretm),
        cl_ord_id=order.cl_ord_id,
        order_userref=order.userref,
        conditional=conditional,
        display_qty=order.displayvol,
        fee_preference=fee_preference,  # type: ignore[arg-type]
        stp_type=order.stptype.replace("-", "_") if order.stptype else None,  # type: ignore[arg-type]
    )
