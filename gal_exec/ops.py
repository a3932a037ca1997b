"""Running the engine as an operator would: what Engine.start adds around the trading actors.

``Operations`` is started by the engine and owns the parts that let a person (or a probe) see
and trust it: the ExchangeStatus watcher (SystemStatus and the exchange's clock), the tracker of
orders whose outcome is unknown, the HTTP endpoint with ``/healthz``, ``/readyz`` and
``/metrics``, and the systemd notifier. Everything here asks actors only at the edge (an HTTP
request, a watchdog tick), never from inside an actor.
"""

from __future__ import annotations

import logging
import threading
import time

import pykka

from gal_exec.actors import protocol as p

__all__ = ["wait_for_first_prices"]

log = logging.getLogger("gal_exec.ops")
_ASK_TIMEOUT_S = 5.0


def wait_for_first_prices(market_data: pykka.ActorRef, timeout_s: float) -> list[str]:
    """Wait (at start, at the edge) until market data has priced every pair it follows, so the
    first signals are not refused for want of a price; returns the pairs still without one."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while True:
        pairs = market_data.ask(p.GetHealth(), timeout=_ASK_TIMEOUT_S).get("pairs", {})
        missing = sorted(name for name, info in pairs.items() if info.get("last") is None)
        if not missing or time.monotonic() >= deadline:
            break
        pause.wait(0.05)
    if missing:
        log.warning(
            "no price yet for %s after %.0f s: their signals are refused until one arrives",
            ", ".join(missing),
            timeout_s,
        )
    return missing
