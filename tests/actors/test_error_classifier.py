"""ErrorClassifier in isolation: statistics, one breaker per category driven by the manual clock
and the TimerService, BreakerChanged to subscribers, and a single HaltRequested for auth errors."""

from __future__ import annotations

import pytest

from gal_exec.actors.error_classifier import ClassifierStats, ErrorClassifier, halt_reason
from gal_exec.actors.protocol import (
    BreakerChanged,
    ErrorObserved,
    GetHealth,
    HaltRequested,
    SubscribeAlerts,
    SuccessObserved,
)
from gal_exec.kraken.errors import classify, classify_transport
from tests.actors.gateway_support import make_config


@pytest.fixture
def config():
    return make_config(failure_threshold=3, open_s=10.0)


def _error(raw: str, *, placing: bool = True) -> ErrorObserved:
    return ErrorObserved(endpoint="AddOrder", error=classify(raw, placing=placing), time=0.0)


def _stats(classifier):
    return classifier.proxy().stats().get(timeout=5)


def test_it_counts_errors_by_category_and_code(config, clock, timers):
    classifier = ErrorClassifier.start(config, clock=clock, timers=timers)
    classifier.tell(_error("EOrder:Insufficient funds"))
    classifier.tell(_error("EService:Unavailable"))
    classifier.tell(
        ErrorObserved(
            endpoint="QueryOrders", error=classify_transport("timeout", placing=False), time=0.0
        )
    )
    stats = _stats(classifier)
    assert stats.by_category == {"permanent": 1, "outcome_unknown": 1, "retryable": 1}
    assert stats.by_code == {
        "EOrder:Insufficient funds": 1,
        "EService:Unavailable": 1,
        "transport:timeout": 1,
    }
    assert stats.breakers == {
        "permanent": "closed",
        "outcome_unknown": "closed",
        "retryable": "closed",
    }
    assert not stats.halt_requested


def test_a_storm_opens_the_breaker_which_half_opens_by_timer_and_closes_on_success(
    config, clock, timers, make_recorder
):
    gateway, supervisor = make_recorder(), make_recorder()
    classifier = ErrorClassifier.start(
        config, clock=clock, timers=timers, subscribers=[gateway.ref]
    )
    classifier.tell(SubscribeAlerts(ref=supervisor.ref))
    for _ in range(3):
        classifier.tell(_error("EService:Unavailable"))

    for recorder in (gateway, supervisor):
        changed = recorder.next(BreakerChanged)
        assert (changed.category, changed.state) == ("outcome_unknown", "open")

    clock.advance(9.9)
    assert _stats(classifier).breakers == {"outcome_unknown": "open"}
    clock.advance(0.1)
    assert gateway.next(BreakerChanged).state == "half_open"

    classifier.tell(SuccessObserved(endpoint="AddOrder", categories=("outcome_unknown",), time=0.0))
    assert gateway.next(BreakerChanged).state == "closed"
    assert _stats(classifier).breakers == {"outcome_unknown": "closed"}


def test_a_failed_trial_reopens_the_breaker(config, clock, timers, recorder):
    classifier = ErrorClassifier.start(
        config, clock=clock, timers=timers, subscribers=[recorder.ref]
    )
    for _ in range(3):
        classifier.tell(_error("EService:Busy"))
    assert recorder.next(BreakerChanged).state == "open"
    clock.advance(10.0)
    assert recorder.next(BreakerChanged).state == "half_open"
    classifier.tell(_error("EService:Busy"))
    assert recorder.next(BreakerChanged).state == "open"
    clock.advance(10.0)  # and the new open period ends by timer too
    assert recorder.next(BreakerChanged).state == "half_open"


def test_errors_spread_wider_than_the_window_do_not_open_it(config, clock, timers, recorder):
    classifier = ErrorClassifier.start(
        config, clock=clock, timers=timers, subscribers=[recorder.ref]
    )
    for _ in range(4):
        classifier.tell(_error("EService:Unavailable"))
        _stats(classifier)
        clock.advance(config.circuit_breaker.window_s / 2 + 0.1)
    assert _stats(classifier).breakers == {"outcome_unknown": "closed"}
    assert recorder.pending() == []


def test_an_auth_error_requests_a_halt_once(config, clock, timers, recorder):
    classifier = ErrorClassifier.start(
        config, clock=clock, timers=timers, subscribers=[recorder.ref]
    )
    classifier.tell(_error("EAPI:Invalid key", placing=False))
    classifier.tell(_error("EGeneral:Temporary lockout", placing=False))

    halt = recorder.next(HaltRequested)
    stats = _stats(classifier)

    assert halt.reason == "EAPI:Invalid key: check the API key and secret"
    assert halt.error_code == "EAPI:Invalid key"
    assert stats.halt_requested and stats.last_halt_reason == halt.reason
    assert not [m for m in recorder.pending() if isinstance(m, HaltRequested)]


def test_invalid_nonce_halts_only_when_it_persists_past_a_clean_answer(clock, timers, recorder):
    # A breaker that a few errors cannot open: the halt must come from the nonce rule itself.
    config = make_config(failure_threshold=10, open_s=10.0)
    classifier = ErrorClassifier.start(
        config, clock=clock, timers=timers, subscribers=[recorder.ref]
    )
    # One nonce error, then a clean answer (the gateway's retry went through): a race, no halt.
    classifier.tell(_error("EAPI:Invalid nonce", placing=False))
    classifier.tell(SuccessObserved(endpoint="QueryOrders", categories=(), time=0.0))
    classifier.tell(_error("EAPI:Invalid nonce", placing=True))
    assert not _stats(classifier).halt_requested
    # The retry is refused too: the nonces are being overtaken.
    classifier.tell(_error("EAPI:Invalid nonce", placing=False))
    halt = recorder.next(HaltRequested)
    assert halt.error_code == "EAPI:Invalid nonce"
    assert halt.reason.startswith("EAPI:Invalid nonce: ")
    assert "another client" in halt.reason and "nonce window" in halt.reason
    assert not [m for m in recorder.pending() if isinstance(m, HaltRequested)]


def test_halt_reasons_name_the_error_and_what_to_check():
    assert halt_reason("EGeneral:Permission denied").startswith("EGeneral:Permission denied: ")
    assert "15 minutes" in halt_reason("EGeneral:Temporary lockout")
    assert halt_reason("EAuth:Something new") == (
        "EAuth:Something new: the exchange refused the API key"
    )


def test_get_health_is_answered_with_the_stats(config, clock, timers):
    classifier = ErrorClassifier.start(config, clock=clock, timers=timers)
    classifier.tell(_error("EOrder:Insufficient funds"))
    answer = classifier.ask(GetHealth(), timeout=5)
    assert isinstance(answer, ClassifierStats)
    assert answer.by_code == {"EOrder:Insufficient funds": 1}
    assert answer.halt_requested is False
