"""KrakenGateway against a scripted Kraken (responses) with real HttpWorkers and REST clients:
priority, coalescing, and mapping results back to each requester."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal

import msgspec
import pykka
import pytest
import responses

from gal_exec.actors.gateway import GatewayHealth, KrakenGateway
from gal_exec.actors.http_worker import HttpWorker
from gal_exec.actors.protocol import (
    AmendOrder,
    AmendResult,
    BreakerChanged,
    CancelAllAfter,
    CancelAllAfterResult,
    CancelOrder,
    CancelResult,
    Forward,
    GetHealth,
    ListOpenOrders,
    LookupOrder,
    LookupResult,
    OpenOrdersListed,
    OrderReleased,
    PlaceResult,
    QueryOrderStatus,
    StatusResult,
)
from gal_exec.kraken.auth import Credentials
from gal_exec.kraken.errors import ErrorCategory
from gal_exec.kraken.rest import KrakenRestClient
from tests.actors.gateway_support import (
    BASE_URL,
    SECRET,
    MockKraken,
    health,
    make_config,
    order_info,
    place,
    start_gateway,
)


@pytest.fixture
def kraken() -> Iterator[MockKraken]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield MockKraken(rsps)
        pykka.ActorRegistry.stop_all()  # before the mock goes: no call may reach the network


def _hold(gateway, category: str = "auth_or_lockout") -> None:
    gateway.tell(BreakerChanged(category=category, state="open", time=0.0))


def _release(gateway, category: str = "auth_or_lockout") -> None:
    gateway.tell(BreakerChanged(category=category, state="closed", time=0.0))


def test_cancels_go_before_placements_before_queries(kraken, clock, timers, recorder):
    gateway = start_gateway(make_config(), clock, timers)
    _hold(gateway)
    gateway.tell(QueryOrderStatus(request_id=1, cl_ord_id="q1", txid="OQ1", reply_to=recorder.ref))
    gateway.tell(place(recorder.ref, "p1"))
    gateway.tell(
        CancelOrder(
            request_id=3,
            cl_ord_id="c1",
            txid="OC1",
            pair="XBTUSD",
            order_age_s=400.0,
            reply_to=recorder.ref,
        )
    )
    snapshot = health(gateway)
    assert snapshot.queued == {"cancel": 1, "place": 1, "query": 1}
    assert snapshot.held == 3
    assert kraken.methods() == []

    _release(gateway)
    replies = recorder.take(3)

    assert kraken.methods() == ["CancelOrder", "AddOrder", "QueryOrders"]
    assert [type(reply) for reply in replies] == [CancelResult, PlaceResult, StatusResult]
    assert replies[0].count == 1 and replies[0].cl_ord_id == "c1"
    assert kraken.calls_to("CancelOrder")[0]["txid"] == "OC1"


def test_placements_for_one_pair_are_coalesced_into_add_order_batch(
    kraken, clock, timers, recorder
):
    gateway = start_gateway(make_config(coalesce=True), clock, timers)
    _hold(gateway, "outcome_unknown")
    for index in range(5):
        gateway.tell(place(recorder.ref, f"b{index}"))
    gateway.tell(place(recorder.ref, "e0", pair="ETHUSD"))
    _release(gateway, "outcome_unknown")

    results = {result.cl_ord_id: result for result in recorder.take(6, PlaceResult)}

    assert kraken.methods() == ["AddOrderBatch", "AddOrder"]
    batch = kraken.calls_to("AddOrderBatch")[0]
    assert batch["pair"] == "XBTUSD"
    assert [batch[f"orders[{i}][cl_ord_id]"] for i in range(5)] == [f"b{i}" for i in range(5)]
    # Entries come back in request order: each requester gets its own txid.
    assert [results[f"b{i}"].txid for i in range(5)] == [
        f"OTX{n:03d}-AAAAA-BBBBBB" for n in range(1, 6)
    ]
    assert results["e0"].txid == "OTX006-AAAAA-BBBBBB"
    assert all(result.error is None for result in results.values())
    snapshot = health(gateway)
    # A batch of 5 costs 5/2 on the pair's trading counter, a single add 1.
    assert snapshot.trading_headroom == {"ETHUSD": 59.0, "XBTUSD": 57.5}
    assert snapshot.open_orders == {"ETHUSD": 1, "XBTUSD": 5}


def test_without_coalescing_each_placement_is_its_own_add_order(kraken, clock, timers, recorder):
    gateway = start_gateway(make_config(coalesce=False), clock, timers)
    _hold(gateway, "outcome_unknown")
    for index in range(3):
        gateway.tell(place(recorder.ref, f"s{index}"))
    _release(gateway, "outcome_unknown")
    recorder.take(3, PlaceResult)
    assert kraken.methods() == ["AddOrder"] * 3


def test_51_status_queries_take_two_query_orders_calls(kraken, clock, timers, recorder):
    gateway = start_gateway(make_config(), clock, timers)
    _hold(gateway, "rate_limited")
    txids = [f"OQ{index:03d}-AAAAA-BBBBBB" for index in range(51)]
    for index, txid in enumerate(txids):
        gateway.tell(
            QueryOrderStatus(
                request_id=index, cl_ord_id=f"c{index}", txid=txid, reply_to=recorder.ref
            )
        )
    _release(gateway, "rate_limited")

    results = recorder.take(51, StatusResult)

    calls = kraken.calls_to("QueryOrders")
    assert [len(call["txid"].split(",")) for call in calls] == [50, 1]
    assert all(call["trades"] == "true" for call in calls)
    assert sorted(result.txid for result in results) == txids
    assert all(result.info is not None and result.info.status == "open" for result in results)
    assert health(gateway).calls == {"QueryOrders": 2}


def test_a_txid_missing_from_query_orders_is_answered_with_no_info(kraken, clock, timers, recorder):
    kraken.script("QueryOrders", {"error": [], "result": {"OKNOWN": order_info("OKNOWN")}})
    gateway = start_gateway(make_config(), clock, timers)
    _hold(gateway, "rate_limited")
    for index, txid in enumerate(["OKNOWN", "OGONE"]):
        gateway.tell(
            QueryOrderStatus(
                request_id=index, cl_ord_id=f"c{index}", txid=txid, reply_to=recorder.ref
            )
        )
    _release(gateway, "rate_limited")
    results = {result.txid: result for result in recorder.take(2, StatusResult)}
    assert results["OKNOWN"].info.descr.pair == "XBTUSD"
    assert results["OGONE"].info is None and results["OGONE"].error is None


def test_lookup_tries_open_orders_then_closed_orders(kraken, clock, timers, recorder):
    kraken.script(
        "ClosedOrders",
        {
            "error": [],
            "result": {"closed": {"OFOUND": order_info("OFOUND", "lk1", "closed")}, "count": 1},
        },
    )
    gateway = start_gateway(make_config(), clock, timers)
    gateway.tell(LookupOrder(request_id=7, cl_ord_id="lk1", reply_to=recorder.ref))

    result = recorder.next(LookupResult)

    assert kraken.methods() == ["OpenOrders", "ClosedOrders"]
    assert kraken.calls_to("OpenOrders")[0]["cl_ord_id"] == "lk1"
    assert kraken.calls_to("ClosedOrders")[0]["cl_ord_id"] == "lk1"
    assert (result.found, result.txid, result.info.status) == (True, "OFOUND", "closed")


def test_lookup_found_open_stops_at_open_orders_and_absent_is_not_found(
    kraken, clock, timers, recorder
):
    kraken.script(
        "OpenOrders", {"error": [], "result": {"open": {"OOPEN": order_info("OOPEN", "lk2")}}}
    )
    gateway = start_gateway(make_config(), clock, timers)
    gateway.tell(LookupOrder(request_id=1, cl_ord_id="lk2", reply_to=recorder.ref))
    found = recorder.next(LookupResult)
    gateway.tell(LookupOrder(request_id=2, cl_ord_id="lk3", reply_to=recorder.ref))
    absent = recorder.next(LookupResult)

    assert (found.found, found.txid) == (True, "OOPEN")
    assert (absent.found, absent.txid, absent.error) == (False, None, None)
    assert kraken.methods() == ["OpenOrders", "OpenOrders", "ClosedOrders"]


def test_amend_cancel_all_after_and_list_open_orders(kraken, clock, timers, recorder):
    gateway = start_gateway(make_config(), clock, timers)
    gateway.tell(
        AmendOrder(
            request_id=1,
            cl_ord_id="a1",
            txid=None,
            pair="XBTUSD",
            order_qty=Decimal("0.5"),
            limit_price=Decimal("31000.5"),
            order_age_s=60.0,
            reply_to=recorder.ref,
        )
    )
    amend = recorder.next(AmendResult)
    gateway.tell(CancelAllAfter(request_id=2, timeout_s=60, reply_to=recorder.ref))
    switch = recorder.next(CancelAllAfterResult)
    gateway.tell(ListOpenOrders(request_id=3, reply_to=recorder.ref))
    listing = recorder.next(OpenOrdersListed)

    assert amend.amend_id == "TEZA4R-DSDGT-IJBOJK"
    assert kraken.calls_to("AmendOrder")[0] | {"nonce": ""} == {
        "nonce": "",
        "cl_ord_id": "a1",
        "order_qty": "0.5",
        "limit_price": "31000.5",
    }
    assert switch.trigger_time == "2023-11-14T22:14:20Z"
    assert kraken.calls_to("CancelAllOrdersAfter")[0]["timeout"] == "60"
    assert listing.orders == {} and listing.error is None
    # An amend at 60 s costs 1 on the trading counter (no age penalty past 15 s).
    assert health(gateway).trading_headroom == {"XBTUSD": 59.0}


def test_order_released_frees_the_open_order_slot(kraken, clock, timers, recorder):
    gateway = start_gateway(make_config(), clock, timers)
    gateway.tell(place(recorder.ref, "r1"))
    recorder.next(PlaceResult)
    assert health(gateway).open_orders == {"XBTUSD": 1}
    gateway.tell(OrderReleased(pair="XBTUSD", cl_ord_id="r1"))
    gateway.tell(OrderReleased(pair="XBTUSD", cl_ord_id="r1"))  # a repeat changes nothing
    assert health(gateway).open_orders == {"XBTUSD": 0}


def test_health_reports_status_calls_in_the_last_minute(kraken, clock, timers, recorder):
    gateway = start_gateway(make_config(), clock, timers)
    gateway.tell(QueryOrderStatus(request_id=1, cl_ord_id="c", txid="O1", reply_to=recorder.ref))
    recorder.next(StatusResult)
    gateway.tell(LookupOrder(request_id=2, cl_ord_id="c", reply_to=recorder.ref))
    recorder.next(LookupResult)
    assert health(gateway).status_calls_last_minute == 3
    clock.advance(61.0)
    snapshot = health(gateway)
    assert snapshot.status_calls_last_minute == 0
    assert snapshot.calls == {"QueryOrders": 1, "OpenOrders": 1, "ClosedOrders": 1}


@pytest.mark.parametrize(("nonce_window", "concurrent"), [(0, 1), (5_000_000, 2)])
def test_private_calls_overlap_only_with_a_nonce_window(
    kraken, clock, timers, recorder, nonce_window, concurrent
):
    kraken.gates["OpenOrders"] = gate = threading.Event()
    gateway = start_gateway(make_config(nonce_window=nonce_window), clock, timers, workers=2)
    gateway.tell(ListOpenOrders(request_id=1, reply_to=recorder.ref))
    gateway.tell(ListOpenOrders(request_id=2, reply_to=recorder.ref))
    kraken.wait_for_calls(concurrent)
    snapshot = health(gateway)
    assert (snapshot.in_flight, snapshot.queued["query"]) == (concurrent, 2 - concurrent)
    gate.set()
    assert {result.request_id for result in recorder.take(2, OpenOrdersListed)} == {1, 2}


def test_workers_may_be_given_as_a_factory(kraken, clock, timers, recorder):
    def workers():
        client = KrakenRestClient(BASE_URL, Credentials("test-key", SECRET), clock=clock)
        return [HttpWorker.start(client, clock=clock)]

    gateway = KrakenGateway.start(make_config(), clock=clock, timers=timers, workers=workers)
    gateway.tell(ListOpenOrders(request_id=9, reply_to=recorder.ref))
    assert recorder.next(OpenOrdersListed).request_id == 9
    assert health(gateway).workers == 1


def test_get_health_is_answered_with_the_snapshot(kraken, clock, timers, recorder):
    gateway = start_gateway(make_config(), clock, timers)
    gateway.tell(place(recorder.ref, "h1"))
    recorder.next(PlaceResult)
    answer = gateway.ask(GetHealth(), timeout=5)
    assert isinstance(answer, GatewayHealth)
    assert answer.calls == {"AddOrder": 1}
    assert answer.queued == {"cancel": 0, "place": 0, "query": 0}
    assert answer.trading_headroom == {"XBTUSD": 59.0}
    assert answer.last_error is None


def test_a_request_the_scheduler_fails_on_is_answered_not_left_waiting(
    kraken, clock, timers, recorder
):
    gateway = start_gateway(make_config(), clock, timers)
    actor = gateway._actor_weakref()
    submit = actor._scheduler.submit
    failing = {"AddOrder": True}

    def submit_or_fail(job):
        if job.kind.name == "PLACE" and failing.pop("AddOrder", False):
            raise RuntimeError("scheduler bug")
        submit(job)

    actor._scheduler.submit = submit_or_fail
    first = msgspec.structs.replace(
        place(recorder.ref, "p1"), after=(Forward(to=recorder.ref, message="own p1"),)
    )
    gateway.tell(first)
    answer = recorder.next(PlaceResult)
    # Unknown, not rejected: the order is looked up by cl_ord_id before anything is re-sent.
    assert answer.cl_ord_id == "p1"
    assert answer.error.category is ErrorCategory.OUTCOME_UNKNOWN
    assert "scheduler bug" in answer.error.raw
    assert recorder.next(str) == "own p1"  # what rode with the placement is still passed on
    # The gateway goes on: the next placement is scheduled and sent.
    gateway.tell(place(recorder.ref, "p2"))
    assert recorder.next(PlaceResult).error is None
    assert [call["cl_ord_id"] for call in kraken.calls_to("AddOrder")] == ["p2"]
