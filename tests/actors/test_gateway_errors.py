"""Failures at the gateway: retries only for idempotent calls, never for order entry; batch
rejections mapped per order; breakers holding traffic; auth errors halting."""

from __future__ import annotations

from collections.abc import Iterator

import pykka
import pytest
import requests
import responses

from gal_exec.actors.error_classifier import ErrorClassifier
from gal_exec.actors.gateway import KrakenGateway
from gal_exec.actors.http_worker import HttpWorker
from gal_exec.actors.protocol import (
    AmendOrder,
    AmendResult,
    BreakerChanged,
    CancelOrder,
    CancelResult,
    ErrorObserved,
    HaltRequested,
    PlaceResult,
    QueryOrderStatus,
    StatusResult,
    SubscribeAlerts,
    SuccessObserved,
)
from tests.actors.gateway_support import MockKraken, health, make_config, place, start_gateway


@pytest.fixture
def kraken() -> Iterator[MockKraken]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield MockKraken(rsps)
        pykka.ActorRegistry.stop_all()


def _status(recorder, txid: str = "OQ1") -> QueryOrderStatus:
    return QueryOrderStatus(request_id=1, cl_ord_id="c1", txid=txid, reply_to=recorder.ref)


def _failed(classifier, gateway) -> ErrorObserved:
    """Wait until the gateway has handled a failure (and scheduled any retry)."""
    observed = classifier.next(ErrorObserved)
    health(gateway)
    return observed


def _hold_placements(gateway) -> None:
    gateway.tell(BreakerChanged(category="outcome_unknown", state="open", time=0.0))


def _release_placements(gateway) -> None:
    gateway.tell(BreakerChanged(category="outcome_unknown", state="closed", time=0.0))


# --- retries ---------------------------------------------------------------------------------


def test_a_query_is_retried_with_backoff_after_a_5xx(
    kraken, clock, timers, recorder, make_recorder
):
    classifier = make_recorder()
    config = make_config()
    kraken.script("QueryOrders", 502)
    gateway = start_gateway(config, clock, timers, classifier=classifier.ref)
    gateway.tell(_status(recorder))

    observed = _failed(classifier, gateway)
    assert (observed.endpoint, observed.error.category, observed.error.code) == (
        "QueryOrders",
        "retryable",
        "transport:http_5xx",
    )
    snapshot = health(gateway)
    # Not yet: the retry waits for its (jittered) backoff on the timer, not in a sleep.
    assert snapshot.calls == {"QueryOrders": 1} and snapshot.queued["query"] == 1
    assert snapshot.retries == 1

    clock.advance(config.retry.base_delay_s)  # the first retry's delay is at most the base
    result = recorder.next(StatusResult)
    assert result.error is None and result.info.status == "open"
    assert len(kraken.calls_to("QueryOrders")) == 2


def test_a_nonce_error_is_retried_once_and_the_clean_answer_is_told_to_the_classifier(
    kraken, clock, timers, recorder, make_recorder
):
    classifier = make_recorder()
    config = make_config()
    kraken.script("QueryOrders", {"error": ["EAPI:Invalid nonce"]})
    gateway = start_gateway(config, clock, timers, classifier=classifier.ref)
    gateway.tell(_status(recorder))
    assert _failed(classifier, gateway).error.code == "EAPI:Invalid nonce"
    clock.advance(config.retry.base_delay_s)
    assert recorder.next(StatusResult).error is None
    success = classifier.next(SuccessObserved)
    assert (success.endpoint, success.categories) == ("QueryOrders", ())
    # Only the first clean answer after a nonce error is told.
    gateway.tell(_status(recorder))
    recorder.next(StatusResult)
    health(gateway)
    assert not [m for m in classifier.pending() if isinstance(m, SuccessObserved)]


def test_a_query_gives_up_after_max_attempts(kraken, clock, timers, recorder, make_recorder):
    classifier = make_recorder()
    config = make_config(max_attempts=2)
    kraken.script("QueryOrders", 500, 500, 500)
    gateway = start_gateway(config, clock, timers, classifier=classifier.ref)
    gateway.tell(_status(recorder))
    _failed(classifier, gateway)
    clock.advance(config.retry.max_delay_s)
    result = recorder.next(StatusResult)
    assert result.error.category == "retryable" and result.info is None
    assert len(kraken.calls_to("QueryOrders")) == 2
    assert health(gateway).queued["query"] == 0


def test_a_cancel_is_retried_after_a_timeout(kraken, clock, timers, recorder, make_recorder):
    classifier = make_recorder()
    config = make_config()
    kraken.script("CancelOrder", requests.exceptions.ReadTimeout("slow"))
    gateway = start_gateway(config, clock, timers, classifier=classifier.ref)
    gateway.tell(
        CancelOrder(
            request_id=5,
            cl_ord_id="c5",
            txid=None,
            pair="XBTUSD",
            order_age_s=400.0,
            reply_to=recorder.ref,
        )
    )
    assert _failed(classifier, gateway).error.code == "transport:timeout"
    assert len(kraken.calls_to("CancelOrder")) == 1
    clock.advance(config.retry.base_delay_s)
    result = recorder.next(CancelResult)
    assert (result.count, result.error) == (1, None)
    assert [call["cl_ord_id"] for call in kraken.calls_to("CancelOrder")] == ["c5", "c5"]


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (500, "transport:http_5xx"),
        (requests.exceptions.ReadTimeout("no reply"), "transport:timeout"),
        ({"error": ["EService:Unavailable"]}, "EService:Unavailable"),
    ],
)
def test_add_order_is_never_retried_when_its_outcome_is_unknown(
    kraken, clock, timers, recorder, reply, code
):
    kraken.script("AddOrder", reply)
    gateway = start_gateway(make_config(), clock, timers)
    gateway.tell(place(recorder.ref, "u1"))

    result = recorder.next(PlaceResult)

    assert result.txid is None
    assert (result.error.category, result.error.code) == ("outcome_unknown", code)
    clock.advance(60.0)
    snapshot = health(gateway)
    assert snapshot.calls == {"AddOrder": 1} and snapshot.retries == 0
    assert snapshot.open_orders == {"XBTUSD": 1}  # it may be on the book: still counted


def test_an_amend_with_an_unknown_outcome_is_answered_as_such(kraken, clock, timers, recorder):
    kraken.script("AmendOrder", 503)
    gateway = start_gateway(make_config(), clock, timers)
    gateway.tell(
        AmendOrder(request_id=1, cl_ord_id="a1", txid="OA1", pair="XBTUSD", reply_to=recorder.ref)
    )
    result = recorder.next(AmendResult)
    assert result.amend_id is None and result.error.category == "outcome_unknown"
    clock.advance(60.0)
    assert health(gateway).calls == {"AmendOrder": 1}


def test_a_definite_rejection_of_a_placement_is_answered_and_frees_its_slot(
    kraken, clock, timers, recorder
):
    kraken.script("AddOrder", {"error": ["EOrder:Insufficient funds"]})
    gateway = start_gateway(make_config(), clock, timers)
    gateway.tell(place(recorder.ref, "f1"))
    result = recorder.next(PlaceResult)
    assert (result.error.category, result.error.code) == ("permanent", "EOrder:Insufficient funds")
    assert health(gateway).open_orders == {"XBTUSD": 0}


# --- batches ---------------------------------------------------------------------------------


def _batch_of_three(gateway, recorder) -> dict[str, PlaceResult]:
    _hold_placements(gateway)
    for index in range(3):
        gateway.tell(place(recorder.ref, f"p{index}"))
    _release_placements(gateway)
    return {result.cl_ord_id: result for result in recorder.take(3, PlaceResult)}


def test_a_partial_batch_rejection_is_mapped_to_each_order(
    kraken, clock, timers, recorder, make_recorder
):
    classifier = make_recorder()
    kraken.script(
        "AddOrderBatch",
        {
            "error": [],
            "result": {
                "orders": [
                    {"txid": "OAAAAA-11111-AAAAAA", "descr": {"order": "buy"}},
                    {"error": "EOrder:Insufficient funds"},
                    {"txid": "OCCCCC-33333-CCCCCC", "descr": {"order": "buy"}},
                ]
            },
        },
    )
    gateway = start_gateway(make_config(), clock, timers, classifier=classifier.ref)

    results = _batch_of_three(gateway, recorder)

    assert results["p0"].txid == "OAAAAA-11111-AAAAAA" and results["p0"].error is None
    assert results["p1"].txid is None
    assert (results["p1"].error.category, results["p1"].error.code) == (
        "permanent",
        "EOrder:Insufficient funds",
    )
    assert results["p2"].txid == "OCCCCC-33333-CCCCCC"
    assert classifier.next(ErrorObserved).error.code == "EOrder:Insufficient funds"
    assert health(gateway).open_orders == {"XBTUSD": 2}
    assert kraken.methods() == ["AddOrderBatch"]


def test_a_batch_rejected_whole_by_validation_is_resent_one_by_one(kraken, clock, timers, recorder):
    kraken.script("AddOrderBatch", {"error": ["EGeneral:Invalid arguments:volume"]})
    kraken.script("AddOrder", {"error": ["EGeneral:Invalid arguments:volume"]})
    gateway = start_gateway(make_config(), clock, timers)

    results = _batch_of_three(gateway, recorder)

    assert kraken.methods() == ["AddOrderBatch", "AddOrder", "AddOrder", "AddOrder"]
    assert [call["cl_ord_id"] for call in kraken.calls_to("AddOrder")] == ["p0", "p1", "p2"]
    assert results["p0"].error.code == "EGeneral:Invalid arguments"
    assert results["p1"].txid and results["p2"].txid
    assert health(gateway).open_orders == {"XBTUSD": 2}


def test_a_batch_with_an_unknown_outcome_is_unknown_for_every_order(
    kraken, clock, timers, recorder
):
    kraken.script("AddOrderBatch", 502)
    gateway = start_gateway(make_config(), clock, timers)

    results = _batch_of_three(gateway, recorder)

    assert {result.error.category for result in results.values()} == {"outcome_unknown"}
    assert all(result.txid is None for result in results.values())
    clock.advance(60.0)
    snapshot = health(gateway)
    assert snapshot.calls == {"AddOrderBatch": 1}
    assert snapshot.open_orders == {"XBTUSD": 3}


# --- breakers and halts ----------------------------------------------------------------------


@pytest.fixture
def wired(kraken, clock, timers, make_recorder):
    """A gateway and a real ErrorClassifier (threshold 3, open 15 s) with a recording supervisor."""
    config = make_config(coalesce=False, failure_threshold=3, open_s=15.0)
    supervisor = make_recorder()
    classifier = ErrorClassifier.start(
        config, clock=clock, timers=timers, subscribers=[supervisor.ref]
    )
    gateway = start_gateway(config, clock, timers, classifier=classifier)
    classifier.tell(SubscribeAlerts(ref=gateway))
    return gateway, classifier, supervisor


def test_an_error_storm_opens_the_breaker_and_holds_placements_until_half_open(
    wired, kraken, clock, recorder
):
    gateway, classifier, supervisor = wired
    kraken.script("AddOrder", *[{"error": ["EService:Unavailable"]}] * 3)
    for index in range(3):
        gateway.tell(place(recorder.ref, f"s{index}"))
    assert {r.error.category for r in recorder.take(3, PlaceResult)} == {"outcome_unknown"}
    opened = supervisor.next(BreakerChanged)
    assert (opened.category, opened.state) == ("outcome_unknown", "open")
    classifier.proxy().stats().get(timeout=5)  # the classifier has told the gateway too

    gateway.tell(place(recorder.ref, "held"))
    gateway.tell(_status(recorder))  # queries are not held by this breaker
    assert recorder.next(StatusResult).error is None
    snapshot = health(gateway)
    assert snapshot.held == 1 and snapshot.calls["AddOrder"] == 3
    assert snapshot.breakers == {"outcome_unknown": "open"}

    clock.advance(15.0)
    assert supervisor.next(BreakerChanged).state == "half_open"
    trial = recorder.next(PlaceResult)
    assert trial.cl_ord_id == "held" and trial.txid is not None
    closed = supervisor.next(BreakerChanged)
    assert (closed.category, closed.state) == ("outcome_unknown", "closed")


def test_an_auth_error_requests_one_halt_naming_the_error(wired, kraken, recorder):
    gateway, classifier, supervisor = wired
    kraken.script("QueryOrders", *[{"error": ["EAPI:Invalid key"]}] * 2)
    gateway.tell(_status(recorder, "OK1"))
    first = recorder.next(StatusResult)
    gateway.tell(_status(recorder, "OK2"))
    recorder.next(StatusResult)

    halt = supervisor.next(HaltRequested)
    stats = classifier.proxy().stats().get(timeout=5)

    assert (first.error.category, first.error.code) == ("auth_or_lockout", "EAPI:Invalid key")
    assert halt.reason == "EAPI:Invalid key: check the API key and secret"
    assert halt.error_code == "EAPI:Invalid key"
    assert len(kraken.calls_to("QueryOrders")) == 2  # never retried
    assert stats.halt_requested and stats.by_code == {"EAPI:Invalid key": 2}
    assert not [m for m in supervisor.pending() if isinstance(m, HaltRequested)]


def test_add_order_without_a_txid_is_unknown_unless_it_was_validate_only(
    kraken, clock, timers, recorder
):
    empty = {"error": [], "result": {"descr": {"order": "buy 0.01 XBTUSD @ limit 30000"}}}
    kraken.script("AddOrder", empty, empty)
    gateway = start_gateway(make_config(), clock, timers)
    gateway.tell(place(recorder.ref, "n1"))
    unclear = recorder.next(PlaceResult)
    gateway.tell(place(recorder.ref, "v1", validate=True))
    validated = recorder.next(PlaceResult)
    assert (unclear.txid, unclear.error.category) == (None, "outcome_unknown")
    assert (validated.txid, validated.error) == (None, None)
    assert kraken.calls_to("AddOrder")[1]["validate"] == "true"


def test_requests_are_answered_when_no_http_worker_is_left(kraken, clock, timers, recorder):
    dead = HttpWorker.start(object(), clock=clock)
    dead.stop()
    gateway = KrakenGateway.start(make_config(), clock=clock, timers=timers, workers=[dead])
    gateway.tell(place(recorder.ref, "d1"))
    result = recorder.next(PlaceResult)
    assert (result.error.category, result.error.code) == ("permanent", "gateway")
    assert health(gateway).open_orders == {"XBTUSD": 0}  # nothing was sent
    assert kraken.methods() == []
