"""Translate WebSocket v2 trading parameters into the exchange core's REST-semantics parameters.

WS v2 speaks ``order_qty``, ``limit_price``, ``triggers{price, price_type, reference}``,
lower-case ``time_in_force``, RFC3339 times and ``conditional{...}``; the exchange core takes
AddOrder's ``volume``, ``price``/``price2`` (relative prices as ``+``/``-`` strings with an
optional ``%``), ``timeinforce``, unix ``expiretm`` and ``close[...]``. Type errors are answered in
Kraken's WS v2 schema-error style, e.g. ``Limit_price field must be a number_float``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from gal_exec.core.vocabulary import NEEDS_TRIGGER, TRAILING
from gal_exec.sim.ws_wire import RequestError, parse_rfc3339

__all__ = [
    "ADD_ORDER_FIELDS",
    "BATCH_ORDER_FIELDS",
    "amend_to_rest",
    "boolean",
    "check_fields",
    "identifier_list",
    "integer",
    "number",
    "order_to_rest",
    "string",
]

#: Per-order fields of add_order (besides ``symbol``/``token``/``deadline``/``validate``).
BATCH_ORDER_FIELDS = frozenset(
    {
        "order_type",
        "side",
        "order_qty",
        "cash_order_qty",
        "limit_price",
        "limit_price_type",
        "triggers",
        "time_in_force",
        "margin",
        "post_only",
        "reduce_only",
        "effective_time",
        "expire_time",
        "cl_ord_id",
        "order_userref",
        "conditional",
        "display_qty",
        "fee_preference",
        "no_mpp",
        "stp_type",
        "sender_sub_id",
        "stop_price",
        "trigger",
    }
)
ADD_ORDER_FIELDS = BATCH_ORDER_FIELDS | {"symbol", "token", "deadline", "validate"}

_TRIGGERED = NEEDS_TRIGGER - TRAILING
_WITH_LIMIT_LEG = {"stop-loss-limit", "take-profit-limit", "trailing-stop-limit"}
_PRICE_TYPES = {"static", "pct", "quote"}


def _title(name: str) -> str:
    return name[:1].upper() + name[1:]


def check_fields(params: Mapping[str, Any], allowed: frozenset[str] | set[str], msg: str) -> None:
    """Reject a field the method does not know, as Kraken does."""
    for name in params:
        if name not in allowed:
            raise RequestError(f"Unsupported field: '{name}' for the given msg type: {msg}")


def _missing(name: str, msg: str) -> RequestError:
    return RequestError(f"Missing field: '{name}' for the given msg type: {msg}")


def number(params: Mapping[str, Any], name: str, msg: str, *, required: bool = False) -> Any:
    """A JSON number field as Decimal (None if absent and optional)."""
    value = params.get(name)
    if value is None:
        if required:
            raise _missing(name, msg)
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise RequestError(f"{_title(name)} field must be a number_float")
    return Decimal(value)


def integer(params: Mapping[str, Any], name: str, msg: str, *, required: bool = False) -> Any:
    """A JSON integer field (None if absent and optional)."""
    value = params.get(name)
    if value is None:
        if required:
            raise _missing(name, msg)
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{_title(name)} field must be an integer")
    return value


def string(params: Mapping[str, Any], name: str, msg: str, *, required: bool = False) -> Any:
    """A JSON string field (None if absent and optional)."""
    value = params.get(name)
    if value is None:
        if required:
            raise _missing(name, msg)
        return None
    if not isinstance(value, str):
        raise RequestError(f"{_title(name)} field must be a string")
    return value


def boolean(params: Mapping[str, Any], name: str, default: bool | None = None) -> Any:
    """A JSON boolean field, or ``default`` when absent."""
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RequestError(f"{_title(name)} field must be a boolean")
    return value


def identifier_list(params: Mapping[str, Any], name: str, *, integers: bool = False) -> list[Any]:
    """An array of ids (strings, or integers for ``order_userref``); empty when absent."""
    value = params.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RequestError(f"{_title(name)} field must be an array")
    for item in value:
        valid = (
            isinstance(item, int) and not isinstance(item, bool)
            if integers
            else isinstance(item, str)
        )
        if not valid:
            kind = "integers" if integers else "strings"
            raise RequestError(f"{_title(name)} field must be an array of {kind}")
    return list(value)


def _digits(value: Decimal) -> str:
    return format(abs(value), "f")


def _priced(value: Decimal, price_type: str, name: str) -> Decimal | str:
    """REST price text: absolute, or a signed offset from the reference (``%`` for percent)."""
    if price_type not in _PRICE_TYPES:
        raise RequestError(f"EGeneral:Invalid arguments:{name}")
    if price_type == "static":
        return value
    sign = "-" if value < 0 else "+"
    return f"{sign}{_digits(value)}{'%' if price_type == 'pct' else ''}"


def _trailing_offset(value: Decimal, price_type: str) -> str:
    # REST trailing stops take a "+" offset from the peak; WS gives a positive distance.
    return f"+{_digits(value)}{'%' if price_type == 'pct' else ''}"


def _epoch_text(params: Mapping[str, Any], name: str, msg: str) -> str | None:
    text = string(params, name, msg)
    if text is None:
        return None
    try:
        return str(int(parse_rfc3339(text)))
    except ValueError:
        raise RequestError(f"EGeneral:Invalid arguments:{name}") from None


def _trigger_price(order: Mapping[str, Any], msg: str) -> tuple[Decimal | None, str, str | None]:
    """(price, price_type, reference) from ``triggers`` or the deprecated stop_price/trigger."""
    triggers = order.get("triggers")
    if triggers is None:
        price = number(order, "stop_price", msg)
        return price, "static", string(order, "trigger", msg)
    if not isinstance(triggers, Mapping):
        raise RequestError("Triggers field must be an object")
    check_fields(triggers, {"reference", "price", "price_type"}, msg)
    price = number(triggers, "price", msg, required=True)
    price_type = string(triggers, "price_type", msg) or "static"
    return price, price_type, string(triggers, "reference", msg)


def _leg_prices(
    order_type: str,
    limit: tuple[Decimal | None, str],
    trigger: tuple[Decimal | None, str],
    where: str,
) -> tuple[Decimal | str | None, Decimal | str | None]:
    """REST (price, price2) for an order type from its limit and trigger legs."""
    limit_price, limit_type = limit
    trigger_price, trigger_type = trigger
    price: Decimal | str | None
    if order_type in TRAILING:
        price = None if trigger_price is None else _trailing_offset(trigger_price, trigger_type)
    elif order_type in _TRIGGERED:
        price = None if trigger_price is None else _priced(trigger_price, trigger_type, where)
    else:
        price = None if limit_price is None else _priced(limit_price, limit_type, where)
        return price, None
    price2: Decimal | str | None = None
    if order_type in _WITH_LIMIT_LEG and limit_price is not None:
        price2 = _priced(limit_price, limit_type, where)
    return price, price2


def _conditional(order: Mapping[str, Any], msg: str) -> dict[str, Any] | None:
    conditional = order.get("conditional")
    if conditional is None:
        return None
    if not isinstance(conditional, Mapping):
        raise RequestError("Conditional field must be an object")
    allowed = {
        "order_type",
        "limit_price",
        "limit_price_type",
        "trigger_price",
        "trigger_price_type",
    }
    check_fields(conditional, allowed, msg)
    order_type = string(conditional, "order_type", msg, required=True)
    default_limit_type = "quote" if order_type == "trailing-stop-limit" else "static"
    price, price2 = _leg_prices(
        order_type,
        (
            number(conditional, "limit_price", msg),
            string(conditional, "limit_price_type", msg) or default_limit_type,
        ),
        (
            number(conditional, "trigger_price", msg),
            string(conditional, "trigger_price_type", msg) or "static",
        ),
        "close",
    )
    close: dict[str, Any] = {"ordertype": order_type}
    if price is not None:
        close["price"] = price
    if price2 is not None:
        close["price2"] = price2
    return close


def order_to_rest(order: Mapping[str, Any], msg: str, *, nested_close: bool) -> dict[str, Any]:
    """AddOrder parameters (without ``pair``) for one WS v2 order; ``close`` nested for batches."""
    order_type = string(order, "order_type", msg, required=True)
    side = string(order, "side", msg, required=True)
    quantity = number(order, "order_qty", msg)
    cash_quantity = number(order, "cash_order_qty", msg)
    if quantity is None and cash_quantity is None:
        raise _missing("order_qty", msg)
    if boolean(order, "margin", False):
        raise RequestError("EGeneral:Permission denied")
    rest: dict[str, Any] = {
        "ordertype": order_type,
        "type": side,
        "volume": quantity if quantity is not None else cash_quantity,
    }
    oflags: list[str] = []
    if quantity is None:
        oflags.append("viqc")

    trigger_price, trigger_type, reference = _trigger_price(order, msg)
    default_limit_type = "quote" if order_type == "trailing-stop-limit" else "static"
    limit_type = string(order, "limit_price_type", msg) or default_limit_type
    price, price2 = _leg_prices(
        order_type,
        (number(order, "limit_price", msg), limit_type),
        (trigger_price, trigger_type),
        "price",
    )
    if price is not None:
        rest["price"] = price
    if price2 is not None:
        rest["price2"] = price2
    if reference is not None:
        rest["trigger"] = reference

    time_in_force = string(order, "time_in_force", msg)
    if time_in_force is not None:
        rest["timeinforce"] = time_in_force.upper()
    if boolean(order, "post_only", False):
        oflags.append("post")
    fee_preference = string(order, "fee_preference", msg)
    if fee_preference is not None:
        flag = {"base": "fcib", "quote": "fciq"}.get(fee_preference)
        if flag is None:
            raise RequestError("EGeneral:Invalid arguments:fee_preference")
        oflags.append(flag)
    if oflags:
        rest["oflags"] = ",".join(oflags)
    if boolean(order, "reduce_only", False):
        rest["reduce_only"] = True
    for ws_name, rest_name in (("effective_time", "starttm"), ("expire_time", "expiretm")):
        epoch = _epoch_text(order, ws_name, msg)
        if epoch is not None:
            rest[rest_name] = epoch
    cl_ord_id = string(order, "cl_ord_id", msg)
    if cl_ord_id is not None:
        rest["cl_ord_id"] = cl_ord_id
    userref = integer(order, "order_userref", msg)
    if userref is not None:
        rest["userref"] = userref
    display_qty = number(order, "display_qty", msg)
    if display_qty is not None:
        rest["displayvol"] = display_qty
    stp_type = string(order, "stp_type", msg)
    if stp_type is not None:
        rest["stptype"] = stp_type.replace("_", "-")

    close = _conditional(order, msg)
    if close is not None:
        if nested_close:
            rest["close"] = close
        else:
            rest.update({f"close[{key}]": value for key, value in close.items()})
    return rest


AMEND_FIELDS = frozenset(
    {
        "order_id",
        "cl_ord_id",
        "order_qty",
        "display_qty",
        "limit_price",
        "limit_price_type",
        "post_only",
        "trigger_price",
        "trigger_price_type",
        "deadline",
        "symbol",
        "token",
    }
)


def amend_to_rest(
    params: Mapping[str, Any], resolve_symbol: Callable[[str], str], msg: str = "amend_order"
) -> dict[str, Any]:
    """AmendOrder parameters for a WS v2 amend_order request."""
    check_fields(params, AMEND_FIELDS, msg)
    rest: dict[str, Any] = {}
    order_id = string(params, "order_id", msg)
    cl_ord_id = string(params, "cl_ord_id", msg)
    if order_id is None and cl_ord_id is None:
        raise _missing("order_id", msg)
    if order_id is not None:
        rest["txid"] = order_id
    if cl_ord_id is not None:
        rest["cl_ord_id"] = cl_ord_id
    for name in ("order_qty", "display_qty"):
        value = number(params, name, msg)
        if value is not None:
            rest[name] = value
    for name in ("limit_price", "trigger_price"):
        value = number(params, name, msg)
        if value is not None:
            price_type = string(params, f"{name}_type", msg) or "static"
            rest[name] = _priced(value, price_type, name)
    post_only = boolean(params, "post_only")
    if post_only is not None:
        rest["post_only"] = post_only
    deadline = string(params, "deadline", msg)
    if deadline is not None:
        rest["deadline"] = deadline
    symbol = string(params, "symbol", msg)
    if symbol is not None:
        rest["pair"] = resolve_symbol(symbol)
    return rest
