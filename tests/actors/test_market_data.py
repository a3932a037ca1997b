"""MarketData against the simulator's public ticker channel and REST Ticker, on a manual clock.

The simulator, the timer service and the actor share one ManualClock, so prices age and REST
polls fall due only when a test advances it. The WS client keeps real time for its liveness
checks, and each reconnect waits until the test opens a gate: a dropped stream stays down for
exactly as long as a test wants.
"""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import msgspec
import pytest
import requests

from gal_exec.actors import protocol as p
from gal_exec.actors.market_data import (
    GetQuote,
    MarketData,
    MarketDataSettings,
    MarketHealth,
    QuoteReply,
    QuotesConfirmed,
    QuoteUpdate,
    SubscribeQuotes,
)
from gal_exec.config import SimConfig
from gal_exec.core.clock import ManualClock, SystemClock
from gal_exec.core.market import Quote, Stale
from gal_exec.kraken.errors import TransportError
from gal_exec.kraken.pairs import PairRegistry, PairRules
from gal_exec.kraken.rest import KrakenRestClient
from gal_exec.kraken.ws import KrakenWsClient, WsEvent
from gal_exec.sim.server import Simulator
from gal_exec.timers import TimerService

D = Decimal
DEFAULT_TIMEOUT_S = 5.0
Recorder = Any  # tests/actors/conftest.py's Recorder, from the recorder fixtures
SETTINGS = MarketDataSettings(
    stale_after_s=5.0, rest_poll_interval_s=2.0, volatility_sample_s=0.0, liveness_timeout_s=10.0
)


class StreamControl:
    """Builds the actor's WS client: real-time liveness, events copied to the test, and every
    reconnect held until ``reconnect.set()``."""

    def __init__(self) -> None:
        self.reconnect = threading.Event()
        self.closing = False
        self.events: queue.Queue[WsEvent] = queue.Queue()

    def __call__(self, url: str, *, on_event: Any, **options: Any) -> KrakenWsClient:
        def both(event: WsEvent) -> None:
            on_event(event)  # the actor hears of it before the test does
            self.events.put(event)

        options["clock"] = SystemClock()
        return KrakenWsClient(url, on_event=both, rng=self, backoff_base_s=0.01, **options)

    def uniform(self, low: float, high: float) -> float:
        """The client's jitter source: blocks the reconnect until the test allows it."""
        self.reconnect.wait(DEFAULT_TIMEOUT_S * 4)
        # After the test, wait (until the client is stopped) rather than spin on a dead server.
        return 60.0 if self.closing else 0.0

    def close(self) -> None:
        self.closing = True
        self.reconnect.set()

    def wait_for(self, kind: str) -> WsEvent:
        while True:
            try:
                event = self.events.get(timeout=DEFAULT_TIMEOUT_S)
            except queue.Empty:
                raise AssertionError(f"no {kind} event within {DEFAULT_TIMEOUT_S} s") from None
            if event.kind == kind:
                return event


@pytest.fixture
def sim(clock: ManualClock) -> Iterator[Simulator]:
    config = SimConfig(
        clock="manual", volatility_bps=0.0, spread_bps=0.0, enforce_rate_limits=False
    )
    with Simulator(config, clock=clock) as simulator:
        yield simulator


@pytest.fixture
def rules(sim: Simulator) -> list[PairRules]:
    client = KrakenRestClient(sim.rest_url, None, clock=SystemClock())
    registry = PairRegistry.from_asset_pairs(client.asset_pairs())
    client.close()
    return [registry.resolve("BTC/USD"), registry.resolve("ETH/USD")]


@pytest.fixture
def stream() -> Iterator[StreamControl]:
    control = StreamControl()
    yield control
    control.close()  # release a held reader thread before the actors stop


def start(
    sim: Simulator,
    rules: list[PairRules],
    clock: ManualClock,
    timers: TimerService,
    stream: StreamControl,
    subscriber: Recorder,
    *,
    rest: Any = None,
    ws_url: str | None = None,
) -> Any:
    return MarketData.start(
        ws_url=ws_url or sim.ws_url,
        pairs=rules,
        clock=clock,
        timers=timers,
        settings=SETTINGS,
        rest_client=rest,
        subscribers=[subscriber.ref],
        client_factory=stream,
    )


def next_quote(recorder: Recorder, **wanted: Any) -> Quote:
    """The next QuoteUpdate whose quote has every wanted field value."""
    while True:
        quote = recorder.next(QuoteUpdate).quote
        if all(getattr(quote, name) == value for name, value in wanted.items()):
            return quote


def ask_quote(market: Any, pair: str) -> Quote | Stale:
    reply = market.ask(GetQuote(pair=pair), timeout=DEFAULT_TIMEOUT_S)
    assert isinstance(reply, QuoteReply)
    return reply.result


def health(market: Any) -> MarketHealth:
    return market.ask(p.GetHealth(), timeout=DEFAULT_TIMEOUT_S)


def test_the_cache_follows_the_simulators_ticker(
    sim: Simulator,
    rules: list[PairRules],
    clock: ManualClock,
    timers: TimerService,
    stream: StreamControl,
    recorder: Recorder,
    make_recorder: Any,
) -> None:
    market = start(sim, rules, clock, timers, stream, recorder)
    first = next_quote(recorder, pair="BTC/USD", source="stream")
    assert first.last == D("65000.0") and first.time == clock.time()
    late = make_recorder()
    market.tell(SubscribeQuotes(ref=late.ref))

    answer = requests.post(
        sim.control_url + "/price", json={"pair": "XBTUSD", "price": "66000"}, timeout=5
    )
    assert answer.status_code == 200, answer.text
    moved = next_quote(recorder, pair="BTC/USD", last=D("66000.0"))
    assert moved.source == "stream"
    assert next_quote(late, pair="BTC/USD").last == D("66000.0")

    for name in ("XBTUSD", "BTC/USD", "xbt/usd", "XXBTZUSD"):
        found = ask_quote(market, name)
        assert isinstance(found, Quote) and found.last == D("66000.0"), name
    market.tell(GetQuote(pair="ETHUSD", reply_to=recorder.ref, request_id=7))
    reply = recorder.next(QuoteReply)
    assert reply.request_id == 7 and isinstance(reply.result, Quote)
    assert reply.result.pair == "ETH/USD"
    unknown = ask_quote(market, "DOGE/EUR")
    assert isinstance(unknown, Stale) and unknown.reason == "market data does not follow 'DOGE/EUR'"

    state = health(market)
    assert state.provider == "stream" and state.stream_connected is True
    assert state.pairs["BTC/USD"].last == "66000.0"
    assert state.pairs["BTC/USD"].stale is False
    assert state.session == "Asia"  # 1_700_000_000 is 22:13 UTC
    assert state.rest_polls == 0  # no REST client: no fallback


def test_volatility_follows_the_prices(
    sim: Simulator,
    rules: list[PairRules],
    clock: ManualClock,
    timers: TimerService,
    stream: StreamControl,
    recorder: Recorder,
) -> None:
    import math

    market = start(sim, rules, clock, timers, stream, recorder)
    next_quote(recorder, pair="BTC/USD", last=D("65000.0"))
    for price in ("66000.0", "65000.0"):
        clock.advance(1.0)
        sim.exchange.set_price("XBTUSD", D(price))
        quote = next_quote(recorder, pair="BTC/USD", last=D(price))
    expected = math.sqrt(2) * math.log(66000 / 65000)
    assert quote.volatility["1m"] == pytest.approx(expected)
    assert quote.volatility["1h"] == pytest.approx(expected)
    assert health(market).pairs["BTC/USD"].volatility["5m"] == pytest.approx(expected)


def test_heartbeats_keep_an_unchanged_price_fresh(
    sim: Simulator,
    rules: list[PairRules],
    clock: ManualClock,
    timers: TimerService,
    stream: StreamControl,
    recorder: Recorder,
) -> None:
    market = start(sim, rules, clock, timers, stream, recorder)
    next_quote(recorder, pair="BTC/USD", source="stream")
    sim.exchange.set_paused(True)  # no more price steps: only heartbeats now
    clock.advance(30.0)
    later = clock.time()
    while True:
        confirmed = recorder.next(QuotesConfirmed)
        if confirmed.time >= later:
            break
    assert confirmed.pairs == ("BTC/USD", "ETH/USD")
    found = ask_quote(market, "BTC/USD")
    assert isinstance(found, Quote) and found.checked_at >= later
    assert found.time < later  # the price itself did not change


def test_a_price_goes_stale_when_the_feed_stops(
    sim: Simulator,
    rules: list[PairRules],
    clock: ManualClock,
    timers: TimerService,
    stream: StreamControl,
    recorder: Recorder,
) -> None:
    market = start(sim, rules, clock, timers, stream, recorder)
    next_quote(recorder, pair="BTC/USD", source="stream")
    stream.wait_for("connected")
    assert sim.exchange.disconnect_ws() >= 1
    stream.wait_for("disconnected")
    clock.advance(4.0)
    assert isinstance(ask_quote(market, "BTC/USD"), Quote)
    clock.advance(2.0)
    stale = ask_quote(market, "BTC/USD")
    assert isinstance(stale, Stale)
    assert stale.reason == (
        "the last BTC/USD price (65000.0, from stream) is 6.0 s old; "
        "prices older than 5 s are stale"
    )
    state = health(market)
    assert state.provider == "none"
    assert state.stream_connected is False
    assert state.stream_disconnects == 1
    assert state.pairs["BTC/USD"].stale is True
    assert state.pairs["BTC/USD"].age_s == 6.0


def test_rest_fallback_while_the_stream_is_down_then_back_to_the_stream(
    sim: Simulator,
    rules: list[PairRules],
    clock: ManualClock,
    timers: TimerService,
    stream: StreamControl,
    recorder: Recorder,
) -> None:
    rest = KrakenRestClient(sim.rest_url, None, clock=clock)
    market = start(sim, rules, clock, timers, stream, recorder, rest=rest)
    next_quote(recorder, pair="BTC/USD", source="stream")
    next_quote(recorder, pair="ETH/USD", source="stream")  # every pair subscribed: REST stops
    assert health(market).polling is False
    assert timers.generation_of("market_data:rest_poll") is None

    requests.post(sim.control_url + "/ws/disconnect", json={}, timeout=5).raise_for_status()
    stream.wait_for("disconnected")
    # The first poll goes out at once; then one per interval on the (manual) clock.
    assert next_quote(recorder, pair="BTC/USD", source="rest").last == D("65000.0")
    sim.exchange.set_price("XBTUSD", D("67000"))
    clock.advance(SETTINGS.rest_poll_interval_s)
    polled = next_quote(recorder, pair="BTC/USD", source="rest", last=D("67000.0"))
    assert polled.time == clock.time()
    found = ask_quote(market, "BTC/USD")
    assert isinstance(found, Quote) and found.source == "rest" and found.last == D("67000.0")
    state = health(market)
    assert state.provider == "rest" and state.stream_connected is False
    assert state.rest_polls >= 2 and state.rest_failures == 0

    stream.reconnect.set()
    back = next_quote(recorder, pair="BTC/USD", source="stream")
    assert back.last == D("67000.0")
    next_quote(recorder, pair="ETH/USD", source="stream")
    state = health(market)
    assert state.provider == "stream" and state.polling is False
    assert state.stream_sessions == 2
    assert timers.generation_of("market_data:rest_poll") is None


def test_a_pair_the_stream_refuses_stays_on_rest(
    sim: Simulator,
    rules: list[PairRules],
    clock: ManualClock,
    timers: TimerService,
    stream: StreamControl,
    recorder: Recorder,
) -> None:
    # ETH under a symbol the ticker channel does not know; REST still knows it as ETHUSD.
    renamed = msgspec.structs.replace(rules[1], symbol="NOPE/USD", wsname="NOPE/USD")
    rest = KrakenRestClient(sim.rest_url, None, clock=clock)
    market = start(sim, [rules[0], renamed], clock, timers, stream, recorder, rest=rest)
    next_quote(recorder, pair="BTC/USD", source="stream")
    clock.advance(SETTINGS.rest_poll_interval_s)
    polled = next_quote(recorder, pair="NOPE/USD", source="rest", time=clock.time())
    assert polled.last == D("3200.00")
    state = health(market)
    assert state.provider == "stream" and state.polling is True
    assert "subscribe rejected" in state.last_stream_error
    assert state.pairs["BTC/USD"].source == "stream"


class BrokenRest:
    """A REST client whose Ticker always fails; each call is announced to the test."""

    def __init__(self) -> None:
        self.calls: queue.Queue[list[str]] = queue.Queue()

    def ticker(self, pairs: list[str]) -> Any:
        self.calls.put(pairs)
        raise TransportError("connection refused (test)")

    def wait_call(self) -> list[str]:
        try:
            return self.calls.get(timeout=DEFAULT_TIMEOUT_S)
        except queue.Empty:
            raise AssertionError("no Ticker call") from None


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"ws://127.0.0.1:{port}/v2"


def test_with_no_stream_rest_gives_the_first_prices(
    sim: Simulator,
    rules: list[PairRules],
    clock: ManualClock,
    timers: TimerService,
    stream: StreamControl,
    recorder: Recorder,
) -> None:
    rest = KrakenRestClient(sim.rest_url, None, clock=clock)
    market = start(
        sim, rules, clock, timers, stream, recorder, rest=rest, ws_url=_closed_port_url()
    )
    quote = next_quote(recorder, pair="ETH/USD")
    assert quote.source == "rest"
    stream.wait_for("error")
    state = health(market)
    assert state.provider == "rest"
    assert state.stream_errors >= 1 and "connect failed" in state.last_stream_error


def test_failed_polls_are_counted_and_leave_no_provider(
    sim: Simulator,
    rules: list[PairRules],
    clock: ManualClock,
    timers: TimerService,
    stream: StreamControl,
    recorder: Recorder,
) -> None:
    broken = BrokenRest()
    market = start(
        sim, rules, clock, timers, stream, recorder, rest=broken, ws_url=_closed_port_url()
    )
    worker = market.proxy().worker.get(timeout=DEFAULT_TIMEOUT_S)
    for count in (1, 2):
        if count > 1:
            clock.advance(SETTINGS.rest_poll_interval_s)
        assert broken.wait_call() == ["XBTUSD", "ETHUSD"]
        # A round trip through the worker: its reply to the actor is queued before our ask.
        worker.ask(p.GetHealth(), timeout=DEFAULT_TIMEOUT_S)
        state = health(market)
        assert state.provider == "none"
        assert state.rest_failures == state.rest_consecutive_failures == count
    assert state.last_rest_error == "TransportError: connection refused (test)"
    stale = ask_quote(market, "BTC/USD")
    assert isinstance(stale, Stale) and stale.reason == "no price for BTC/USD yet"


def test_pair_limits_come_from_the_pair_rules(rules: list[PairRules]) -> None:
    btc = rules[0].limits()
    assert btc.pair == "BTC/USD"
    assert btc.tick_size == rules[0].tick_size and btc.lot_step == rules[0].lot_step
    assert (btc.ordermin, btc.costmin) == (rules[0].ordermin, rules[0].costmin)
