"""RequestScheduler without threads: lanes, Kraken's models with a safety margin, per-resource
blocking, coalescing, the open-order limit and breaker holds."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gal_exec.core.clock import ManualClock
from gal_exec.kraken.jobs import Dispatch, Idle, Job, JobKind, LocalRejection
from gal_exec.kraken.scheduling import RequestScheduler


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def _scheduler(clock, **options) -> RequestScheduler:
    return RequestScheduler("starter", clock, **options)


def _order(pair: str = "XBTUSD", **fields) -> SimpleNamespace:
    return SimpleNamespace(**({"pair": pair, "validate": False, "deadline": None} | fields))


def place(cl_ord_id: str, pair: str = "XBTUSD", **fields) -> Job:
    return Job(
        JobKind.PLACE, cl_ord_id, pair=pair, cl_ord_id=cl_ord_id, order=_order(pair, **fields)
    )


def cancel(name: str, age: float, pair: str = "XBTUSD") -> Job:
    return Job(JobKind.CANCEL, name, pair=pair, cl_ord_id=name, txid=f"T{name}", order_age_s=age)


def status(txid: str) -> Job:
    return Job(JobKind.STATUS, txid, txid=txid)


def drain(scheduler: RequestScheduler, *, filled: bool = False) -> list[Dispatch | LocalRejection]:
    """Everything that goes now, in order; ``filled`` releases placements as they go."""
    taken = []
    while not isinstance(step := scheduler.take(), Idle):
        taken.append(step)
        if filled and isinstance(step, Dispatch):
            for job in step.jobs:
                scheduler.release(job.pair, job.cl_ord_id)
    return taken


def test_lanes_go_cancel_then_place_then_query_each_first_come_first_served(clock):
    scheduler = _scheduler(clock, coalesce_batches=False)
    for job in (status("Q1"), place("P1"), cancel("C1", 400), place("P2"), cancel("C2", 400)):
        scheduler.submit(job)
    order = [step.jobs[0].request for step in drain(scheduler)]
    assert order == ["C1", "C2", "P1", "P2", "Q1"]


def test_the_safety_margin_keeps_one_point_spare_and_says_when_to_look_again(clock):
    scheduler = _scheduler(clock, coalesce_batches=False)
    for index in range(62):
        scheduler.submit(place(f"P{index}"))
    assert len(drain(scheduler, filled=True)) == 59
    idle = scheduler.take()
    assert isinstance(idle, Idle) and idle.wake_in == pytest.approx(1.0)
    clock.advance(1.0)
    assert len(drain(scheduler, filled=True)) == 1


def test_without_a_margin_the_whole_threshold_is_used(clock):
    scheduler = _scheduler(clock, coalesce_batches=False, safety_margin=0)
    for index in range(61):
        scheduler.submit(place(f"P{index}"))
    assert len(drain(scheduler, filled=True)) == 60


def test_a_waiting_pair_does_not_block_another_pair(clock):
    scheduler = _scheduler(clock, coalesce_batches=False)
    scheduler.observe_trading_level("XBTUSD", 59.0)
    scheduler.submit(place("X1"))
    scheduler.submit(place("E1", pair="ETHUSD"))
    assert [step.jobs[0].request for step in drain(scheduler)] == ["E1"]


def test_a_young_cancel_costs_more_and_keeps_its_priority_over_placements_on_its_pair(clock):
    scheduler = _scheduler(clock, coalesce_batches=False)
    scheduler.observe_trading_level("XBTUSD", 52.0)
    scheduler.submit(cancel("C1", age=1.0))  # +8 under 5 s: 52 + 8 + 1 spare > 60
    scheduler.submit(place("P1"))  # +1 would fit, but must not overtake the cancel
    scheduler.submit(cancel("OLD", age=400.0))  # costs nothing: goes
    taken = drain(scheduler)
    assert [step.jobs[0].request for step in taken] == ["OLD"]
    idle = scheduler.take()
    # By then the cancel is older and cheaper: it costs +6 once 4 s have passed (age 5 s).
    assert idle.wake_in == pytest.approx(1.0)
    clock.advance(4.0)
    taken = drain(scheduler)
    assert [step.jobs[0].request for step in taken] == ["C1", "P1"]
    assert taken[0].trading_cost == 6


def test_placements_coalesce_into_batches_of_at_most_15_per_pair(clock):
    scheduler = _scheduler(clock)
    for index in range(20):
        scheduler.submit(place(f"P{index}"))
    scheduler.submit(place("E0", pair="ETHUSD"))
    taken = drain(scheduler)
    assert [(step.endpoint, len(step.jobs), step.pair) for step in taken] == [
        ("AddOrderBatch", 15, "XBTUSD"),
        ("AddOrderBatch", 5, "XBTUSD"),
        ("AddOrder", 1, "ETHUSD"),
    ]
    assert [step.trading_cost for step in taken] == [7.5, 2.5, 1]
    assert scheduler.rest.level() == pytest.approx(2.0)  # AddOrderBatch is charged 1 each


def test_a_batch_is_sized_to_the_headroom_and_orders_with_a_deadline_go_alone(clock):
    scheduler = _scheduler(clock)
    scheduler.observe_trading_level("XBTUSD", 56.0)  # 4 - 1 spare = 3 points: 6 orders
    scheduler.submit(place("D", deadline="2023-11-14T22:14:20Z"))
    for index in range(10):
        scheduler.submit(place(f"P{index}"))
    taken = drain(scheduler)
    assert [(step.endpoint, len(step.jobs)) for step in taken] == [
        ("AddOrder", 1),
        ("AddOrderBatch", 4),
    ]


def test_a_placement_over_the_open_order_limit_waits_for_a_release(clock):
    scheduler = _scheduler(clock, coalesce_batches=False)
    for index in range(60):
        scheduler.adopt("XBTUSD", f"old{index}")
    scheduler.submit(place("P1"))
    scheduler.submit(place("E1", pair="ETHUSD"))
    scheduler.submit(cancel("old0", age=400.0))
    steps = drain(scheduler)
    # The cancel and the other pair's placement go; P1 waits without a wake-up of its own.
    assert [step.jobs[0].cl_ord_id for step in steps] == ["old0", "E1"]
    idle = scheduler.take()
    assert isinstance(idle, Idle) and idle.wake_in is None
    assert scheduler.release("XBTUSD", "old0")
    (step,) = drain(scheduler)
    assert step.endpoint == "AddOrder" and step.jobs[0].cl_ord_id == "P1"
    assert scheduler.open_orders.count("XBTUSD") == 60


def test_validate_only_placements_take_no_open_order_slot(clock):
    scheduler = _scheduler(clock)
    scheduler.submit(place("V1", validate=True))
    (step,) = drain(scheduler)
    assert step.endpoint == "AddOrder"
    assert scheduler.open_orders.count("XBTUSD") == 0


def test_released_orders_free_their_slot_once(clock):
    scheduler = _scheduler(clock, coalesce_batches=False)
    scheduler.submit(place("P1"))
    drain(scheduler)
    assert scheduler.open_counts() == {"XBTUSD": 1}
    assert scheduler.release("XBTUSD", "P1") is True
    assert scheduler.release("XBTUSD", "P1") is False
    assert scheduler.open_counts() == {"XBTUSD": 0}


def test_status_queries_coalesce_up_to_50_distinct_txids(clock):
    scheduler = _scheduler(clock)
    for index in range(51):
        scheduler.submit(status(f"O{index}"))
    scheduler.submit(status("O0"))  # asked twice: shares the first call
    first, second = drain(scheduler)
    assert (first.endpoint, len(first.jobs), second.endpoint, len(second.jobs)) == (
        "QueryOrders",
        51,
        "QueryOrders",
        1,
    )
    assert second.jobs[0].txid == "O50"


def test_queries_wait_for_the_rest_counter_and_do_not_block_trading(clock):
    scheduler = _scheduler(clock, coalesce_batches=False)
    scheduler.rest.correct(14.0)
    scheduler.submit(status("O1"))
    scheduler.submit(place("P1"))  # AddOrder is not on the REST counter
    assert [step.endpoint for step in drain(scheduler)] == ["AddOrder"]
    assert scheduler.take().wake_in == pytest.approx(1 / 0.33)


def test_a_retried_job_waits_for_its_delay_and_keeps_its_turn(clock):
    scheduler = _scheduler(clock)
    first, second = status("O1"), status("O2")
    scheduler.submit(first)
    assert len(drain(scheduler)) == 1
    scheduler.submit(second)
    scheduler.requeue(first, delay_s=0.5)
    (now,) = drain(scheduler)
    assert [job.txid for job in now.jobs] == ["O2"]
    assert scheduler.take().wake_in == pytest.approx(0.5)
    clock.advance(0.5)
    (later,) = drain(scheduler)
    assert [job.txid for job in later.jobs] == ["O1"]


def test_breakers_hold_their_kinds_and_half_open_allows_one_trial(clock):
    scheduler = _scheduler(clock, coalesce_batches=False)
    scheduler.set_breaker("outcome_unknown", "open")
    scheduler.submit(place("P1"))
    scheduler.submit(place("P2"))
    scheduler.submit(status("O1"))
    assert [step.endpoint for step in drain(scheduler)] == ["QueryOrders"]
    assert scheduler.held() == 2
    scheduler.set_breaker("outcome_unknown", "half_open")
    (trial,) = drain(scheduler)
    assert trial.trial_for == ("outcome_unknown",)
    scheduler.restore_trials(("outcome_unknown",))  # that trial said nothing: another may go
    (second_trial,) = drain(scheduler)
    assert second_trial.jobs[0].request == "P2"
    scheduler.set_breaker("outcome_unknown", "closed")
    assert scheduler.held() == 0


def test_rate_limited_holds_all_but_cancels(clock):
    scheduler = _scheduler(clock, coalesce_batches=False)
    scheduler.set_breaker("rate_limited", "open")
    scheduler.submit(status("O1"))
    scheduler.submit(place("P1"))
    scheduler.submit(cancel("C1", 400))
    assert [step.endpoint for step in drain(scheduler)] == ["CancelOrder"]


def test_model_corrections_only_ever_raise_the_level(clock):
    scheduler = _scheduler(clock)
    scheduler.observe_trading_level("XBTUSD", 30.0)
    scheduler.observe_trading_level("XBTUSD", 10.0)
    assert scheduler.trading.level("XBTUSD") == 30.0
    scheduler.rate_limited("EOrder:Rate limit exceeded", "XBTUSD")
    assert scheduler.trading_headroom() == {"XBTUSD": 0.0}
    scheduler.rate_limited("EAPI:Rate limit exceeded", None)
    assert scheduler.rest.level() == 15.0


# --- two paths: the WebSocket and REST -----------------------------------------------------------


def _over_ws(*names: str):
    return lambda job: job.request in names


def test_a_websocket_job_goes_while_rest_is_busy_and_a_rest_job_waits(clock):
    scheduler = _scheduler(clock, coalesce_batches=False)
    for job in (place("REST-1"), status("Q1"), place("WS-1")):
        scheduler.submit(job)
    step = scheduler.take(ws=_over_ws("WS-1"), rest_open=False)
    assert isinstance(step, Dispatch) and step.path == "ws" and step.jobs[0].request == "WS-1"
    assert isinstance(scheduler.take(ws=_over_ws("WS-1"), rest_open=False), Idle)
    rest = [step.jobs[0].request for step in drain(scheduler)]
    assert rest == ["REST-1", "Q1"]


def test_a_websocket_call_is_paced_by_the_trading_counter_but_costs_no_rest_point(clock):
    scheduler = _scheduler(clock, coalesce_batches=False)
    scheduler.submit(Job(JobKind.CANCEL_ALL_AFTER, "switch"))
    step = scheduler.take(ws=lambda job: True)
    assert isinstance(step, Dispatch) and step.path == "ws"
    assert scheduler.rest.level() == 0
    for index in range(62):
        scheduler.submit(place(f"P{index}"))
    sent = 0
    while isinstance(step := scheduler.take(ws=lambda job: True, rest_open=False), Dispatch):
        assert step.path == "ws"
        sent += 1
    assert sent == 59  # the starter threshold less the safety margin, as by REST


def test_a_coalesced_batch_takes_only_jobs_of_its_heads_path(clock):
    scheduler = _scheduler(clock)
    for name in ("WS-1", "REST-1", "WS-2", "WS-3"):
        scheduler.submit(place(name))
    step = scheduler.take(ws=_over_ws("WS-1", "WS-2", "WS-3"))
    assert isinstance(step, Dispatch) and step.path == "ws"
    assert [job.request for job in step.jobs] == ["WS-1", "WS-2", "WS-3"]
    assert step.trading_cost == 1.5
    rest = scheduler.take(ws=_over_ws("WS-1", "WS-2", "WS-3"))
    assert isinstance(rest, Dispatch) and rest.path == "rest"
    assert [job.request for job in rest.jobs] == ["REST-1"]
