"""Exponential backoff with full jitter, for retrying idempotent requests only."""

from __future__ import annotations

import math
import random

__all__ = ["Backoff"]

# 2**60 times any sane base is far past any cap; beyond it we skip the float power entirely.
_MAX_EXPONENT = 60


class Backoff:
    """Delay before retry `attempt` (0-based): uniform in [0, min(cap_s, base_s * 2**attempt)].

    Full jitter spreads retries from many actors so they do not stampede the exchange together.
    `max_attempts=None` never gives up.
    """

    def __init__(
        self,
        base_s: float,
        cap_s: float,
        max_attempts: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not (math.isfinite(base_s) and base_s > 0):
            raise ValueError(f"backoff base must be a positive number of seconds, got {base_s}")
        if not (math.isfinite(cap_s) and cap_s >= base_s):
            raise ValueError(f"backoff cap ({cap_s}) must be finite and at least the base")
        if max_attempts is not None and max_attempts < 0:
            raise ValueError(f"max_attempts must be >= 0 or None, got {max_attempts}")
        self.base_s = base_s
        self.cap_s = cap_s
        self.max_attempts = max_attempts
        self._rng = rng if rng is not None else random.Random()

    def ceiling(self, attempt: int) -> float:
        """The largest delay `next_delay(attempt)` can return."""
        _check_attempt(attempt)
        if attempt >= _MAX_EXPONENT:
            return self.cap_s
        return min(self.cap_s, self.base_s * 2.0**attempt)

    def next_delay(self, attempt: int) -> float:
        """A jittered delay in seconds before retry number `attempt` (0 for the first retry)."""
        return self._rng.uniform(0.0, self.ceiling(attempt))

    def exhausted(self, attempt: int) -> bool:
        """True when retry number `attempt` would exceed `max_attempts`."""
        _check_attempt(attempt)
        return self.max_attempts is not None and attempt >= self.max_attempts


def _check_attempt(attempt: int) -> None:
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
