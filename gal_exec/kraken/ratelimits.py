"""Kraken's rate limits per tier, as counter-decay models that answer "when will this fit?".

Three limits apply to an API key (Kraken's spot-rest-ratelimits and spot-ratelimits guides):

- the REST call counter, per key: each private call adds a cost, the counter decays per second,
  and calls are refused (``EAPI:Rate limit exceeded``) above the tier's maximum;
- the trading counter, per pair, shared by REST, WebSocket and FIX: adds, amends, edits and
  cancels add fixed and age-dependent points (``EOrder:Rate limit exceeded`` above the threshold);
- the open-order limit per pair (``EOrder:Orders limit exceeded``).

Everything here is pure: time comes from an injected clock (its ``monotonic()``), nothing sleeps,
and the counters are not thread-safe (one owner, the gateway, updates them).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import msgspec

from gal_exec.core.clock import Clock
from gal_exec.core.limiter import DecayCounter

__all__ = [
    "PUBLIC_ENDPOINTS",
    "TIER_LIMITS",
    "TRADING_COUNTER_ENDPOINTS",
    "UNCONFIRMED_REST_COSTS",
    "OpenOrderCounter",
    "RestCallCounter",
    "Tier",
    "TierLimits",
    "TradingAction",
    "TradingCounter",
    "trading_cost",
]


class Tier(enum.StrEnum):
    """Kraken's account verification tiers, which set the rate limits."""

    STARTER = "starter"
    INTERMEDIATE = "intermediate"
    PRO = "pro"


class TierLimits(msgspec.Struct, frozen=True, kw_only=True):
    """One tier's limits: REST counter maximum and decay per second, trading counter threshold
    and decay per second (per pair), and the maximum open orders per pair.
    """

    rest_max: float
    rest_decay: float
    trading_threshold: float
    trading_decay: float
    max_open_orders_per_pair: int


TIER_LIMITS: Mapping[Tier, TierLimits] = MappingProxyType(
    {
        Tier.STARTER: TierLimits(
            rest_max=15,
            rest_decay=0.33,
            trading_threshold=60,
            trading_decay=1.0,
            max_open_orders_per_pair=60,
        ),
        Tier.INTERMEDIATE: TierLimits(
            rest_max=20,
            rest_decay=0.5,
            trading_threshold=125,
            trading_decay=2.34,
            max_open_orders_per_pair=80,
        ),
        Tier.PRO: TierLimits(
            rest_max=20,
            rest_decay=1.0,
            trading_threshold=180,
            trading_decay=3.75,
            max_open_orders_per_pair=225,
        ),
    }
)


def _budgeted(counter: DecayCounter, cost: float) -> float:
    """``cost`` capped at the counter's maximum: a cost larger than the whole budget (a big batch
    cancel, which Kraken still accepts) fits once the counter is empty.
    """
    return min(cost, counter.maximum)


# --- the REST call counter ---------------------------------------------------------------------

TRADING_COUNTER_ENDPOINTS = frozenset({"AddOrder", "CancelOrder"})
"""Excluded from the REST counter: they count on the per-pair trading counter instead."""

_LEDGER_ENDPOINTS = frozenset({"Ledgers", "QueryLedgers", "TradesHistory", "QueryTrades"})

PUBLIC_ENDPOINTS = frozenset(
    {"Time", "SystemStatus", "Assets", "AssetPairs", "Ticker", "OHLC", "Depth", "Trades", "Spread"}
)
"""Unauthenticated: limited per IP address by Kraken, not by the key's REST counter."""

UNCONFIRMED_REST_COSTS = frozenset(
    {
        "AmendOrder",
        "EditOrder",
        "AddOrderBatch",
        "CancelOrderBatch",
        "CancelAll",
        "CancelAllOrdersAfter",
        "QueryLedgers",
        "QueryTrades",
    }
)
"""Endpoints whose REST cost Kraken's docs do not state. The docs exempt only AddOrder and
CancelOrder, so the order-entry ones are charged 1 here; QueryLedgers and QueryTrades are
charged the ledger cost as the cautious reading of "ledger/trade history calls".
"""


class RestCallCounter:
    """The per-key REST call counter: cost 1 per private call, ``ledger_cost`` for ledger and
    trade-history calls (Kraken's docs say 2 in most copies and 4 in one), 0 for AddOrder and
    CancelOrder (trading counter) and for public endpoints.
    """

    def __init__(self, tier: Tier | str, clock: Clock, ledger_cost: float = 2) -> None:
        self.limits = TIER_LIMITS[Tier(tier)]
        self.ledger_cost = ledger_cost
        self._counter = DecayCounter(self.limits.rest_max, self.limits.rest_decay, clock)

    def cost(self, endpoint: str) -> float:
        """What a call to ``endpoint`` (Kraken's method name, e.g. ``"OpenOrders"``) adds."""
        if endpoint in TRADING_COUNTER_ENDPOINTS or endpoint in PUBLIC_ENDPOINTS:
            return 0
        if endpoint in _LEDGER_ENDPOINTS:
            return self.ledger_cost
        return 1

    def wait_for(self, endpoint: str) -> float:
        """Seconds until a call to ``endpoint`` fits under the maximum (0.0: now)."""
        return self._counter.wait_for(_budgeted(self._counter, self.cost(endpoint)))

    def record(self, endpoint: str) -> None:
        """Count a call to ``endpoint`` that was sent."""
        self._counter.add(self.cost(endpoint))

    def level(self) -> float:
        return self._counter.level()

    def headroom(self) -> float:
        """How much more can be spent now (negative when over)."""
        return self.limits.rest_max - self._counter.level()

    def correct(self, level: float) -> None:
        """Set the level from evidence, e.g. to the maximum after ``EAPI:Rate limit exceeded``."""
        self._counter.correct(level)


# --- the trading counter -----------------------------------------------------------------------


class TradingAction(enum.StrEnum):
    ADD = "add"
    AMEND = "amend"
    EDIT = "edit"
    CANCEL = "cancel"
    BATCH_ADD = "batch_add"
    BATCH_CANCEL = "batch_cancel"


# (age upper bound in seconds, exclusive; points): the decaying part of each transaction's cost,
# by seconds since the order was created or last amended.
_AMEND_PENALTY = ((5.0, 3), (10.0, 2), (15.0, 1))
_EDIT_PENALTY = ((5.0, 6), (10.0, 5), (15.0, 4), (45.0, 2), (90.0, 1))
_CANCEL_PENALTY = ((5.0, 8), (10.0, 6), (15.0, 5), (45.0, 4), (90.0, 2), (300.0, 1))


def _penalty(table: tuple[tuple[float, int], ...], age: float) -> int:
    if not math.isfinite(age) or age < 0:
        raise ValueError(f"an order's age must be a finite number of seconds >= 0, got {age!r}")
    for bound, points in table:
        if age < bound:
            return points
    return 0


def _one_age(action: TradingAction, ages: Sequence[float]) -> float:
    if len(ages) != 1:
        raise ValueError(f"{action} needs exactly one order age, got {len(ages)}")
    return ages[0]


def trading_cost(action: TradingAction | str, *ages: float, count: int | None = None) -> float:
    """Trading-counter points for one transaction.

    ``ages`` are seconds since each affected order was created or last amended: one for
    amend, edit and cancel, one per order for batch_cancel, none for add; batch_add takes
    ``count`` (the number of orders) and costs count / 2.
    """
    action = TradingAction(action)
    if action is TradingAction.ADD:
        if ages:
            raise ValueError("add takes no order age")
        return 1
    if action is TradingAction.AMEND:
        return 1 + _penalty(_AMEND_PENALTY, _one_age(action, ages))
    if action is TradingAction.EDIT:
        return 1 + _penalty(_EDIT_PENALTY, _one_age(action, ages))
    if action is TradingAction.CANCEL:
        return _penalty(_CANCEL_PENALTY, _one_age(action, ages))
    if action is TradingAction.BATCH_ADD:
        if count is None or count < 1 or ages:
            raise ValueError("batch_add takes count= (the number of orders) and no ages")
        return count / 2
    if not ages:
        raise ValueError("batch_cancel needs the age of each cancelled order")
    return sum(_penalty(_CANCEL_PENALTY, age) for age in ages)


class TradingCounter:
    """Kraken's per-pair trading counter for one account, as this process sees it.

    Pairs are whatever key the caller uses consistently (the WS v2 symbol, e.g. ``BTC/USD``).
    Kraken applies the fixed part even to transactions that fail validation, so record a
    transaction when it is sent, not when it succeeds.
    """

    cost_of = staticmethod(trading_cost)

    def __init__(self, tier: Tier | str, clock: Clock) -> None:
        self.limits = TIER_LIMITS[Tier(tier)]
        self._clock = clock
        self._pairs: dict[str, DecayCounter] = {}

    @property
    def threshold(self) -> float:
        return self.limits.trading_threshold

    def _counter(self, pair: str) -> DecayCounter:
        counter = self._pairs.get(pair)
        if counter is None:
            counter = DecayCounter(
                self.limits.trading_threshold, self.limits.trading_decay, self._clock
            )
            self._pairs[pair] = counter
        return counter

    def wait_for(self, pair: str, cost: float) -> float:
        """Seconds until ``cost`` more points fit under the threshold on ``pair`` (0.0: now)."""
        counter = self._counter(pair)
        return counter.wait_for(_budgeted(counter, cost))

    def fits(self, pair: str, cost: float) -> bool:
        counter = self._counter(pair)
        return counter.fits(_budgeted(counter, cost))

    def record(self, pair: str, cost: float) -> None:
        """Count ``cost`` points on ``pair`` for a transaction that was sent."""
        self._counter(pair).add(cost)

    def correct(self, pair: str, level: float) -> None:
        """Adopt Kraken's own figure (the executions channel's rate counter) for ``pair``."""
        self._counter(pair).correct(level)

    def level(self, pair: str) -> float:
        return self._counter(pair).level()

    def headroom(self, pair: str) -> float:
        """Points that can be spent on ``pair`` now (negative when over the threshold)."""
        return self.limits.trading_threshold - self._counter(pair).level()


# --- open orders -------------------------------------------------------------------------------


class OpenOrderCounter:
    """Open orders per pair against the tier's maximum (scheduled orders count too)."""

    def __init__(self, tier: Tier | str) -> None:
        self.maximum = TIER_LIMITS[Tier(tier)].max_open_orders_per_pair
        self._counts: dict[str, int] = {}

    def count(self, pair: str) -> int:
        return self._counts.get(pair, 0)

    def remaining(self, pair: str) -> int:
        """How many more orders may be opened on ``pair`` (0 when full)."""
        return max(0, self.maximum - self.count(pair))

    def can_open(self, pair: str, count: int = 1) -> bool:
        return self.count(pair) + count <= self.maximum

    def opened(self, pair: str, count: int = 1) -> None:
        self._counts[pair] = self.count(pair) + count

    def closed(self, pair: str, count: int = 1) -> None:
        """Orders on ``pair`` left the book (filled, cancelled, expired); never below zero."""
        self._counts[pair] = max(0, self.count(pair) - count)

    def reset(self, pair: str, count: int) -> None:
        """Adopt a count from reconciliation (e.g. an OpenOrders or executions snapshot)."""
        if count < 0:
            raise ValueError("an open-order count cannot be negative")
        self._counts[pair] = count
