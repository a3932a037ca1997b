"""The embedded Kraken simulator: Kraken's REST and WebSocket v2 APIs over a simulated market.

``Simulator`` runs it (in-process, ephemeral loopback ports); ``run_standalone`` is
``gal-exec sim``. Orders rest against a seeded price path with limited liquidity per step; rate
limits, validation and error strings follow Kraken; faults are injected from a seeded plan.
"""

from gal_exec.sim.auth import DEMO_API_KEY, DEMO_API_SECRET
from gal_exec.sim.errors import SimError
from gal_exec.sim.exchange import Exchange
from gal_exec.sim.faults import Fault, FaultPlan, FaultPlanError
from gal_exec.sim.server import Simulator, run_standalone

__all__ = [
    "DEMO_API_KEY",
    "DEMO_API_SECRET",
    "Exchange",
    "Fault",
    "FaultPlan",
    "FaultPlanError",
    "SimError",
    "Simulator",
    "run_standalone",
]
