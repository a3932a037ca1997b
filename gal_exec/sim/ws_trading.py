"""WebSocket v2 trading methods of the simulator: translate, call the exchange core, shape results.

Each method takes the exchange, the account's API key and the request's ``params`` and returns
a list of outcomes, one per response to send: a result object, or a ``RequestError`` for a
per-item failure (``cancel_order`` answers once per identifier). A whole-request failure raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gal_exec.sim.errors import SimError
from gal_exec.sim.ws_translate import (
    ADD_ORDER_FIELDS,
    BATCH_ORDER_FIELDS,
    amend_to_rest,
    boolean,
    check_fields,
    identifier_list,
    integer,
    order_to_rest,
    string,
)
from gal_exec.sim.ws_wire import RequestError, parse_rfc3339

__all__ = ["TRADING_METHODS", "kraken_error", "resolve_symbol"]

Outcome = Any
Method = Callable[[Any, str, Mapping[str, Any]], list[Outcome]]


def kraken_error(error: BaseException) -> str | None:
    """The Kraken error text of an exchange-core ``SimError``; None for any other exception."""
    return error.message if isinstance(error, SimError) else None


def resolve_symbol(exchange: Any, symbol: str) -> str:
    """The exchange's pair key for a WS v2 symbol; only the ``BTC/USD`` form is accepted."""
    try:
        pair = exchange.resolve_pair(symbol)
    except SimError:
        raise RequestError(f"Currency pair not supported {symbol}") from None
    if exchange.ws_symbol(pair) != symbol:
        raise RequestError(f"Currency pair not supported {symbol}")
    return pair


def _identifiers(order: Mapping[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    if order.get("cl_ord_id") is not None:
        result["cl_ord_id"] = order["cl_ord_id"]
    if order.get("order_userref") is not None:
        result["order_userref"] = order["order_userref"]
    return result


def _check_deadline(exchange: Any, params: Mapping[str, Any], msg: str) -> str | None:
    deadline = string(params, "deadline", msg)
    if deadline is None:
        return None
    try:
        moment = parse_rfc3339(deadline)
    except ValueError:
        raise RequestError("EGeneral:Invalid arguments:deadline") from None
    if moment < exchange.clock.time():
        raise RequestError("EService:Deadline elapsed")
    return deadline


def add_order(exchange: Any, api_key: str, params: Mapping[str, Any]) -> list[Outcome]:
    """add_order -> exchange.add_order; result ``{order_id, cl_ord_id?, order_userref?}``."""
    msg = "add_order"
    check_fields(params, ADD_ORDER_FIELDS, msg)
    pair = resolve_symbol(exchange, string(params, "symbol", msg, required=True))
    rest = order_to_rest(params, msg, nested_close=False)
    rest["pair"] = pair
    deadline = string(params, "deadline", msg)
    if deadline is not None:
        rest["deadline"] = deadline
    if boolean(params, "validate", False):
        rest["validate"] = True
    answer = exchange.add_order(api_key, rest, source="ws")
    txids = answer.get("txid") or []
    # A validate-only order has no txid; Kraken answers with an empty order_id.
    return [_identifiers(params, {"order_id": txids[0] if txids else ""})]


def batch_add(exchange: Any, api_key: str, params: Mapping[str, Any]) -> list[Outcome]:
    """batch_add -> exchange.add_order_batch; result is an array in request order."""
    msg = "batch_add"
    check_fields(params, {"symbol", "orders", "deadline", "validate", "token"}, msg)
    pair = resolve_symbol(exchange, string(params, "symbol", msg, required=True))
    orders = params.get("orders")
    if not isinstance(orders, list) or not all(isinstance(o, Mapping) for o in orders):
        raise RequestError("Orders field must be an array of objects")
    rest_orders = []
    for order in orders:
        check_fields(order, BATCH_ORDER_FIELDS, msg)
        rest_orders.append(order_to_rest(order, msg, nested_close=True))
    _check_deadline(exchange, params, msg)
    validate = bool(boolean(params, "validate", False))
    answer = exchange.add_order_batch(api_key, pair, rest_orders, validate=validate, source="ws")
    results = []
    for order, entry in zip(orders, answer.get("orders", []), strict=False):
        if entry.get("error"):
            results.append(_identifiers(order, {"error": entry["error"]}))
        else:
            results.append(_identifiers(order, {"order_id": entry.get("txid") or ""}))
    return [results]


def amend_order(exchange: Any, api_key: str, params: Mapping[str, Any]) -> list[Outcome]:
    """amend_order -> exchange.amend_order; result ``{amend_id, order_id | cl_ord_id}``."""
    rest = amend_to_rest(params, lambda symbol: resolve_symbol(exchange, symbol))
    answer = exchange.amend_order(api_key, rest, source="ws")
    result: dict[str, Any] = {"amend_id": answer.get("amend_id")}
    for name in ("order_id", "cl_ord_id"):
        if params.get(name) is not None:
            result[name] = params[name]
    return [result]


def cancel_order(exchange: Any, api_key: str, params: Mapping[str, Any]) -> list[Outcome]:
    """cancel_order: one response per identifier in ``order_id``/``cl_ord_id``/``order_userref``."""
    msg = "cancel_order"
    check_fields(params, {"order_id", "cl_ord_id", "order_userref", "token"}, msg)
    targets = [("order_id", "txid", value) for value in identifier_list(params, "order_id")] + [
        ("cl_ord_id", "cl_ord_id", value) for value in identifier_list(params, "cl_ord_id")
    ]
    targets += [
        ("order_userref", "userref", value)
        for value in identifier_list(params, "order_userref", integers=True)
    ]
    if not targets:
        raise RequestError(f"Missing field: 'order_id' for the given msg type: {msg}")
    outcomes: list[Outcome] = []
    for ws_name, core_name, value in targets:
        try:
            exchange.cancel_order(api_key, source="ws", **{core_name: value})
        except SimError as error:
            outcomes.append(RequestError(error.message))
        else:
            outcomes.append({ws_name: value})
    return outcomes


def batch_cancel(exchange: Any, api_key: str, params: Mapping[str, Any]) -> list[Outcome]:
    """batch_cancel -> exchange.cancel_order_batch; result ``{count}``."""
    msg = "batch_cancel"
    check_fields(params, {"orders", "cl_ord_id", "token"}, msg)
    orders = identifier_list(params, "orders")
    cl_ord_ids = identifier_list(params, "cl_ord_id")
    if not orders and not cl_ord_ids:
        raise RequestError(f"Missing field: 'orders' for the given msg type: {msg}")
    answer = exchange.cancel_order_batch(api_key, orders, cl_ord_ids)
    return [{"count": answer.get("count", 0)}]


def cancel_all(exchange: Any, api_key: str, params: Mapping[str, Any]) -> list[Outcome]:
    """cancel_all -> exchange.cancel_all; result ``{count}``."""
    check_fields(params, {"token"}, "cancel_all")
    answer = exchange.cancel_all(api_key)
    return [{"count": answer.get("count", 0)}]


def cancel_all_orders_after(
    exchange: Any, api_key: str, params: Mapping[str, Any]
) -> list[Outcome]:
    """cancel_all_orders_after -> the dead man's switch; result ``{currentTime, triggerTime}``."""
    msg = "cancel_all_orders_after"
    check_fields(params, {"timeout", "token"}, msg)
    timeout = integer(params, "timeout", msg, required=True)
    if not 0 <= timeout < 86400:
        raise RequestError("EGeneral:Invalid arguments:timeout")
    return [dict(exchange.cancel_all_orders_after(api_key, timeout))]


#: Authenticated methods by name; each needs ``params.token``.
TRADING_METHODS: dict[str, Method] = {
    "add_order": add_order,
    "amend_order": amend_order,
    "batch_add": batch_add,
    "batch_cancel": batch_cancel,
    "cancel_all": cancel_all,
    "cancel_all_orders_after": cancel_all_orders_after,
    "cancel_order": cancel_order,
}
