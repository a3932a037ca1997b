"""Backoff, circuit breakers and the decay counter, on a manual clock."""

from __future__ import annotations

import math
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gal_exec.core.backoff import Backoff
from gal_exec.core.breaker import BreakerSet, BreakerState, CircuitBreaker
from gal_exec.core.clock import ManualClock
from gal_exec.core.limiter import DecayCounter

# -- backoff --------------------------------------------------------------------------------


@settings(derandomize=True, deadline=None)
@given(
    base=st.floats(0.001, 5),
    factor=st.floats(1, 100),
    attempt=st.integers(0, 10_000),
    seed=st.integers(0, 2**32),
)
def test_backoff_delay_within_full_jitter_bounds(
    base: float, factor: float, attempt: int, seed: int
) -> None:
    backoff = Backoff(base, base * factor, None, random.Random(seed))
    delay = backoff.next_delay(attempt)
    assert 0.0 <= delay <= min(base * factor, base * 2.0 ** min(attempt, 60))


def test_backoff_grows_then_caps_and_is_reproducible() -> None:
    backoff = Backoff(0.5, 8.0, 5, random.Random(3))
    assert [backoff.ceiling(a) for a in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    again = Backoff(0.5, 8.0, 5, random.Random(3))
    assert [backoff.next_delay(a) for a in range(5)] == [again.next_delay(a) for a in range(5)]
    assert not backoff.exhausted(4) and backoff.exhausted(5)
    assert not Backoff(1, 2).exhausted(10**6)


def test_backoff_spreads_delays() -> None:
    backoff = Backoff(1.0, 30.0, rng=random.Random(11))
    delays = [backoff.next_delay(4) for _ in range(2000)]
    assert min(delays) < 1.0 and max(delays) > 15.0  # full jitter, not a fixed step


@pytest.mark.parametrize(
    ("base", "cap", "attempts"), [(0, 1, None), (2, 1, None), (1, math.inf, None), (1, 2, -1)]
)
def test_backoff_rejects_bad_settings(base: float, cap: float, attempts: int | None) -> None:
    with pytest.raises(ValueError):
        Backoff(base, cap, attempts)


# -- circuit breaker --------------------------------------------------------------------------


def make_breaker(clock: ManualClock, half_open_calls: int = 1) -> CircuitBreaker:
    return CircuitBreaker(
        failure_threshold=3, window_s=10.0, open_s=30.0, half_open_max_calls=half_open_calls,
        clock=clock,
    )  # fmt: skip


def test_breaker_opens_on_threshold_within_window() -> None:
    clock = ManualClock()
    breaker = make_breaker(clock)
    assert breaker.record_failure() is None
    clock.advance(11)  # the first failure leaves the window
    assert breaker.record_failure() is None
    assert breaker.record_success() is None  # successes do not erase failures
    assert breaker.record_failure() is None
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    assert breaker.record_failure() is BreakerState.OPEN
    assert not breaker.allow()
    assert breaker.seconds_until_half_open() == 30.0


def test_breaker_half_open_probe_then_close() -> None:
    clock = ManualClock()
    breaker = make_breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.advance(29.9)
    assert breaker.poll() is None and not breaker.allow()
    clock.advance(0.1)
    assert breaker.poll() is BreakerState.HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # one trial call only
    assert breaker.record_success() is BreakerState.CLOSED
    assert breaker.allow()


def test_breaker_half_open_failure_reopens() -> None:
    clock = ManualClock()
    breaker = make_breaker(clock, half_open_calls=2)
    for _ in range(3):
        breaker.record_failure()
    clock.advance(30)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow() and breaker.allow() and not breaker.allow()
    assert breaker.record_success() is BreakerState.HALF_OPEN  # reported once
    assert breaker.record_failure() is BreakerState.OPEN
    clock.advance(15)
    assert breaker.state is BreakerState.OPEN and breaker.seconds_until_half_open() == 15.0


def test_breaker_ignores_late_reports_while_open() -> None:
    clock = ManualClock()
    breaker = make_breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    assert breaker.record_success() is None and breaker.record_failure() is None
    assert breaker.state is BreakerState.OPEN


def test_breaker_set_is_per_category() -> None:
    clock = ManualClock()
    breakers = BreakerSet(clock, failure_threshold=2, window_s=5, open_s=10)
    assert breakers.record_failure("trading") is None
    assert breakers.record_failure("trading") is BreakerState.OPEN
    assert not breakers.allow("trading") and breakers.allow("query")
    assert breakers.states() == {"trading": BreakerState.OPEN, "query": BreakerState.CLOSED}
    clock.advance(10)
    assert breakers.poll() == {"trading": BreakerState.HALF_OPEN}
    assert breakers.poll() == {}
    with pytest.raises(ValueError):
        BreakerSet(clock, failure_threshold=0)


# -- decay counter --------------------------------------------------------------------------


def test_counter_decays_and_fits() -> None:
    clock = ManualClock()
    counter = DecayCounter(Decimal(20), 0.5, clock)
    assert counter.add(15) == 15.0
    assert counter.fits(5) and not counter.fits(6)
    assert counter.wait_for(5) == 0.0
    assert counter.wait_for(8) == pytest.approx(6.0)
    clock.advance(6.0)
    assert counter.level() == pytest.approx(12.0) and counter.fits(8)
    clock.advance(100)
    assert counter.level() == 0.0


def test_counter_try_add_correct_and_limits() -> None:
    clock = ManualClock()
    counter = DecayCounter(10, 1, clock)
    assert counter.try_add(10) and not counter.try_add(1)
    counter.correct(2.5)
    assert counter.level() == 2.5
    with pytest.raises(ValueError, match="never fit"):
        counter.wait_for(11)
    frozen = DecayCounter(10, 0, clock)
    frozen.add(10)
    assert frozen.wait_for(1) == math.inf
    with pytest.raises(ValueError):
        counter.add(-1)


@settings(derandomize=True, deadline=None)
@given(
    costs=st.lists(st.floats(0, 5), min_size=1, max_size=20),
    decay=st.floats(0.1, 4),
    cost=st.floats(0, 20),
)
def test_waiting_wait_for_makes_a_cost_fit(costs: list[float], decay: float, cost: float) -> None:
    clock = ManualClock()
    counter = DecayCounter(20, decay, clock)
    for c in costs:
        counter.add(c)
    clock.advance(counter.wait_for(cost))
    assert counter.fits(cost)
