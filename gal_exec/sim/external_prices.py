"""Prices from outside: the simulator's markets follow a public feed instead of a random walk.

For paper trading the matching engine stays the simulator's, but each market's bid, ask and last
come from a price source (a Kraken WS v2 ticker follower, started by whoever builds the
simulator). A market is *stale* until its first quote arrives and again whenever the source
loses its feed; a stale market behaves like a Kraken pair in ``cancel_only``: new orders are
refused with ``EService:Market in cancel_only mode``, resting orders do not fill, cancels work.
Mixed into ``Exchange``.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Protocol

from gal_exec.sim import errors
from gal_exec.sim._exchange_state import ExchangeState
from gal_exec.sim.errors import SimError

__all__ = ["ExternalPricesApi", "PriceSource"]


class PriceSource(Protocol):
    """Feeds an Exchange with ``external_quote`` and ``external_stale`` until stopped."""

    def start(self, exchange: Any) -> None: ...

    def stop(self) -> None: ...


class ExternalPricesApi(ExchangeState):
    """Markets that follow an external price source (mixed into ``Exchange``)."""

    external_reason: str = ""

    def use_external_prices(self) -> None:
        """Every market stops its random walk and waits, stale, for its first quote."""
        with self._lock:
            for market in self.engine.markets.values():
                market.external = True
                market.stale = True
            self.external_reason = "no quote yet"

    def external_quote(
        self,
        symbol: str,
        *,
        bid: Decimal | None,
        ask: Decimal | None,
        last: Decimal | None,
    ) -> bool:
        """Set ``symbol``'s market from a quote (prices rounded to the pair's tick), then run its
        triggers and fills; False when the symbol is not a simulated pair or has no price."""
        pair = self.pairs.by_symbol(symbol)
        if pair is None:
            return False
        with self._op() as now:
            market = self.engine.markets[pair.key]
            if not market.external:
                return False
            if not market.set_touch(bid=bid, ask=ask, last=last):
                return False
            market.stale = False
            self.engine.after_move(pair.key, now)
        return True

    def external_stale(self, reason: str, symbols: Iterable[str] | None = None) -> None:
        """The source lost its feed: ``symbols`` (all when None) stop trading until quoted again."""
        chosen = None if symbols is None else set(symbols)
        with self._lock:
            self.external_reason = reason
            for market in self.engine.markets.values():
                if market.external and (chosen is None or market.pair.symbol in chosen):
                    market.stale = True

    def check_not_stale(self, pair_key: str) -> None:
        """Refuse new orders on a market whose external prices are stale (cancel_only)."""
        if self.engine.markets[pair_key].stale:
            raise SimError(errors.CANCEL_ONLY)
