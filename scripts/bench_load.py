"""Cases 3 and 4 of scripts/bench.py: placement throughput with every limit lifted, and how much
of Kraken's trading-counter budget the engine uses when the simulator enforces it.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from bench_engine import EngineRun, signal
from bench_support import SimProcess, log, pairs_of

from gal_exec.kraken.ratelimits import TIER_LIMITS, Tier

THROUGHPUT_ORDERS = 5000
THROUGHPUT_PAIRS = 10


def case_throughput(quick: bool) -> dict[str, Any]:
    """Case 3: a burst of 5,000 IOC orders (1,000 with --quick) over 10 pairs, told to the
    supervisor as fast as a loop can; rate = orders / (last acknowledgement reaches a callback
    - first submit).

    The simulator runs with ``--no-rate-limits`` and the engine's own Kraken rate models are
    lifted (the engine has no setting for it), so this measures the engine, not Kraken's budget.
    """
    rounds, count = (1, 1000) if quick else (2, THROUGHPUT_ORDERS)
    runs: list[dict[str, Any]] = []
    with SimProcess(tier="pro", rate_limits=False) as sim:
        pairs = pairs_of(sim)[:THROUGHPUT_PAIRS]
        for round_index in range(rounds):
            for coalesce in (True, False):
                run = EngineRun(
                    sim, tier="pro", coalesce=coalesce, lift_rest=True, lift_trading=True
                )
                try:
                    signals = []
                    for index in range(count):
                        pair = pairs[index % len(pairs)]
                        price, volume = pair.far_buy()
                        tag = f"tp-{round_index}-{int(coalesce)}-{index}"
                        signals.append(signal(tag, pair, price, volume))
                    started = time.time()
                    for message in signals:
                        run.engine.submit(message)
                    submitted = time.time()
                    complete = run.wait_acks(len(signals), timeout=300)
                    last = max(at for at, _ in run.acks.values())
                    statuses = Counter(report.status for _, report in run.acks.values())
                    calls = run.gateway_health().calls
                finally:
                    run.stop()
                placements = sum(
                    calls.get(name, 0)
                    for name in ("AddOrder", "AddOrderBatch", "add_order", "batch_add")
                )
                runs.append(
                    {
                        "coalesce": coalesce,
                        "orders": len(run.acks),
                        "complete": complete,
                        "seconds": last - started,
                        "rate": len(run.acks) / (last - started),
                        "submit_seconds": submitted - started,
                        "calls": calls,
                        "orders_per_call": len(run.acks) / placements if placements else 0.0,
                        "rejected": statuses.get("rejected", 0),
                    }
                )
                log(
                    f"  round {round_index + 1}/{rounds}, coalescing "
                    f"{'on' if coalesce else 'off'}: {runs[-1]['rate']:.0f} orders/s"
                )
    return {
        "runs": runs,
        "notes": [],
        "settings": {"rounds": rounds, "orders": count, "pairs": THROUGHPUT_PAIRS},
    }


def _points(opened: list[float]) -> tuple[float, int, int]:
    """Trading-counter points of accepted orders, from their opentm: the orders of one
    AddOrderBatch share the simulator's timestamp and cost n/2; a lone order costs 1."""
    groups = Counter(opened)
    points = sum(1.0 if size == 1 else size / 2 for size in groups.values())
    batches = sum(1 for size in groups.values() if size > 1)
    singles = sum(1 for size in groups.values() if size == 1)
    return points, singles, batches


def case_utilisation(quick: bool) -> dict[str, Any]:
    """Case 4: at each tier, the simulator enforcing Kraken's limits, a sustained burst of IOC
    orders on one pair (more than the budget allows over the window); accepted orders and the
    trading-counter points they cost, against the counter's theoretical maximum over the window
    from an empty counter (threshold + decay x window). Rate-limit errors are the ErrorClassifier's
    counts of ``EOrder:Rate limit exceeded`` and ``EAPI:Rate limit exceeded``."""
    window = 6.0 if quick else 45.0
    rows = []
    for tier in ("starter", "intermediate", "pro"):
        limits = TIER_LIMITS[Tier(tier)]
        budget = limits.trading_threshold + limits.trading_decay * window
        count = int(budget * 3) + 50  # batches cost n/2: this still outruns the budget
        with SimProcess(tier=tier, rate_limits=True) as sim:
            pair = next(p for p in pairs_of(sim) if p.altname == "XBTUSD")
            price, volume = pair.far_buy()
            run = EngineRun(sim, tier=tier)
            key = run.engine.endpoints.api_key
            try:
                signals = [signal(f"ru-{tier}-{i}", pair, price, volume) for i in range(count)]
                started = time.time()
                for message in signals:
                    run.engine.submit(message)
                time.sleep(max(0.0, started + window - time.time()))
                errors = run.engine.health()["errors"] or {}
                gateway = run.gateway_health()
            finally:
                run.stop()
            opened = [
                order["opentm"]
                for order in sim.orders()
                if order["api_key"] == key and started <= order["opentm"] <= started + window
            ]
        points, singles, batches = _points(opened)
        rate_errors = sum(
            n for code, n in (errors.get("by_code") or {}).items() if "Rate limit" in code
        )
        rows.append(
            {
                "tier": tier,
                "window_s": window,
                "accepted": len(opened),
                "orders_per_s": len(opened) / window,
                "points": points,
                "budget_points": budget,
                "utilisation": points / budget,
                "single_calls": singles,
                "batch_calls": batches,
                "rate_limit_errors": rate_errors,
                "errors_by_code": errors.get("by_code") or {},
                "gateway_calls": gateway.calls,
            }
        )
        log(
            f"  {tier}: {len(opened)} accepted, {points:.1f}/{budget:.1f} points "
            f"({points / budget:.1%}), {rate_errors} rate-limit errors"
        )
    return {"rows": rows, "notes": [], "settings": {"window_s": window}}
