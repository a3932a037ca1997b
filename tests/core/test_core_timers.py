"""ManualClock, the pure DeadlineHeap, and the TimerService thread (no sleeps)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pykka import ActorDeadError

from gal_exec.core.clock import Clock, ManualClock, SystemClock
from gal_exec.core.timers import DeadlineHeap, TimerFired
from gal_exec.timers import TimerService

WAIT = 5.0  # generous bound for a thread hand-off; never reached when things work

# -- ManualClock ------------------------------------------------------------------------------


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(start=100.0)
    assert isinstance(clock, Clock) and isinstance(SystemClock(), Clock)
    assert (clock.time(), clock.monotonic()) == (100.0, 0.0)
    calls: list[float] = []
    listener = lambda: calls.append(clock.time())  # noqa: E731
    clock.add_listener(listener)
    clock.advance(2.5)
    assert (clock.time(), clock.monotonic()) == (102.5, 2.5)
    clock.set(90.0)  # the wall clock may jump back; monotonic may not
    assert (clock.time(), clock.monotonic()) == (90.0, 2.5)
    clock.set(95.0)
    assert clock.monotonic() == 7.5
    clock.remove_listener(listener)
    clock.advance(1)
    assert calls == [102.5, 90.0, 95.0]
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set(float("nan"))


# -- DeadlineHeap -----------------------------------------------------------------------------


def test_heap_pops_due_in_deadline_order() -> None:
    heap = DeadlineHeap()
    b = heap.push("b", 2.0)
    a = heap.push("a", 1.0)
    c = heap.push("c", 2.0)
    assert heap.next_deadline() == 1.0 and len(heap) == 3
    assert heap.pop_due(0.5) == []
    assert heap.pop_due(2.0) == [("a", a), ("b", b), ("c", c)]
    assert heap.next_deadline() is None and len(heap) == 0


def test_heap_supersede_and_cancel_make_generations_stale() -> None:
    heap = DeadlineHeap()
    first = heap.push("k", 1.0)
    second = heap.push("k", 5.0)
    assert second > first and heap.generation_of("k") == second
    assert heap.next_deadline() == 5.0  # the superseded entry is skipped lazily
    assert heap.pop_due(3.0) == []
    heap.cancel("k")
    heap.cancel("unknown")
    assert "k" not in heap and heap.pop_due(10.0) == []
    third = heap.push("k", 1.0)
    assert third > second


def test_heap_compacts_when_a_key_is_rescheduled_over_and_over() -> None:
    heap = DeadlineHeap()
    for i in range(10_000):
        heap.push("heartbeat", 1000.0 + i)
    assert len(heap._heap) < 200
    assert heap.pop_due(20_000.0) == [("heartbeat", heap._last_generation)]


@settings(derandomize=True, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcde"), st.floats(0, 100), st.booleans())))
def test_heap_matches_a_dict_model(operations: list[tuple[str, float, bool]]) -> None:
    heap = DeadlineHeap()
    model: dict[str, tuple[float, int]] = {}
    for key, deadline, cancel in operations:
        if cancel:
            heap.cancel(key)
            model.pop(key, None)
        else:
            model[key] = (deadline, heap.push(key, deadline))
    expected = sorted((d, g, k) for k, (d, g) in model.items() if d <= 50.0)
    assert heap.pop_due(50.0) == [(k, g) for _d, g, k in expected]
    later = [d for d, _g in model.values() if d > 50.0]
    assert heap.next_deadline() == (min(later) if later else None)


# -- TimerService ------------------------------------------------------------------------------


class Recorder:
    """A stand-in for an ActorRef: records what it is told and signals per key."""

    def __init__(self) -> None:
        self.messages: list[TimerFired] = []
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}

    def _event(self, key: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(key, threading.Event())

    def tell(self, message: Any) -> None:
        with self._lock:
            self.messages.append(message)
        self._event(message.key).set()

    def wait(self, key: str) -> bool:
        return self._event(key).wait(WAIT)

    def fired_keys(self) -> list[str]:
        with self._lock:
            return [m.key for m in self.messages]


@pytest.fixture
def manual() -> tuple[ManualClock, TimerService, Recorder]:
    clock = ManualClock()
    service = TimerService(clock)
    service.start()
    yield clock, service, Recorder()
    service.stop()


def flush(service: TimerService, recorder: Recorder, tag: str) -> None:
    """Deliveries are in deadline order, so once a timer due now fires, all earlier ones have."""
    service.schedule(tag, 0.0, recorder)
    assert recorder.wait(tag)


def test_fires_only_when_the_manual_clock_passes_the_deadline(manual) -> None:
    clock, service, recorder = manual
    generation = service.schedule("submit", 5.0, recorder)
    assert service.pending() == 1
    clock.advance(4.9)
    flush(service, recorder, "flush-1")
    assert recorder.fired_keys() == ["flush-1"]
    clock.advance(0.1)
    assert recorder.wait("submit")
    assert recorder.messages[-1] == TimerFired(key="submit", generation=generation)
    assert service.pending() == 0 and service.generation_of("submit") is None


def test_rescheduled_and_cancelled_timers_do_not_fire(manual) -> None:
    clock, service, recorder = manual
    old = service.schedule("retry", 1.0, recorder)
    new = service.schedule("retry", 3.0, recorder)
    service.schedule("gone", 1.0, recorder)
    service.cancel("gone")
    assert new > old and service.pending() == 1
    clock.advance(2.0)
    flush(service, recorder, "flush-1")
    assert recorder.fired_keys() == ["flush-1"]
    clock.advance(1.0)
    assert recorder.wait("retry")
    flush(service, recorder, "flush-2")
    fired = [m for m in recorder.messages if m.key == "retry"]
    assert fired == [TimerFired(key="retry", generation=new)]
    assert "gone" not in recorder.fired_keys()


def test_a_failing_target_does_not_kill_the_thread(manual, caplog) -> None:
    clock, service, recorder = manual

    class Dead:
        def tell(self, message: Any) -> None:
            raise ActorDeadError("gone")

    class Broken:
        def tell(self, message: Any) -> None:
            raise RuntimeError("boom")

    caplog.set_level(logging.INFO, logger="gal_exec.timers")
    service.schedule("dead", 1.0, Dead())
    service.schedule("broken", 1.0, Broken())
    service.schedule("alive", 1.0, recorder)
    clock.advance(1.0)
    assert recorder.wait("alive")
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "gal_exec.timers")
    assert "'dead'" in logged and "'broken'" in logged


def test_a_target_may_schedule_from_inside_tell(manual) -> None:
    clock, service, recorder = manual

    class Chaining:
        def tell(self, message: Any) -> None:
            service.schedule("second", 1.0, recorder)

    service.schedule("first", 1.0, Chaining())
    clock.advance(1.0)
    flush(service, recorder, "flush-1")
    assert "second" not in recorder.fired_keys()
    clock.advance(1.0)
    assert recorder.wait("second")


def test_timers_scheduled_before_start_fire_after_start() -> None:
    clock = ManualClock()
    service = TimerService(clock)
    recorder = Recorder()
    service.schedule("early", 1.0, recorder)
    clock.advance(2.0)
    service.start()
    try:
        assert recorder.wait("early")
    finally:
        service.stop()


def test_stop_is_idempotent_and_joins() -> None:
    service = TimerService(ManualClock())
    service.stop()  # never started
    service.start()
    thread = service._thread
    service.stop()
    service.stop()
    assert thread is not None and not thread.is_alive()


def test_real_clock_timer_fires_after_its_delay() -> None:
    service = TimerService(SystemClock())
    recorder = Recorder()
    service.start()
    try:
        started = time.monotonic()
        service.schedule("real", 0.05, recorder)
        service.schedule("later", 60.0, recorder)  # makes the thread wait with a timeout
        assert recorder.wait("real")
        assert time.monotonic() - started >= 0.05 - 0.005
        assert service.pending() == 1
    finally:
        service.stop()


def test_core_stays_free_of_threads_time_and_sockets() -> None:
    """House rule: core never imports the machine's clock, a thread module or a socket."""
    import ast
    import pathlib

    import gal_exec.core

    banned = {"time", "threading", "socket", "asyncio", "_thread", "concurrent", "select"}
    allowed = {
        ("clock.py", "threading"),  # ManualClock's lock, so tests may advance it
        (
            "clock.py",
            "time",
        ),  # SystemClock, defined beside the protocol and injected by the runtime
    }
    for path in pathlib.Path(gal_exec.core.__file__).parent.glob("*.py"):
        text = path.read_text()
        if path.name != "clock.py":
            assert "SystemClock" not in text, f"{path.name} must take a Clock, not build one"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                root = name.split(".")[0]
                assert root not in banned or (path.name, root) in allowed, (path.name, name)


def test_a_delay_the_os_cannot_wait_is_refused_to_the_caller_and_the_thread_lives() -> None:
    service = TimerService(SystemClock())
    recorder = Recorder()
    service.start()
    try:
        for delay in (9.3e9, 1e300, float("inf"), float("nan")):
            with pytest.raises(ValueError, match="delay must be a finite number"):
                service.schedule("far", delay, recorder)
        service.schedule("year", 365 * 86400.0, recorder)  # waits in capped steps
        service.schedule("near", 0.0, recorder)
        assert recorder.wait("near")
        assert service.pending() == 1
    finally:
        service.stop()


class _FailingInTheTimerThread(SystemClock):
    """A clock that fails once when the timer thread reads it (any bug in waiting)."""

    def __init__(self) -> None:
        self.armed = threading.Event()

    def monotonic(self) -> float:
        if self.armed.is_set() and threading.current_thread().name == "gal-exec-timers":
            self.armed.clear()
            raise OverflowError("timeout value is too large")
        return super().monotonic()


def test_the_timer_thread_survives_a_failure_while_waiting(caplog) -> None:
    clock = _FailingInTheTimerThread()
    service = TimerService(clock)
    recorder = Recorder()
    caplog.set_level(logging.ERROR, logger="gal_exec.timers")
    service.start()
    try:
        clock.armed.set()
        service.schedule("after", 0.0, recorder)
        assert recorder.wait("after")
    finally:
        service.stop()
    assert any("timer thread" in record.getMessage() for record in caplog.records)
