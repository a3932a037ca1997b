"""Orders whose outcome is unknown, pure: followed from the report stream, aged for alerting.

An order is in ``submit_unknown`` when its placement was sent and no answer came (a timeout, a
reset, a 5xx): it may be live. The engine resolves it by ``cl_ord_id``; one that stays unknown
for long is what an operator must look at. This keeps, per order, when it became unknown, and
forgets it on its next report of any other status. Not thread-safe: one owner feeds it.
"""

from __future__ import annotations

__all__ = ["AGE_BUCKETS_S", "UnknownOutcomes"]

UNKNOWN = "submit_unknown"

AGE_BUCKETS_S: tuple[float, ...] = (0.0, 10.0, 60.0, 300.0)
"""Thresholds (seconds) for counts of orders unknown for at least that long."""


class UnknownOutcomes:
    """When each order now in ``submit_unknown`` entered it."""

    def __init__(self) -> None:
        self._since: dict[str, float] = {}

    def observe(self, cl_ord_id: str, status: str, time: float) -> None:
        """One report: an order entering ``submit_unknown`` is remembered (from its first such
        report), any other status forgets it."""
        if status == UNKNOWN:
            self._since.setdefault(cl_ord_id, time)
        else:
            self._since.pop(cl_ord_id, None)

    def ages(self, now: float) -> list[float]:
        """Seconds each unknown order has been unknown, oldest first."""
        return sorted((max(0.0, now - since) for since in self._since.values()), reverse=True)

    def summary(self, now: float) -> dict[str, object]:
        """Count, oldest age, and counts unknown for at least each of :data:`AGE_BUCKETS_S`."""
        ages = self.ages(now)
        return {
            "count": len(ages),
            "oldest_s": round(ages[0], 3) if ages else 0.0,
            "at_least_s": {
                f"{bucket:g}": sum(1 for age in ages if age >= bucket) for bucket in AGE_BUCKETS_S
            },
        }
