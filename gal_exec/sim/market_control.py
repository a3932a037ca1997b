"""The simulator's controls, behind the /sim/ API: move prices, step, advance the manual clock,
change liquidity, pause matching, set the system status, replace faults, dump state.
Mixed into ``Exchange``.
"""

from __future__ import annotations

from decimal import Decimal

from gal_exec.sim import views
from gal_exec.sim._exchange_state import ExchangeState
from gal_exec.sim.faults import FaultPlan

__all__ = ["ControlApi"]

STATUSES = ("online", "maintenance", "cancel_only", "post_only")


class ControlApi(ExchangeState):
    """Market controls (mixed into ``Exchange``)."""

    # -- control --------------------------------------------------------------------------

    def set_faults(self, plan: FaultPlan) -> None:
        self.faults = plan

    def disconnect_ws(self) -> int:
        """Drop every WebSocket connection (the servers register in ``ws_disconnectors``)."""
        return sum(disconnect() for disconnect in list(self.ws_disconnectors))

    def set_price(self, pair: str, price: Decimal) -> None:
        """Move ``pair``'s market to ``price`` now: a new step (fresh liquidity), triggers, fills."""
        key = self.resolve_pair(pair)
        price = Decimal(price)
        if not price.is_finite() or price <= 0:
            raise ValueError(f"price must be positive, got {price}")
        with self._op() as now:
            self.engine.markets[key].move_to(price)
            self.engine.after_move(key, now)

    def step(self, n: int = 1) -> None:
        """Move every market ``n`` steps now, without moving the clock."""
        with self._op() as now:
            for _ in range(n):
                self.engine.step_all(now)

    def advance(self, seconds: float) -> None:
        """Manual clock: move time forward; due steps, expiries and dead man's switches run."""
        if not self.manual or not hasattr(self.clock, "advance"):
            raise ValueError("advance needs the manual clock (SimConfig.clock = 'manual')")
        self.clock.advance(seconds)
        self._on_clock()

    def set_liquidity(self, pair: str | None, per_step: Decimal) -> None:
        """Base units offered per step and side, for one pair (or all when ``pair`` is None)."""
        per_step = Decimal(per_step)
        if not per_step.is_finite() or per_step <= 0:
            raise ValueError(f"per_step must be positive, got {per_step}")
        keys = [self.resolve_pair(pair)] if pair else list(self.engine.markets)
        with self._op() as now:
            for key in keys:
                market = self.engine.markets[key]
                market.per_step = per_step
                market.refresh_liquidity()
                self.engine.after_move(key, now)

    def set_paused(self, paused: bool) -> None:
        """Freeze (or resume) matching and automatic price steps; orders still rest."""
        with self._op() as now:
            was = self.engine.paused
            self.engine.paused = bool(paused)
            if was and not paused:
                for key, market in self.engine.markets.items():
                    market.refresh_liquidity()
                    self.engine.after_move(key, now)

    def set_status(self, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}; got {status!r}")
        with self._lock:
            self.status = status

    def dump_orders(self) -> list[dict]:
        with self._op():
            return [views.dump_order(order) for order in self.engine.orders.values()]

    def dump_trades(self) -> list[dict]:
        with self._op():
            return [views.dump_trade(trade) for trade in self.engine.trades]

    def state(self) -> dict:
        """Prices, clock and counters for GET /sim/state."""
        with self._op() as now:
            engine = self.engine
            return {
                "time": now,
                "clock": "manual" if self.manual else "real",
                "paused": engine.paused,
                "status": self.status,
                "tier": self.tier,
                "enforce_rate_limits": self.limits.enforce,
                "step_interval_s": self.interval,
                "markets": {
                    key: {
                        "symbol": m.pair.symbol,
                        "bid": str(m.bid),
                        "ask": str(m.ask),
                        "last": str(m.last),
                        "per_step": str(m.per_step),
                        "steps": m.steps,
                        "source": "external" if m.external else "walk",
                        "stale": m.stale,
                    }
                    for key, m in engine.markets.items()
                },
                "external_reason": self.external_reason,
                "open_orders": sum(len(book) for book in engine.book.values()),
                "orders": len(engine.orders),
                "trades": len(engine.trades),
                "rate_counters": self.limits.snapshot(),
                "faults": self.faults.describe(),
            }
