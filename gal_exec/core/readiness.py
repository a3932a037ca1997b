"""Readiness, pure: may this engine take signals now? The facts in, a yes or no with every reason.

An engine is ready when the executions stream is authenticated and subscribed (fills are seen as
they happen), the exchange says ``online`` (recently), start-up recovery is done, the dead man's
switch is armed where it is configured, and the engine is not halted. Liveness (the process and
its actors answer) is a separate, weaker question: a live engine that is not ready should be
left running, not restarted.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["Readiness", "ReadinessFacts", "readiness"]

StreamState = Literal["up", "down", "off"]


class ReadinessFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What readiness is decided on.

    ``stream`` is "off" when the engine runs without the executions stream. ``exchange_status``
    is the last SystemStatus answer (None before the first), ``status_age_s`` its age and
    ``status_max_age_s`` how old it may be. ``dead_man_time_left_s`` is None when the switch has
    never been armed; it only matters when ``dead_man_required``.
    """

    stream: StreamState
    stream_reason: str = ""
    exchange_status: str | None = None
    status_age_s: float | None = None
    status_max_age_s: float = 90.0
    status_error: str = ""
    recovery_done: bool = False
    dead_man_required: bool = False
    dead_man_time_left_s: float | None = None
    halted: str | None = None


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    """``ready`` when ``reasons`` is empty; each reason names the failing condition."""

    ready: bool
    reasons: tuple[str, ...] = ()


def readiness(facts: ReadinessFacts) -> Readiness:
    """Every condition that keeps the engine from being ready, in a fixed order."""
    reasons: list[str] = []
    if facts.stream == "off":
        reasons.append("executions stream: not started")
    elif facts.stream == "down":
        why = f" ({facts.stream_reason})" if facts.stream_reason else ""
        reasons.append(f"executions stream: not subscribed{why}")
    if facts.exchange_status is None:
        why = f" ({facts.status_error})" if facts.status_error else ""
        reasons.append(f"exchange status: not known yet{why}")
    elif facts.exchange_status != "online":
        reasons.append(f"exchange status: {facts.exchange_status}")
    elif facts.status_age_s is not None and facts.status_age_s > facts.status_max_age_s:
        reasons.append(
            f"exchange status: last answer {facts.status_age_s:.0f} s old "
            f"(limit {facts.status_max_age_s:.0f} s)"
        )
    if not facts.recovery_done:
        reasons.append("start-up recovery: in progress")
    if facts.dead_man_required:
        if facts.dead_man_time_left_s is None:
            reasons.append("dead man's switch: not armed yet")
        elif facts.dead_man_time_left_s <= 0:
            reasons.append("dead man's switch: lapsed (refreshes failed; open orders cancelled)")
    if facts.halted is not None:
        reasons.append(f"halted: {facts.halted}")
    return Readiness(ready=not reasons, reasons=tuple(reasons))
