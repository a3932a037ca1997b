"""What the Exchange's mixins (order entry, feeds, controls, external prices) use of it.

Declared for the type checker only: ``Exchange`` provides every one of these, and each mixin
inherits this class so its methods are checked against them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gal_exec.sim.accounts import Account
    from gal_exec.sim.faults import FaultPlan
    from gal_exec.sim.limits import RateLimits
    from gal_exec.sim.matching import MatchingEngine
    from gal_exec.sim.pairs import PairTable

__all__ = ["ExchangeState"]


class ExchangeState:
    """The Exchange's state and helpers, as its mixins see them."""

    if TYPE_CHECKING:  # provided by Exchange (and, for the methods, by its other mixins)
        clock: Any
        status: str
        tier: str
        manual: bool
        interval: float
        pairs: PairTable
        limits: RateLimits
        faults: FaultPlan
        engine: MatchingEngine
        external_reason: str
        ws_disconnectors: list[Callable[[], int]]
        _lock: threading.RLock
        _handles: int
        _exec_subs: dict[int, tuple[str, Callable[[list[dict[str, Any]]], None]]]
        _ticker_subs: dict[int, Callable[[dict[str, Any]], None]]

        def _op(self, *, process: bool = True) -> AbstractContextManager[float]: ...
        def _on_clock(self) -> None: ...
        def _account(self, api_key: str) -> Account: ...
        def check_not_stale(self, pair_key: str) -> None: ...
        def resolve_pair(self, name: str) -> str: ...
