"""The pure domain of gal_exec: order states, fills, ids, time, retries, breakers, limits.

Nothing here starts a thread, opens a socket or reads the machine's clock (`ManualClock` holds a
lock only so tests may advance it from another thread), so all of it is testable without actors.
"""

from gal_exec.core.backoff import Backoff
from gal_exec.core.breaker import BreakerSet, BreakerState, CircuitBreaker
from gal_exec.core.clock import Clock, ManualClock
from gal_exec.core.ids import child_client_order_id, is_valid_cl_ord_id, new_client_order_id
from gal_exec.core.ledger import Fill, FillLedger, FillOutcome, FillResult, quantized
from gal_exec.core.limiter import DecayCounter
from gal_exec.core.order_state import (
    LIVE_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    IllegalTransition,
    OrderEvent,
    OrderState,
    Transition,
    allowed_events,
    apply,
    transition_table_markdown,
)
from gal_exec.core.timers import DeadlineHeap, TimerFired

__all__ = [
    "LIVE_STATES",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "Backoff",
    "BreakerSet",
    "BreakerState",
    "CircuitBreaker",
    "Clock",
    "DeadlineHeap",
    "DecayCounter",
    "Fill",
    "FillLedger",
    "FillOutcome",
    "FillResult",
    "IllegalTransition",
    "ManualClock",
    "OrderEvent",
    "OrderState",
    "TimerFired",
    "Transition",
    "allowed_events",
    "apply",
    "child_client_order_id",
    "is_valid_cl_ord_id",
    "new_client_order_id",
    "quantized",
    "transition_table_markdown",
]
