"""The interpreter's garbage collector, tuned for bursts of orders.

CPython runs a young-generation collection every 700 net allocations of tracked objects (the
first threshold). An order allocates thousands of them across the engine's threads (messages,
reports, models, Decimals), and in a burst thousands of orders are alive at once, so the collector
ran about 700 young and 60 older collections per 5,000 orders, the older ones walking every live
order. Raising the first threshold to 10,000 (37 and 4 collections) cut the engine's CPU per
order by 15 to 25 % in 3,000- and 5,000-order bursts (docs/benchmarks.md). Only the first threshold moves: collections still run
and cycles are still freed, a little later; the memory this holds back is bounded by 10,000 young
objects.

The setting is process-wide. The first engine to start applies it, the last one to stop puts back
what it found. ``[engine] gc_young_threshold = 0`` leaves the interpreter alone, for an
application that manages its collector itself.
"""

from __future__ import annotations

import gc
import threading

__all__ = ["release", "tune"]

_lock = threading.Lock()
_holders = 0
_found: tuple[int, int, int] | None = None


def tune(young_threshold: int) -> bool:
    """Raise the collector's first threshold to ``young_threshold`` (0: change nothing).

    True when this caller now holds the setting and must ``release()`` it once done.
    """
    global _holders, _found
    if young_threshold <= 0:
        return False
    with _lock:
        if _holders == 0:
            _found = gc.get_threshold()
            _, older, oldest = _found
            gc.set_threshold(young_threshold, older, oldest)
        _holders += 1
    return True


def release() -> None:
    """Give the setting up; the last holder puts back the thresholds ``tune`` found."""
    global _holders, _found
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0 and _found is not None:
            gc.set_threshold(*_found)
            _found = None
