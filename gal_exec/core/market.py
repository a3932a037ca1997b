"""Market data, pure: a price cache that knows when a price is too old to decide on, rolling
realised volatility over several windows, and the trading-session label of a UTC hour.

Times are injected (epoch seconds from the caller's clock); nothing here reads the machine's
clock. Prices stay Decimal; volatility is a statistic, not a money amount, so it is a float.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

import msgspec

__all__ = [
    "DEFAULT_SESSIONS",
    "PriceCache",
    "Quote",
    "QuoteSource",
    "RollingVolatility",
    "Stale",
    "session_at",
    "session_label",
    "window_label",
]

QuoteSource = Literal["stream", "rest"]


class Quote(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A fresh price: ``last`` (mid when the feed gives no last trade), the touch if known.

    ``time`` is when this price arrived; ``checked_at`` the last time its source vouched that
    it is still current (a live subscription's heartbeat); staleness counts from ``checked_at``.
    ``volatility`` maps a window label (``"5m"``) to realised volatility as a fraction.
    """

    pair: str
    last: Decimal
    bid: Decimal | None = None
    ask: Decimal | None = None
    time: float
    checked_at: float
    source: QuoteSource = "stream"
    volatility: dict[str, float | None] = {}

    def age(self, now: float) -> float:
        """Seconds since the source last vouched for this price (never negative)."""
        return max(0.0, now - self.checked_at)

    def price_for(self, side: str) -> Decimal:
        """What a market order on ``side`` would pay: the ask for a buy, the bid for a sell."""
        touch = self.ask if side == "buy" else self.bid if side == "sell" else None
        return touch if touch is not None and touch > 0 else self.last


class Stale(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """No usable price for ``pair``; ``reason`` says why, in words a person can act on.

    ``age`` is None when the pair was never priced; ``last`` is for messages only, never for
    a decision.
    """

    pair: str
    reason: str
    age: float | None = None
    last: Decimal | None = None


class PriceCache:
    """The latest Quote per pair, answered as a Quote while fresh and as Stale once it is not.

    A price is stale when its source has not vouched for it for more than ``stale_after_s``,
    or (when ``max_unchanged_s`` > 0) when it has not changed for more than that.
    """

    def __init__(self, *, stale_after_s: float, max_unchanged_s: float = 0.0) -> None:
        if not stale_after_s > 0:
            raise ValueError(f"stale_after_s must be positive, got {stale_after_s!r}")
        if max_unchanged_s < 0:
            raise ValueError(f"max_unchanged_s must be >= 0, got {max_unchanged_s!r}")
        self.stale_after_s = stale_after_s
        self.max_unchanged_s = max_unchanged_s
        self._quotes: dict[str, Quote] = {}

    def update(
        self,
        pair: str,
        *,
        last: Decimal,
        time: float,
        bid: Decimal | None = None,
        ask: Decimal | None = None,
        source: QuoteSource = "stream",
        volatility: dict[str, float | None] | None = None,
    ) -> Quote | None:
        """Record a new price; returns the Quote, or None if an equally new one is held."""
        quote = Quote(
            pair=pair,
            last=last,
            bid=bid,
            ask=ask,
            time=time,
            checked_at=time,
            source=source,
            volatility=dict(volatility or {}),
        )
        return quote if self.put(quote) else None

    def put(self, quote: Quote) -> bool:
        """Store a Quote made elsewhere (a mirror of another cache); False if it is older."""
        for name, value in (("last", quote.last), ("bid", quote.bid), ("ask", quote.ask)):
            if value is not None and not (value.is_finite() and value > 0):
                raise ValueError(f"{quote.pair}: {name} price must be positive, got {value}")
        held = self._quotes.get(quote.pair)
        if held is not None and quote.time < held.time:
            return False
        self._quotes[quote.pair] = quote
        return True

    def touch(self, pairs: Iterable[str], time: float) -> None:
        """The source vouches that the held prices of ``pairs`` are still current at ``time``."""
        for pair in pairs:
            held = self._quotes.get(pair)
            if held is not None and time > held.checked_at:
                self._quotes[pair] = msgspec.structs.replace(held, checked_at=time)

    def quote(self, pair: str, now: float) -> Quote | Stale:
        """The price of ``pair`` if it is fresh at ``now``, else Stale naming why."""
        held = self._quotes.get(pair)
        if held is None:
            return Stale(pair=pair, reason=f"no price for {pair} yet")
        age = held.age(now)
        if age > self.stale_after_s:
            return Stale(
                pair=pair,
                age=age,
                last=held.last,
                reason=(
                    f"the last {pair} price ({held.last}, from {held.source}) is {age:.1f} s old; "
                    f"prices older than {self.stale_after_s:g} s are stale"
                ),
            )
        unchanged = max(0.0, now - held.time)
        if self.max_unchanged_s and unchanged > self.max_unchanged_s:
            return Stale(
                pair=pair,
                age=unchanged,
                last=held.last,
                reason=(
                    f"the {pair} price ({held.last}) has not changed for {unchanged:.1f} s; "
                    f"prices unchanged for over {self.max_unchanged_s:g} s are stale"
                ),
            )
        return held

    def get(self, pair: str) -> Quote | None:
        """The held Quote whatever its age (for health displays, never for decisions)."""
        return self._quotes.get(pair)

    def pairs(self) -> list[str]:
        return list(self._quotes)

    def __contains__(self, pair: object) -> bool:
        return pair in self._quotes

    def __len__(self) -> int:
        return len(self._quotes)


# ---- volatility -------------------------------------------------------------------------------

# Squared log returns are summed as integers scaled by this, so the running sum never drifts
# however many samples come and go (a float sum would, and could even turn negative).
_SCALE = 10**24


def window_label(seconds: float) -> str:
    """A short label for a window: 60 -> "1m", 3600 -> "1h", 45 -> "45s"."""
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{int(seconds // 86400)}d"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


class _Window:
    __slots__ = ("label", "samples", "span", "total")

    def __init__(self, span: float) -> None:
        self.span = span
        self.label = window_label(span)
        self.samples: deque[tuple[float, int]] = deque()
        self.total = 0

    def evict(self, now: float) -> None:
        cutoff = now - self.span
        samples = self.samples
        while samples and samples[0][0] <= cutoff:
            self.total -= samples.popleft()[1]


class RollingVolatility:
    """Realised volatility of one price series over several trailing windows.

    The value for a window is sqrt(sum of squared log returns inside it), a fraction of the
    price (0.01 is 1 %): the typical move over that window. Prices are sampled at most once per
    ``sample_interval_s`` (the return is measured from the last sampled price), which bounds
    memory and damps bid/ask bounce. A return spanning more than a window is left out of it.
    Each sample is added and removed once per window: O(1) amortised.
    """

    def __init__(
        self,
        windows_s: Sequence[float] = (60.0, 300.0, 3600.0),
        *,
        sample_interval_s: float = 1.0,
        min_samples: int = 2,
    ) -> None:
        if not windows_s or any(not (w > 0 and math.isfinite(w)) for w in windows_s):
            raise ValueError(f"windows_s must be positive numbers, got {list(windows_s)!r}")
        if sample_interval_s < 0 or min_samples < 1:
            raise ValueError("sample_interval_s must be >= 0 and min_samples >= 1")
        self._windows = [_Window(float(w)) for w in sorted(set(windows_s))]
        self._by_span = {window.span: window for window in self._windows}
        self._by_label = {window.label: window for window in self._windows}
        self.sample_interval_s = sample_interval_s
        self.min_samples = min_samples
        self._base_price: float | None = None
        self._base_time = 0.0
        self._latest_time = -math.inf

    @property
    def labels(self) -> list[str]:
        return [window.label for window in self._windows]

    def add(self, price: Decimal | float, time: float) -> None:
        """Feed one price observed at ``time``; out-of-order and non-positive prices are ignored."""
        value = float(price)
        if not (value > 0 and math.isfinite(value)) or time < self._latest_time:
            return
        self._latest_time = time
        if self._base_price is None:
            self._base_price, self._base_time = value, time
            return
        elapsed = time - self._base_time
        if elapsed < self.sample_interval_s:
            return
        squared = round(math.log(value / self._base_price) ** 2 * _SCALE)
        self._base_price, self._base_time = value, time
        for window in self._windows:
            if elapsed <= window.span:
                window.samples.append((time, squared))
                window.total += squared
            window.evict(time)

    def value(self, window: float | str, now: float) -> float | None:
        """Realised volatility over ``window`` (seconds or label) ending at ``now``; None while
        fewer than ``min_samples`` returns fall inside it."""
        found = self._by_label.get(window) if isinstance(window, str) else self._by_span.get(window)
        if found is None:
            raise KeyError(f"no volatility window {window!r}; windows are {self.labels}")
        found.evict(now)
        if len(found.samples) < self.min_samples:
            return None
        return math.sqrt(max(found.total, 0) / _SCALE)

    def values(self, now: float) -> dict[str, float | None]:
        """Every window's value at ``now``, by label."""
        return {window.label: self.value(window.span, now) for window in self._windows}

    def samples(self, window: float | str) -> int:
        """How many returns the window holds (as of the last add or value call)."""
        found = self._by_label.get(window) if isinstance(window, str) else self._by_span.get(window)
        if found is None:
            raise KeyError(f"no volatility window {window!r}; windows are {self.labels}")
        return len(found.samples)


# ---- sessions ---------------------------------------------------------------------------------

# (first UTC hour, label), in order: crypto never closes, so every hour belongs to one session.
DEFAULT_SESSIONS: tuple[tuple[int, str], ...] = (
    (0, "Asia"),
    (7, "Europe"),
    (13, "US"),
    (22, "Asia"),
)


def session_label(utc_hour: int, sessions: Sequence[tuple[int, str]] = DEFAULT_SESSIONS) -> str:
    """The session of a UTC hour: Asia 22:00-07:00, Europe 07:00-13:00, US 13:00-22:00."""
    if isinstance(utc_hour, bool) or not isinstance(utc_hour, int) or not 0 <= utc_hour <= 23:
        raise ValueError(f"utc_hour must be an integer from 0 to 23, got {utc_hour!r}")
    label = sessions[-1][1]
    for start, name in sessions:
        if utc_hour < start:
            break
        label = name
    return label


def session_at(epoch_s: float, sessions: Sequence[tuple[int, str]] = DEFAULT_SESSIONS) -> str:
    """The session at an epoch time (the caller's clock)."""
    return session_label(datetime.fromtimestamp(epoch_s, tz=UTC).hour, sessions)
