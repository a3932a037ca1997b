"""Kraken's rate-limit models per tier: the REST call counter, the per-pair trading counter, and
the open-orders cap (FACTS.md section 3).

REST counter (per API key): max 15/20/20, decay 0.33/0.5/1 per s (starter/intermediate/pro);
each call costs 1, ledger and trade-history calls 2; AddOrder and CancelOrder are not counted (the
documented exceptions; every other private call is). A call that would push the counter past the
max is refused with ``EAPI:Rate limit exceeded`` and not counted.

Trading counter (per API key and pair): threshold 60/125/180, decay 1/2.34/3.75 per s. Add +1,
batch add n/2, amend +1 plus +3/+2/+1 when the order is under 5/10/15 s old, cancel +8/+6/+5/+4/
+2/+1 under 5/10/15/45/90/300 s (age since placement or last amend), batch cancel the sum. A
transaction that would push the counter past the threshold is refused with
``EOrder:Rate limit exceeded``; batch cancels are always accepted (and counted).

With ``enforce=False`` the counters are still kept (for /sim/state) but nothing is refused, and
the open-orders cap is lifted too.
"""

from __future__ import annotations

from dataclasses import dataclass

from gal_exec.core.clock import Clock
from gal_exec.core.limiter import DecayCounter
from gal_exec.sim.errors import API_RATE_LIMIT, TRADING_RATE_LIMIT, SimError

__all__ = ["TIERS", "RateLimits", "TierRules", "amend_cost", "cancel_cost"]


@dataclass(frozen=True, slots=True)
class TierRules:
    rest_max: float
    rest_decay: float
    trading_max: float
    trading_decay: float
    open_orders: int


TIERS: dict[str, TierRules] = {
    "starter": TierRules(15, 0.33, 60, 1.0, 60),
    "intermediate": TierRules(20, 0.5, 125, 2.34, 80),
    "pro": TierRules(20, 1.0, 180, 3.75, 225),
}

REST_COST_2 = frozenset({"Ledgers", "QueryLedgers", "TradesHistory", "QueryTrades"})
REST_EXCLUDED = frozenset({"AddOrder", "CancelOrder"})

_CANCEL_PENALTY = ((5, 8), (10, 6), (15, 5), (45, 4), (90, 2), (300, 1))
_AMEND_PENALTY = ((5, 3), (10, 2), (15, 1))


def _by_age(table: tuple[tuple[int, int], ...], age_s: float) -> int:
    for limit, cost in table:
        if age_s < limit:
            return cost
    return 0


def cancel_cost(age_s: float) -> int:
    """Trading-counter cost of cancelling an order ``age_s`` seconds after placement or amend."""
    return _by_age(_CANCEL_PENALTY, age_s)


def amend_cost(age_s: float) -> int:
    """Trading-counter cost of amending an order of age ``age_s`` (fixed +1 plus the decay part)."""
    return 1 + _by_age(_AMEND_PENALTY, age_s)


class RateLimits:
    """All counters of one exchange; callers hold the exchange lock."""

    def __init__(self, tier: str, clock: Clock, *, enforce: bool = True) -> None:
        self.tier_name = tier
        self.tier = TIERS[tier]
        self.enforce = enforce
        self._clock = clock
        self._rest: dict[str, DecayCounter] = {}
        self._trading: dict[tuple[str, str], DecayCounter] = {}

    @property
    def open_orders_limit(self) -> int | None:
        return self.tier.open_orders if self.enforce else None

    def _rest_counter(self, api_key: str) -> DecayCounter:
        counter = self._rest.get(api_key)
        if counter is None:
            counter = DecayCounter(self.tier.rest_max, self.tier.rest_decay, self._clock)
            self._rest[api_key] = counter
        return counter

    def trading_counter(self, api_key: str, pair_key: str) -> DecayCounter:
        counter = self._trading.get((api_key, pair_key))
        if counter is None:
            counter = DecayCounter(self.tier.trading_max, self.tier.trading_decay, self._clock)
            self._trading[(api_key, pair_key)] = counter
        return counter

    def charge_rest(self, api_key: str, endpoint: str) -> None:
        """Count one private REST call; SimError("EAPI:Rate limit exceeded") if over the max."""
        if endpoint in REST_EXCLUDED:
            return
        cost = 2 if endpoint in REST_COST_2 else 1
        counter = self._rest_counter(api_key)
        if not self.enforce:
            counter.add(cost)
        elif not counter.try_add(cost):
            raise SimError(API_RATE_LIMIT)

    def charge_trading(self, api_key: str, pair_key: str, cost: float, *, always: bool = False):
        """Count a trading transaction; SimError("EOrder:Rate limit exceeded") if over threshold."""
        counter = self.trading_counter(api_key, pair_key)
        if always or not self.enforce:
            counter.add(cost)
        elif not counter.try_add(cost):
            raise SimError(TRADING_RATE_LIMIT)

    def check_trading(self, api_key: str, pair_key: str, cost: float) -> None:
        """Refuse now if ``cost`` would not fit, without counting it."""
        if self.enforce and not self.trading_counter(api_key, pair_key).fits(cost):
            raise SimError(TRADING_RATE_LIMIT)

    def rest_level(self, api_key: str) -> float:
        counter = self._rest.get(api_key)
        return counter.level() if counter else 0.0

    def trading_levels(self, api_key: str) -> dict[str, float]:
        """Current trading-counter level per pair key for ``api_key``."""
        return {
            pair: counter.level()
            for (key, pair), counter in self._trading.items()
            if key == api_key
        }

    def snapshot(self) -> dict[str, dict]:
        """Every key's counters, for the control API."""
        keys = set(self._rest) | {key for key, _ in self._trading}
        return {
            key: {
                "rest": round(self.rest_level(key), 4),
                "trading": {p: round(v, 4) for p, v in self.trading_levels(key).items()},
            }
            for key in sorted(keys)
        }
