"""Simulated market prices: a seeded random walk (or a replayed CSV) with a bid/ask spread.

Each pair has a mid price that moves once per step. The last traded price (the trigger reference
for both ``last`` and ``index``) is the mid; bid and ask sit half a spread either side, at least a
tick apart. Every step also refreshes the liquidity available to orders: ``per_step`` base units
on each side, so large orders fill over several steps.

Price CSV format (``SimConfig.price_csv``): one row per step, ``timestamp,price[,pair]``. Rows
without a pair column drive XBT/USD; rows naming a pair (any Kraken name) drive that pair. A
header row is skipped. Rows are replayed one per step in file order; after the last row the
price holds. Pairs without rows random-walk.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from gal_exec.sim.pairs import PairSpec, PairTable

__all__ = ["Market", "load_price_csv"]

_BPS = Decimal(10000)


@dataclass(slots=True)
class Market:
    """One pair's market: mid/last, bid/ask, per-step liquidity and session statistics."""

    pair: PairSpec
    mid: Decimal
    spread_bps: Decimal
    volatility_bps: float
    per_step: Decimal
    rng: random.Random
    replay: list[Decimal] = field(default_factory=list)
    bid: Decimal = Decimal(0)
    ask: Decimal = Decimal(0)
    buy_budget: Decimal = Decimal(0)
    sell_budget: Decimal = Decimal(0)
    open: Decimal = Decimal(0)
    high: Decimal = Decimal(0)
    low: Decimal = Decimal(0)
    volume: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)
    trades: int = 0
    steps: int = 0
    # Following an external price source (paper trading) instead of the random walk; stale
    # until its first quote and whenever the source has lost its feed.
    external: bool = False
    stale: bool = False
    quoted: bool = False

    def __post_init__(self) -> None:
        self.open = self.high = self.low = self.mid
        self._quote()
        self.refresh_liquidity()

    @property
    def last(self) -> Decimal:
        return self.mid

    def refresh_liquidity(self) -> None:
        self.buy_budget = self.per_step
        self.sell_budget = self.per_step

    def move_to(self, price: Decimal) -> None:
        """Put the mid at ``price`` (rounded to the tick), re-quote, and refresh liquidity."""
        pair = self.pair
        self.mid = max(pair.round_price(price), pair.tick_size)
        self.high = max(self.high, self.mid)
        self.low = min(self.low, self.mid)
        self._quote()
        self.refresh_liquidity()

    def set_touch(self, *, bid: Decimal | None, ask: Decimal | None, last: Decimal | None) -> bool:
        """Take bid, ask and last from an external quote (each rounded to the tick; a missing
        one is derived from the others) and refresh liquidity; False when no price is usable."""
        pair = self.pair
        usable = [p for p in (bid, ask, last) if p is not None and p.is_finite() and p > 0]
        if not usable:
            return False
        if bid is None or not bid > 0:
            bid = min(usable)
        if ask is None or not ask > 0:
            ask = max(usable)
        if last is None or not last > 0:
            last = (bid + ask) / 2
        self.bid = max(pair.floor_price(bid), pair.tick_size)
        self.ask = max(pair.ceil_price(ask), self.bid)
        self.mid = max(pair.round_price(last), pair.tick_size)
        if not self.quoted:
            self.quoted = True
            self.open = self.high = self.low = self.mid
        self.high = max(self.high, self.mid)
        self.low = min(self.low, self.mid)
        self.refresh_liquidity()
        return True

    def step(self) -> None:
        """Advance the price path by one step (an external market only refreshes liquidity)."""
        self.steps += 1
        if self.external:
            self.refresh_liquidity()
            return
        if self.replay:
            self.move_to(self.replay.pop(0))
            return
        if self.volatility_bps <= 0:
            self.refresh_liquidity()
            return
        # The random draw is a float; it becomes a Decimal before it touches a price.
        move = Decimal(repr(round(self.rng.gauss(0.0, self.volatility_bps), 6)))
        self.move_to(self.mid * (1 + move / _BPS))

    def record_trade(self, price: Decimal, volume: Decimal) -> None:
        self.volume += volume
        self.notional += price * volume
        self.trades += 1

    def vwap(self) -> Decimal:
        return self.notional / self.volume if self.volume else self.mid

    def _quote(self) -> None:
        pair = self.pair
        if self.spread_bps <= 0:
            self.bid = self.ask = self.mid
            return
        half = self.mid * self.spread_bps / _BPS / 2
        bid = pair.floor_price(self.mid - half)
        ask = pair.ceil_price(self.mid + half)
        if bid >= self.mid:
            bid = self.mid - pair.tick_size
        if ask <= self.mid:
            ask = self.mid + pair.tick_size
        self.bid = max(bid, pair.tick_size)
        self.ask = ask


def load_price_csv(path: str | Path, pairs: PairTable) -> dict[str, list[Decimal]]:
    """Read a price CSV into per-pair price lists; ValueError naming the line on a bad row."""
    default = pairs.find("XBTUSD")
    series: dict[str, list[Decimal]] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            try:
                price = Decimal(row[1].strip())
            except (IndexError, InvalidOperation):
                if number == 1:
                    continue  # a header row
                raise ValueError(f"{path}:{number}: expected timestamp,price[,pair]") from None
            if not price.is_finite() or price <= 0:
                raise ValueError(f"{path}:{number}: price must be positive, got {row[1].strip()}")
            pair = pairs.find(row[2]) if len(row) > 2 and row[2].strip() else default
            if pair is None:
                raise ValueError(f"{path}:{number}: unknown pair {row[2].strip()!r}")
            series.setdefault(pair.key, []).append(price)
    return series
