"""The gateway paces itself by Kraken's models: a burst never exceeds the trading counter, waits
are TimerService wake-ups on the manual clock, and a rate-limit refusal corrects the model."""

from __future__ import annotations

from collections.abc import Iterator

import pykka
import pytest
import responses

from gal_exec.actors.protocol import (
    OrderReleased,
    PlaceResult,
    QueryOrderStatus,
    RateCounterReading,
    StatusResult,
)
from tests.actors.gateway_support import (
    MockKraken,
    TradingModel,
    health,
    make_config,
    place,
    start_gateway,
)


@pytest.fixture
def kraken(clock) -> Iterator[MockKraken]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield MockKraken(rsps, trading=TradingModel(clock, threshold=60.0, decay=1.0))
        pykka.ActorRegistry.stop_all()


def test_a_burst_on_one_pair_at_starter_tier_never_exceeds_the_trading_counter(
    kraken, clock, timers, recorder
):
    gateway = start_gateway(make_config(coalesce=False), clock, timers, tier="starter")
    for index in range(70):
        gateway.tell(place(recorder.ref, f"o{index}"))

    # Threshold 60 with one point kept spare: 59 go at once (98% of the allowance).
    first = recorder.take(59, PlaceResult)
    for result in first:  # they filled: the open-order limit (60) is not what this is about
        gateway.tell(OrderReleased(pair="XBTUSD", cl_ord_id=result.cl_ord_id))
    snapshot = health(gateway)
    assert snapshot.calls == {"AddOrder": 59}
    assert snapshot.queued["place"] == 11
    assert snapshot.trading_headroom == {"XBTUSD": 1.0}
    assert timers.generation_of("kraken-gateway:wake") is not None  # waiting by timer

    clock.advance(5.0)  # the counter decays 1 point per second at starter tier
    second = recorder.take(5, PlaceResult)
    assert health(gateway).calls == {"AddOrder": 64}

    clock.advance(6.0)
    third = recorder.take(6, PlaceResult)

    results = first + second + third
    assert all(result.txid and result.error is None for result in results)
    assert [result.cl_ord_id for result in results] == [f"o{index}" for index in range(70)]
    assert kraken.trading.max_level <= 60.0
    assert health(gateway).queued["place"] == 0


def test_a_coalesced_burst_uses_batches_within_the_counter(kraken, clock, timers, recorder):
    gateway = start_gateway(make_config(coalesce=True), clock, timers, tier="starter")
    for index in range(200):
        gateway.tell(place(recorder.ref, f"o{index}"))
    # The open-order maximum (60 at starter) caps placements on the pair: the rest wait, in order,
    # until orders end; none is refused and none is sent to fail.
    placed = recorder.take(60, PlaceResult)
    assert all(result.txid for result in placed)
    assert recorder.pending() == []
    assert kraken.trading.max_level <= 60.0
    # Batches cost n/2: 60 orders fit in far fewer calls and points than 60 single adds.
    assert kraken.methods().count("AddOrder") + kraken.methods().count("AddOrderBatch") < 60
    snapshot = health(gateway)
    assert snapshot.open_orders == {"XBTUSD": 60}
    assert snapshot.queued["place"] == 140
    # Ten orders end: ten more go (after the trading counter has room again).
    for result in placed[:10]:
        gateway.tell(OrderReleased(pair="XBTUSD", cl_ord_id=result.cl_ord_id))
    clock.advance(30.0)
    more = recorder.take(10, PlaceResult)
    assert [r.cl_ord_id for r in more] == [f"o{index}" for index in range(60, 70)]
    assert all(result.txid for result in more)
    assert health(gateway).open_orders == {"XBTUSD": 60}


def test_rate_limit_refusal_of_a_placement_is_answered_and_corrects_the_model(
    kraken, clock, timers, recorder
):
    kraken.script("AddOrder", {"error": ["EOrder:Rate limit exceeded"]})
    gateway = start_gateway(make_config(coalesce=False), clock, timers)
    gateway.tell(place(recorder.ref, "r1"))
    refused = recorder.next(PlaceResult)
    assert refused.txid is None
    assert (refused.error.category, refused.error.code) == (
        "rate_limited",
        "EOrder:Rate limit exceeded",
    )
    snapshot = health(gateway)
    assert snapshot.trading_headroom == {"XBTUSD": 0.0}  # raised to the threshold
    assert snapshot.open_orders == {"XBTUSD": 0}  # refused: not on the book
    assert snapshot.retries == 0  # a placement is never re-sent by the gateway

    gateway.tell(place(recorder.ref, "r2"))
    snapshot = health(gateway)
    assert snapshot.calls == {"AddOrder": 1} and snapshot.queued["place"] == 1

    clock.advance(2.0)  # 2 points decayed: 1 for the order, 1 spare
    accepted = recorder.next(PlaceResult)
    assert accepted.cl_ord_id == "r2" and accepted.txid is not None


def test_a_rate_counter_reading_can_only_raise_the_model(kraken, clock, timers, recorder):
    gateway = start_gateway(make_config(coalesce=False), clock, timers)
    gateway.tell(RateCounterReading(pair="XBTUSD", level=59.5))
    gateway.tell(place(recorder.ref, "w1"))
    snapshot = health(gateway)
    assert snapshot.calls == {} and snapshot.queued["place"] == 1
    gateway.tell(RateCounterReading(pair="XBTUSD", level=0.0))  # stale: ignored
    assert health(gateway).calls == {}
    clock.advance(1.5)
    assert recorder.next(PlaceResult).txid is not None


def test_queries_wait_for_the_rest_counter(kraken, clock, timers, recorder):
    gateway = start_gateway(make_config(), clock, timers, tier="starter")

    def query(index: int) -> None:
        gateway.tell(
            QueryOrderStatus(
                request_id=index, cl_ord_id="c", txid=f"O{index}", reply_to=recorder.ref
            )
        )

    # Starter: 15 max, one spare, each QueryOrders costs 1: 14 calls go at once.
    for index in range(14):
        query(index)
        assert recorder.next(StatusResult).txid == f"O{index}"
    query(14)
    snapshot = health(gateway)
    assert snapshot.calls == {"QueryOrders": 14} and snapshot.queued["query"] == 1
    assert snapshot.rest_level == pytest.approx(14.0)

    clock.advance(3.1)  # one point decays in 1 / 0.33 s
    assert recorder.next(StatusResult).txid == "O14"
    assert health(gateway).calls == {"QueryOrders": 15}
