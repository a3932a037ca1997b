"""Crash recovery end to end: a real engine process SIGKILLed at seeded random instants while it
works through market orders, limits with timeouts, partial fills and brackets against a simulator
in another process; restarted on the same journal and signals file until every order is terminal;
then judged against the simulator's own GET /sim/orders and /sim/trades (see checks.py).

The simulator does not enforce rate limits here: restarts every second or so would keep the key's
REST counter saturated (a rhythm no real deployment has), and the engine, blind for seconds, would
let both children of a bracket fill for reasons that are not recovery's.
"""

from __future__ import annotations

import random
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from checks import collect, problems
from harness import EngineProcess, PriceDriver, SimProcess, wait_until
from scenario import (
    FINAL_HIGH,
    FINAL_LOW,
    SLOW_ETH_PER_STEP,
    build_scenario,
    price_paths,
    write_signals,
)

KILL_DELAY_S = (0.3, 2.0)  # after the engine process starts (its start-up takes ~1 s)
FINAL_HIGH_HOLD_S = 5.0
FINAL_RUN_TIMEOUT_S = 30.0


def _kill_and_restart(tmp_path: Path, seed: int, kills: int) -> list[str]:
    """Run one scenario with ``kills`` SIGKILLs, then to the end; return the problems found."""
    signals = build_scenario(seed)
    signals_path = tmp_path / "signals.jsonl"
    write_signals(signals_path, signals)
    rng = random.Random(seed)
    with SimProcess(tmp_path, seed=seed, rate_limits=False) as sim:
        sim.control("POST", "liquidity", {"pair": "ETHUSD", "per_step": SLOW_ETH_PER_STEP})
        engine = EngineProcess(tmp_path, sim, signals_path)
        try:
            with PriceDriver(sim, price_paths(rng), interval_s=0.1, period_s=4.0) as driver:
                for number in range(kills):
                    delay = rng.uniform(*KILL_DELAY_S)
                    assert engine.run_and_kill(delay), (
                        f"run {number} finished before its kill: the far bracket should keep "
                        "the engine busy until the final phase"
                    )
                driver.hold(FINAL_HIGH)
                switch = threading.Timer(FINAL_HIGH_HOLD_S, driver.hold, args=(FINAL_LOW,))
                switch.start()
                try:
                    failure = engine.run_to_end(FINAL_RUN_TIMEOUT_S)
                finally:
                    switch.cancel()
                assert driver.error is None, driver.error
            evidence = collect(signals, sim, engine.journal, engine.reports)
        finally:
            engine.kill()
    assert engine.log.kills == kills
    return ([failure] if failure else []) + problems(evidence)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_sigkill_at_five_random_points_loses_and_duplicates_nothing(
    tmp_path: Path, seed: int
) -> None:
    found = _kill_and_restart(tmp_path, seed, kills=5)
    assert not found, "\n".join(found)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("seed", [101, 102, 103, 104])
def test_sigkill_at_many_random_points(tmp_path: Path, seed: int) -> None:
    found = _kill_and_restart(tmp_path, seed, kills=25)
    assert not found, "\n".join(found)


DEAD_MAN_TIMEOUT_S = 10


@pytest.mark.timeout(90)
def test_dead_mans_switch_cancels_everything_while_the_engine_is_dead(tmp_path: Path) -> None:
    """With the switch on, a killed engine's resting orders are cancelled by the exchange once
    the switch's timeout lapses; the restarted engine learns it and finishes."""
    signals = [
        {
            "type": "TradeSignalApproved",
            "signal_id": "dms-resting-limit",
            "pair": "SOLUSD",
            "side": "buy",
            "order_type": "limit",
            "quantity": "2",
            "limit_price": "140.00",
            "timeout_s": 3600,
        },
        {
            "type": "TradeSignalApproved",
            "signal_id": "dms-bracket",
            "pair": "XBTUSD",
            "side": "buy",
            "order_type": "market",
            "quantity": "0.01",
            "sl_price": "60000.0",
            "tp_price": "70000.0",
        },
    ]
    signals_path = tmp_path / "signals.jsonl"
    write_signals(signals_path, signals)
    with SimProcess(tmp_path, seed=5) as sim:
        engine = EngineProcess(
            tmp_path,
            sim,
            signals_path,
            settings={
                "engine": {
                    "dead_man_switch": "on",
                    "dead_man_timeout_s": DEAD_MAN_TIMEOUT_S,
                    "dead_man_refresh_s": 2.0,
                }
            },
        )
        try:
            engine.start()

            def resting() -> list[dict]:
                return [o for o in sim.orders() if o["status"] == "open"]

            # the limit and both children of the filled bracket entry
            assert wait_until(lambda: len(resting()) == 3, 15), sim.orders()
            engine.kill()
            killed_at = time.time()
            assert wait_until(lambda: not resting(), DEAD_MAN_TIMEOUT_S + 5), resting()
            cancelled = [o for o in sim.orders() if o["status"] == "canceled"]
            assert len(cancelled) == 3
            for order in cancelled:
                assert order["reason"] == "Dead man's switch", order
                assert order["closetm"] >= killed_at - 0.5, order
            failure = engine.run_to_end(FINAL_RUN_TIMEOUT_S)
            assert failure is None, failure
            evidence = collect(signals, sim, engine.journal, engine.reports)
        finally:
            engine.kill()
    # The children were cancelled by the switch, so the position stays open by design.
    found = problems(evidence, closed_positions=False)
    assert not found, "\n".join(found)
    statuses = {(o.signal_id, o.role): o.status for o in evidence.orders}
    assert statuses == {
        ("dms-resting-limit", "entry"): "canceled",
        ("dms-bracket", "entry"): "filled",
        ("dms-bracket", "stop_loss"): "canceled",
        ("dms-bracket", "take_profit"): "canceled",
    }
    entry = next(o for o in evidence.orders if o.role == "entry" and o.signal_id == "dms-bracket")
    assert entry.filled_quantity == Decimal("0.01")
