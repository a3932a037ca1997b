"""A counter that decays at a constant rate: the shape of Kraken's rate-limit models.

Each request adds its cost to the counter; the counter drains by `decay_per_s` every second,
never below zero; a request fits while `level + cost <= maximum`. The Kraken costs and tier
figures live in `gal_exec.kraken`; this is only the arithmetic. Floats are fine: it is a
counter, not money.
"""

from __future__ import annotations

import math
from decimal import Decimal

from gal_exec.core.clock import Clock

__all__ = ["DecayCounter"]

# Float rounding must not make "wait exactly wait_for(cost), then fits(cost)" come out False.
_TOLERANCE = 1e-9


class DecayCounter:
    """A leaky counter on `clock.monotonic()`."""

    def __init__(
        self, maximum: Decimal | float, decay_per_s: Decimal | float, clock: Clock
    ) -> None:
        self.maximum = float(maximum)
        self.decay_per_s = float(decay_per_s)
        if not (math.isfinite(self.maximum) and self.maximum > 0):
            raise ValueError(f"counter maximum must be positive, got {maximum}")
        if not (math.isfinite(self.decay_per_s) and self.decay_per_s >= 0):
            raise ValueError(f"decay rate must be >= 0, got {decay_per_s}")
        self._clock = clock
        self._level = 0.0
        self._as_of = clock.monotonic()

    def level(self) -> float:
        """The counter now, after decay."""
        now = self._clock.monotonic()
        elapsed = max(0.0, now - self._as_of)
        self._level = max(0.0, self._level - elapsed * self.decay_per_s)
        self._as_of = max(self._as_of, now)
        return self._level

    def add(self, cost: float) -> float:
        """Count a request of `cost` (even past the maximum: it happened); return the level."""
        _check_cost(cost)
        self._level = self.level() + cost
        return self._level

    def fits(self, cost: float) -> bool:
        """Would a request of `cost` stay within the maximum now?"""
        _check_cost(cost)
        return self.level() + cost <= self.maximum + _TOLERANCE

    def try_add(self, cost: float) -> bool:
        """Add `cost` if it fits now; return whether it was added."""
        if not self.fits(cost):
            return False
        self.add(cost)
        return True

    def wait_for(self, cost: float) -> float:
        """Seconds until a request of `cost` fits (0 if it fits now; inf if it never decays).

        Raises ValueError when `cost` exceeds the maximum: no amount of waiting helps.
        """
        _check_cost(cost)
        if cost > self.maximum + _TOLERANCE:
            raise ValueError(f"cost {cost} can never fit under the maximum {self.maximum}")
        excess = self.level() + cost - self.maximum
        if excess <= _TOLERANCE:
            return 0.0
        if self.decay_per_s == 0:
            return math.inf
        return excess / self.decay_per_s

    def correct(self, level: float) -> None:
        """Set the counter from an external reading (e.g. the exchange's own count)."""
        level = float(level)
        if not (math.isfinite(level) and level >= 0):
            raise ValueError(f"counter level must be >= 0, got {level}")
        self._level = level
        self._as_of = max(self._as_of, self._clock.monotonic())


def _check_cost(cost: float) -> None:
    if not (math.isfinite(cost) and cost >= 0):
        raise ValueError(f"cost must be a finite number >= 0, got {cost}")
