"""PriceCache staleness, RollingVolatility and session labels, on injected (manual) time."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gal_exec.core.clock import ManualClock
from gal_exec.core.market import (
    PriceCache,
    Quote,
    RollingVolatility,
    Stale,
    session_at,
    session_label,
    window_label,
)

D = Decimal
START = 1_700_000_000.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


# ---- PriceCache -------------------------------------------------------------------------------


def test_a_fresh_price_is_a_quote(clock: ManualClock) -> None:
    cache = PriceCache(stale_after_s=10)
    cache.update(
        "BTC/USD", last=D("65000.0"), bid=D("64999.9"), ask=D("65000.1"), time=clock.time()
    )
    clock.advance(10)  # exactly at the limit: still fresh
    quote = cache.quote("BTC/USD", clock.time())
    assert isinstance(quote, Quote)
    assert quote.last == D("65000.0")
    assert quote.price_for("buy") == D("65000.1")
    assert quote.price_for("sell") == D("64999.9")
    assert quote.age(clock.time()) == 10


def test_a_price_goes_stale_and_says_how_old_it_is(clock: ManualClock) -> None:
    cache = PriceCache(stale_after_s=10)
    cache.update("BTC/USD", last=D("65000.0"), time=clock.time(), source="rest")
    clock.advance(12.25)
    answer = cache.quote("BTC/USD", clock.time())
    assert isinstance(answer, Stale)
    assert answer.age == pytest.approx(12.25)
    assert answer.last == D("65000.0")
    assert answer.reason == (
        "the last BTC/USD price (65000.0, from rest) is 12.2 s old; "
        "prices older than 10 s are stale"
    )


def test_a_pair_never_priced_is_stale_with_no_age(clock: ManualClock) -> None:
    answer = PriceCache(stale_after_s=10).quote("ETH/USD", clock.time())
    assert isinstance(answer, Stale)
    assert answer.age is None
    assert answer.reason == "no price for ETH/USD yet"


def test_touch_keeps_an_unchanged_price_fresh_but_not_forever_with_max_unchanged(
    clock: ManualClock,
) -> None:
    cache = PriceCache(stale_after_s=10, max_unchanged_s=60)
    cache.update("BTC/USD", last=D("65000.0"), time=clock.time())
    for _ in range(5):
        clock.advance(9)
        cache.touch(["BTC/USD", "NOT/PRICED"], clock.time())
    assert isinstance(cache.quote("BTC/USD", clock.time()), Quote)  # 45 s unchanged, vouched
    assert "NOT/PRICED" not in cache
    clock.advance(9)
    cache.touch(["BTC/USD"], clock.time())
    clock.advance(9)
    cache.touch(["BTC/USD"], clock.time())
    answer = cache.quote("BTC/USD", clock.time())
    assert isinstance(answer, Stale)
    assert "has not changed for 63.0 s" in answer.reason


def test_an_older_price_never_replaces_a_newer_one(clock: ManualClock) -> None:
    cache = PriceCache(stale_after_s=10)
    assert cache.update("BTC/USD", last=D("65001"), time=START + 5) is not None
    assert cache.update("BTC/USD", last=D("64000"), time=START + 4) is None
    held = cache.get("BTC/USD")
    assert held is not None and held.last == D("65001")


@pytest.mark.parametrize("bad", [D(0), D(-1), D("NaN"), D("Infinity")])
def test_a_non_positive_price_is_refused(bad: Decimal) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        PriceCache(stale_after_s=1).update("BTC/USD", last=bad, time=START)


def test_put_mirrors_a_quote_from_another_cache(clock: ManualClock) -> None:
    source = PriceCache(stale_after_s=10)
    mirror = PriceCache(stale_after_s=10)
    quote = source.update("BTC/USD", last=D("1.5"), time=clock.time(), volatility={"1m": 0.01})
    assert quote is not None
    assert mirror.put(quote)
    mirrored = mirror.quote("BTC/USD", clock.time())
    assert isinstance(mirrored, Quote) and mirrored.volatility == {"1m": 0.01}


# ---- RollingVolatility ------------------------------------------------------------------------


def _expected(prices: list[tuple[float, float]], span: float, now: float) -> float:
    total = 0.0
    for (t0, p0), (t1, p1) in itertools.pairwise(prices):
        if now - span < t1 <= now and t1 - t0 <= span:
            total += math.log(p1 / p0) ** 2
    return math.sqrt(total)


def test_volatility_is_root_sum_of_squared_log_returns_per_window(clock: ManualClock) -> None:
    series = RollingVolatility((60, 300), sample_interval_s=0, min_samples=2)
    points = [(START + 10 * i, 100.0 * (1.01 if i % 2 else 1.0)) for i in range(40)]
    for t, price in points:
        series.add(D(str(price)), t)
    now = points[-1][0]
    assert series.labels == ["1m", "5m"]
    assert series.value("1m", now) == pytest.approx(_expected(points, 60, now))
    assert series.value(300, now) == pytest.approx(_expected(points, 300, now))
    assert series.samples("1m") == 6
    assert series.values(now)["5m"] == pytest.approx(math.sqrt(30) * math.log(1.01))


def test_volatility_is_none_until_enough_returns_and_after_they_age_out() -> None:
    series = RollingVolatility((60,), sample_interval_s=0, min_samples=2)
    series.add(D(100), START)
    series.add(D(101), START + 1)
    assert series.value(60, START + 1) is None  # one return only
    series.add(D(100), START + 2)
    assert series.value(60, START + 2) == pytest.approx(math.sqrt(2) * math.log(1.01), rel=1e-3)
    assert series.value(60, START + 61.5) is None  # the return at +1 left the window
    assert series.value(60, START + 200) is None


def test_sampling_interval_measures_from_the_last_sampled_price() -> None:
    series = RollingVolatility((60,), sample_interval_s=1.0, min_samples=1)
    series.add(D(100), START)
    series.add(D(150), START + 0.3)  # within the interval: not a sample
    series.add(D(110), START + 1.0)
    assert series.samples(60) == 1
    assert series.value(60, START + 1) == pytest.approx(abs(math.log(110 / 100)))


def test_a_return_over_a_gap_longer_than_a_window_is_left_out_of_it() -> None:
    series = RollingVolatility((60, 3600), sample_interval_s=0, min_samples=1)
    series.add(D(100), START)
    series.add(D(120), START + 600)  # a 10-minute gap
    assert series.value("1m", START + 600) is None
    assert series.value("1h", START + 600) == pytest.approx(math.log(1.2))


def test_out_of_order_and_bad_prices_are_ignored() -> None:
    series = RollingVolatility((60,), sample_interval_s=0, min_samples=1)
    series.add(D(100), START + 5)
    series.add(D(200), START + 4)
    series.add(D(0), START + 6)
    assert series.value(60, START + 6) is None


def test_an_unknown_window_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="no volatility window '2m'"):
        RollingVolatility((60,)).value("2m", START)


def test_window_labels() -> None:
    assert [window_label(s) for s in (45, 60, 300, 3600, 7200, 86400, 90)] == [
        "45s",
        "1m",
        "5m",
        "1h",
        "2h",
        "1d",
        "90s",
    ]


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=40.0),
            st.floats(min_value=0.5, max_value=2.0),
        ),
        min_size=1,
        max_size=80,
    ),
    probe=st.floats(min_value=0.0, max_value=100.0),
)
def test_volatility_matches_a_brute_force_recount(
    steps: list[tuple[float, float]], probe: float
) -> None:
    series = RollingVolatility((30, 120), sample_interval_s=0, min_samples=1)
    points: list[tuple[float, float]] = []
    t = START
    for gap, price in steps:
        t += gap
        if points and t == points[-1][0]:
            continue
        series.add(price, t)
        points.append((t, price))
    now = t + probe
    for span in (30, 120):
        expected = _expected(points, span, now)
        value = series.value(span, now)
        if value is None:
            assert expected == 0.0
        else:
            assert value == pytest.approx(expected, rel=1e-9, abs=1e-12)


# ---- sessions ---------------------------------------------------------------------------------


def test_every_hour_has_a_session() -> None:
    labels = [session_label(hour) for hour in range(24)]
    assert labels[:7] == ["Asia"] * 7
    assert labels[7:13] == ["Europe"] * 6
    assert labels[13:22] == ["US"] * 9
    assert labels[22:] == ["Asia"] * 2


@pytest.mark.parametrize("hour", [-1, 24, 3.5, True])
def test_an_invalid_hour_is_refused(hour: object) -> None:
    with pytest.raises(ValueError, match="utc_hour must be an integer from 0 to 23"):
        session_label(hour)  # type: ignore[arg-type]


def test_session_at_uses_the_utc_hour_of_an_epoch_time() -> None:
    assert session_at(1_700_000_000.0) == "Asia"  # 2023-11-14 22:13 UTC
    assert session_at(1_700_000_000.0 - 10 * 3600) == "Europe"  # 12:13 UTC
    assert session_at(1_700_000_000.0 - 3 * 3600) == "US"  # 19:13 UTC
