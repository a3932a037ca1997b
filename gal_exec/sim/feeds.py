"""Kraken's public REST endpoints (Time, SystemStatus, Assets, AssetPairs, Ticker), pair naming,
and the WebSocket feeds the WS server reads (executions, snapshots, rate counter, ticker).
Mixed into ``Exchange``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from gal_exec.sim import errors, executions, views
from gal_exec.sim._exchange_state import ExchangeState
from gal_exec.sim.errors import SimError

__all__ = ["FeedsApi"]


class FeedsApi(ExchangeState):
    """Public endpoints and WS feeds (mixed into ``Exchange``)."""

    # -- public ---------------------------------------------------------------------------

    def time(self) -> dict:
        now = self.clock.time()
        moment = datetime.fromtimestamp(int(now), tz=UTC)
        return {"unixtime": int(now), "rfc1123": moment.strftime("%a, %d %b %y %H:%M:%S +0000")}

    def system_status(self) -> dict:
        return {"status": self.status, "timestamp": views.rfc3339_seconds(self.clock.time())}

    def assets(self, asset: str | None = None) -> dict:
        chosen = list(self.pairs.assets.values())
        if asset:
            chosen = []
            for name in str(asset).split(","):
                found = self.pairs.find_asset(name)
                if found is None:
                    raise SimError("EQuery:Unknown asset")
                chosen.append(found)
        return {
            spec.key: {
                "aclass": "currency",
                "altname": spec.altname,
                "decimals": spec.decimals,
                "display_decimals": spec.display_decimals,
                "status": "enabled",
            }
            for spec in chosen
        }

    def _pairs_named(self, names: str | None) -> list:
        if not names:
            return list(self.pairs.pairs.values())
        chosen = []
        for name in str(names).split(","):
            pair = self.pairs.find(name)
            if pair is None:
                raise SimError(errors.UNKNOWN_PAIR)
            chosen.append(pair)
        return chosen

    def asset_pairs(self, pair: str | None = None) -> dict:
        engine = self.engine
        return {
            spec.key: views.rest_pair(spec, self.pairs, engine.maker_pct, engine.taker_pct)
            for spec in self._pairs_named(pair)
        }

    def ticker(self, pair: str | None = None) -> dict:
        # A market waiting for its first external quote (paper trading) has no price to show.
        with self._op():
            markets = self.engine.markets
            return {
                spec.key: views.rest_ticker(markets[spec.key])
                for spec in self._pairs_named(pair)
                if markets[spec.key].quoted or not markets[spec.key].external
            }

    def resolve_pair(self, name: str) -> str:
        pair = self.pairs.find(name) if name else None
        if pair is None:
            raise SimError(errors.UNKNOWN_PAIR)
        return pair.key

    def ws_symbol(self, pair_key: str) -> str:
        return self.pairs.pairs[pair_key].symbol

    # -- WebSocket feeds ------------------------------------------------------------------

    def subscribe_executions(self, api_key: str, callback: Callable[[list[dict]], None]) -> int:
        with self._lock:
            self._handles += 1
            self._exec_subs[self._handles] = (api_key, callback)
            self.engine.listening.add(api_key)
            return self._handles

    def unsubscribe_executions(self, handle: int) -> None:
        with self._lock:
            self._exec_subs.pop(handle, None)
            self.engine.listening = {key for key, _ in self._exec_subs.values()}

    def snapshot_orders(self, api_key: str) -> list[dict]:
        with self._op() as now:
            stamp = views.rfc3339(now)
            return [
                executions.ws_snapshot_order(order, stamp)
                for order in self._account(api_key).open.values()
            ]

    def snapshot_trades(self, api_key: str, limit: int = 50) -> list[dict]:
        with self._op():
            trades = self._account(api_key).trades[-limit:] if limit > 0 else []
            return [
                executions.ws_snapshot_trade(trade, self.pairs.asset(trade.fee_asset).ws_name)
                for trade in reversed(trades)
            ]

    def rate_counter(self, api_key: str) -> dict:
        """The key's trading-counter level per pair, ``{"BTC/USD": Decimal, ...}``; the tier's
        threshold is ``limits.tier.trading_max``."""
        with self._lock:
            levels = self.limits.trading_levels(api_key)
            return {
                self.ws_symbol(key): Decimal(str(round(level, 4))) for key, level in levels.items()
            }

    def subscribe_ticker(self, callback: Callable[[dict], None]) -> int:
        with self._lock:
            self._handles += 1
            self._ticker_subs[self._handles] = callback
            self.engine.ticker_listening = True
            return self._handles

    def unsubscribe_ticker(self, handle: int) -> None:
        with self._lock:
            self._ticker_subs.pop(handle, None)
            self.engine.ticker_listening = bool(self._ticker_subs)

    def ticker_ws(self, symbol: str) -> dict | None:
        """The WS v2 ticker of ``symbol``; None while an external market awaits its first
        quote (the subscriber gets the first update instead of a made-up snapshot)."""
        pair = self.pairs.by_symbol(symbol)
        if pair is None:
            raise SimError(errors.UNKNOWN_PAIR)
        with self._lock:
            market = self.engine.markets[pair.key]
            if market.external and not market.quoted:
                return None
            return executions.ws_ticker(market, views.rfc3339(self.clock.time()))
