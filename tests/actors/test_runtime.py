"""DispatchedActor and Dispatcher: actors that share a few threads keep every actor promise.

Each test runs its actors on a dispatcher of its own and closes it at the end.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pykka
import pytest
from pykka._envelope import Envelope

from gal_exec.actors.order_actor import OrderActor
from gal_exec.actors.runtime import DispatchedActor, Dispatcher, default_dispatcher

TIMEOUT_S = 5.0


@pytest.fixture
def dispatcher() -> Iterator[Dispatcher]:
    d = Dispatcher(threads=2, name="test-dispatch")
    yield d
    d.close()


def actor_on(d: Dispatcher) -> type[_Probe]:
    class Probe(_Probe):
        dispatcher: ClassVar[Dispatcher] = d

    return Probe


class _Probe(DispatchedActor):
    """Records what it handles; ``("block", event)`` holds its thread until the event is set."""

    def __init__(self, log: list[Any], busy: list[int] | None = None) -> None:
        super().__init__()
        self.log = log
        self.busy = busy if busy is not None else [0]
        self.stopped = threading.Event()
        self.failures: list[str] = []
        self.threads: set[str] = set()

    def on_receive(self, message: Any) -> Any:
        self.busy[0] += 1
        try:
            assert self.busy[0] == 1, "two threads ran one actor at once"
            self.threads.add(threading.current_thread().name)
            if isinstance(message, tuple) and message[0] == "block":
                message[1].wait(TIMEOUT_S)
            elif message == "boom":
                raise RuntimeError("boom")
            elif message == "who":
                return sorted(self.threads)
            self.log.append(message)
            return ("echo", message)
        finally:
            self.busy[0] -= 1

    def on_stop(self) -> None:
        self.stopped.set()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        self.failures.append(str(exception_value))


def test_messages_run_in_the_order_told_and_never_on_two_threads_at_once(
    dispatcher: Dispatcher,
) -> None:
    log: list[Any] = []
    ref = actor_on(dispatcher).start(log)
    senders = [
        threading.Thread(target=lambda n=n: [ref.tell((n, i)) for i in range(500)])
        for n in range(4)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(TIMEOUT_S)
    assert ref.ask("sync", timeout=TIMEOUT_S) == ("echo", "sync")
    for n in range(4):
        assert [i for sender, i in log[:-1] if sender == n] == list(range(500))
    assert len(log) == 2001
    ref.stop(timeout=TIMEOUT_S)


def test_many_actors_share_the_dispatchers_threads(dispatcher: Dispatcher) -> None:
    probe = actor_on(dispatcher)
    before = threading.active_count()
    refs = [probe.start([]) for _ in range(300)]
    threads: set[str] = set()
    for ref in refs:
        threads.update(ref.ask("who", timeout=TIMEOUT_S))
    assert threads <= {"test-dispatch-0", "test-dispatch-1"}
    assert threading.active_count() <= before + 2
    for ref in refs:
        ref.stop(timeout=TIMEOUT_S)


def test_a_long_mailbox_yields_its_thread_to_other_actors() -> None:
    single = Dispatcher(threads=1, name="test-single")
    try:
        probe = actor_on(single)
        log: list[Any] = []
        gate, busy, quiet = probe.start([]), probe.start(log), probe.start(log)
        for ref in (gate, busy, quiet):
            ref.ask("who", timeout=TIMEOUT_S)  # started and idle: each is queued when told
        release = threading.Event()
        gate.tell(("block", release))  # holds the only thread while the mail below queues up
        for i in range(100):
            busy.tell(i)
        quiet.tell("quiet")
        release.set()
        assert quiet.ask("sync", timeout=TIMEOUT_S) == ("echo", "sync")
        assert busy.ask("sync", timeout=TIMEOUT_S) == ("echo", "sync")
        # quiet's message ran after one slice of busy's, not after all hundred
        assert 0 < log.index("quiet") < 100
        for ref in (gate, busy, quiet):
            ref.stop(timeout=TIMEOUT_S)
    finally:
        single.close()


def test_an_ask_that_raises_answers_the_caller_and_the_actor_lives_on(
    dispatcher: Dispatcher,
) -> None:
    ref = actor_on(dispatcher).start([])
    with pytest.raises(RuntimeError, match="boom"):
        ref.ask("boom", timeout=TIMEOUT_S)
    assert ref.ask("after", timeout=TIMEOUT_S) == ("echo", "after")
    ref.stop(timeout=TIMEOUT_S)


def test_a_told_message_that_raises_stops_the_actor_through_on_failure(
    dispatcher: Dispatcher,
) -> None:
    log: list[Any] = []
    ref = actor_on(dispatcher).start(log)
    actor = ref._actor_weakref()
    assert actor is not None
    release = threading.Event()
    ref.tell(("block", release))
    ref.tell("boom")
    ref.tell("never")
    release.set()
    assert ref.actor_stopped.wait(TIMEOUT_S)
    assert actor.failures == ["boom"]
    assert "never" not in log
    with pytest.raises(pykka.ActorDeadError):
        ref.ask("late", timeout=TIMEOUT_S)


def test_stop_runs_on_stop_and_answers_mail_that_raced_it(dispatcher: Dispatcher) -> None:
    ref = actor_on(dispatcher).start([])
    actor = ref._actor_weakref()
    assert actor is not None
    ref.stop(block=True, timeout=TIMEOUT_S)
    assert actor.stopped.is_set()
    assert not ref.is_alive()
    # A message put after the stop (a tell that checked is_alive just before it) gets an
    # answer, not a silent wait.
    future = pykka.ThreadingFuture[Any]()
    ref.actor_inbox.put(Envelope("raced", reply_to=future))
    with pytest.raises(pykka.ActorDeadError):
        future.get(timeout=TIMEOUT_S)


def test_a_dispatcher_needs_a_thread() -> None:
    with pytest.raises(ValueError, match="at least one thread"):
        Dispatcher(threads=0)


def test_order_actors_run_on_the_process_dispatcher() -> None:
    assert issubclass(OrderActor, DispatchedActor)
    assert OrderActor.dispatcher is default_dispatcher()


def test_dispatched_actors_stay_out_of_the_registry(dispatcher: Dispatcher) -> None:
    ref = actor_on(dispatcher).start([])
    assert ref not in pykka.ActorRegistry.get_all()
    ref.stop(timeout=TIMEOUT_S)


def test_a_waiter_on_actor_stopped_wakes_when_the_actor_stops(dispatcher: Dispatcher) -> None:
    ref = actor_on(dispatcher).start([])
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(ref.actor_stopped.wait(TIMEOUT_S)))
    waiter.start()
    ref.stop(timeout=TIMEOUT_S)
    waiter.join(TIMEOUT_S)
    assert woke == [True]
    assert ref.actor_stopped.wait(0)  # already set: no wait at all
    assert not ref.is_alive()
