"""The simulator's control API under ``/sim/`` on the REST port: JSON, no auth, loopback only.
Not part of Kraken's API; tests and the CLI drive the market with it.

=======  ==================  ==============================================================
verb     path                body / answer
=======  ==================  ==============================================================
GET      /sim/state          clock, status, prices per pair, rate counters, fault rules
GET      /sim/orders         ``{"orders": [...]}`` every order ever placed (txid, cl_ord_id,
                             userref, pair, side, ordertype, status, vol, vol_exec, price,
                             avg_price, opentm, closetm, ...)
GET      /sim/trades         ``{"trades": [...]}`` every fill (trade_id, txid, ordertxid, pair,
                             side, price, vol, fee, time, ...)
POST     /sim/price          ``{"pair": "XBTUSD", "price": "65000.5"}``: move the market now
POST     /sim/step           ``{"n": 3}``: step every market n times (clock unchanged)
POST     /sim/advance        ``{"seconds": 10}``: manual clock only; runs what falls due
PUT      /sim/faults         a fault plan (see gal_exec.sim.faults); POST works too
GET      /sim/faults         the current rules with their seen/fired counts
POST     /sim/liquidity      ``{"pair": "XBTUSD", "per_step": "0.5"}`` (no pair: all pairs)
POST     /sim/pause          ``{"paused": true}``: hold matching and automatic steps
POST     /sim/status         ``{"status": "maintenance"}``: online, maintenance, cancel_only,
                             post_only (SystemStatus and order entry follow it)
POST     /sim/accounts       ``{"api_key", "api_secret", "balances"?, "nonce_window"?,
                             "permissions"?, "name"?}``: permissions as GetApiKeyInfo lists
                             them (default: what trading needs, see sim.permissions)
POST     /sim/ws/disconnect  drop every WebSocket connection (no close frame)
=======  ==================  ==============================================================

Answers are JSON; a bad request is HTTP 400 ``{"error": "<what is wrong>"}``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from gal_exec.sim.errors import SimError
from gal_exec.sim.exchange import Exchange
from gal_exec.sim.faults import FaultPlan, FaultPlanError
from gal_exec.sim.pairs import DEFAULT_BALANCES

__all__ = ["handle"]


class _BadRequest(Exception):
    pass


def _field(data: dict[str, Any], name: str, default: Any = ...) -> Any:
    if name in data:
        return data[name]
    if default is ...:
        raise _BadRequest(f"missing field {name!r}")
    return default


def _decimal(value: Any, name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise _BadRequest(f"{name} must be a number, got {value!r}") from None
    if not number.is_finite() or number <= 0:
        raise _BadRequest(f"{name} must be positive, got {value!r}")
    return number


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1"):
        return True
    if str(value).lower() in ("false", "0"):
        return False
    raise _BadRequest(f"{name} must be true or false, got {value!r}")


def handle(exchange: Exchange, verb: str, path: str, body: bytes) -> tuple[int, Any]:
    """Answer one control request: (HTTP status, JSON-able payload)."""
    route = path[len("/sim") :].strip("/")
    try:
        data = json.loads(body, parse_float=Decimal) if body.strip() else {}
    except ValueError as exc:
        return 400, {"error": f"body is not valid JSON: {exc}"}
    if route != "faults" and not isinstance(data, dict):
        return 400, {"error": "body must be a JSON object"}
    try:
        return _route(exchange, verb, route, data)
    except _BadRequest as exc:
        return 400, {"error": str(exc)}
    except SimError as exc:
        return 400, {"error": exc.message}
    except (ValueError, TypeError) as exc:
        return 400, {"error": str(exc)}


def _route(exchange: Exchange, verb: str, route: str, data: Any) -> tuple[int, Any]:
    if verb == "GET":
        if route == "state":
            return 200, exchange.state()
        if route == "orders":
            return 200, {"orders": exchange.dump_orders()}
        if route == "trades":
            return 200, {"trades": exchange.dump_trades()}
        if route == "faults":
            return 200, {"rules": exchange.faults.describe()}
    elif verb in ("POST", "PUT"):
        if route == "faults":
            try:
                plan = FaultPlan.from_dict(data, default_seed=exchange.config.seed)
            except FaultPlanError as exc:
                raise _BadRequest(str(exc)) from None
            exchange.set_faults(plan)
            return 200, {"ok": True, "rules": len(plan.rules)}
        if verb == "POST":
            return _post(exchange, route, data)
    return 404, {"error": f"no control endpoint {verb} /sim/{route}"}


def _post(exchange: Exchange, route: str, data: dict[str, Any]) -> tuple[int, Any]:
    if route == "price":
        pair = str(_field(data, "pair"))
        exchange.set_price(pair, _decimal(_field(data, "price"), "price"))
        market = exchange.engine.markets[exchange.resolve_pair(pair)]
        return 200, {
            "ok": True,
            "pair": market.pair.key,
            "bid": str(market.bid),
            "ask": str(market.ask),
            "last": str(market.last),
        }
    if route == "step":
        count = _field(data, "n", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 100_000:
            raise _BadRequest(f"n must be an integer from 0 to 100000, got {count!r}")
        exchange.step(count)
        return 200, {"ok": True, "steps": count}
    if route == "advance":
        seconds = _field(data, "seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | Decimal) or seconds < 0:
            raise _BadRequest(f"seconds must be a number >= 0, got {seconds!r}")
        exchange.advance(float(seconds))
        return 200, {"ok": True, "time": exchange.clock.time()}
    if route == "liquidity":
        pair = _field(data, "pair", None)
        exchange.set_liquidity(pair, _decimal(_field(data, "per_step"), "per_step"))
        return 200, {"ok": True}
    if route == "pause":
        paused = _bool(_field(data, "paused"), "paused")
        exchange.set_paused(paused)
        return 200, {"ok": True, "paused": paused}
    if route == "status":
        exchange.set_status(str(_field(data, "status")))
        return 200, {"ok": True, "status": exchange.status}
    if route == "ws/disconnect":
        return 200, {"ok": True, "connections": exchange.disconnect_ws()}
    if route == "accounts":
        balances = _field(data, "balances", None)
        if balances is None:
            balances = dict(DEFAULT_BALANCES)
        if not isinstance(balances, dict):
            raise _BadRequest("balances must be an object of asset: amount")
        window = _field(data, "nonce_window", 0)
        permissions = _field(data, "permissions", None)
        if permissions is not None and (
            not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions)
        ):
            raise _BadRequest("permissions must be a list of strings")
        exchange.add_account(
            str(_field(data, "api_key")),
            str(_field(data, "api_secret")),
            {str(k): Decimal(str(v)) for k, v in balances.items()},
            nonce_window=int(window),
            permissions=permissions,
            name=str(_field(data, "name", "")),
        )
        return 200, {"ok": True}
    return 404, {"error": f"no control endpoint POST /sim/{route}"}
