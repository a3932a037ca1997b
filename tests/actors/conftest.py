"""Shared fixtures for actor tests: a manual clock, a timer service on it, recording actors."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from gal_exec.actors.protocol import PlaceOrder, tell_quietly
from gal_exec.core.clock import ManualClock
from gal_exec.timers import TimerService

DEFAULT_TIMEOUT_S = 5.0


_SYNC = object()


class _RecordingActor(pykka.ThreadingActor):
    def __init__(self, inbox: queue.Queue[Any]) -> None:
        super().__init__()
        self._inbox = inbox

    def on_receive(self, message: Any) -> None:
        if message is not _SYNC:
            self._inbox.put(message)
        if isinstance(message, PlaceOrder):
            # Standing in for the gateway, it keeps the gateway's word: the messages that ride
            # with a placement are passed on once it is taken (PlaceOrder.after).
            for forward in message.after:
                tell_quietly(forward.to, forward.message)


class Recorder:
    """A real actor that records every message told to it; the test reads them with timeouts."""

    def __init__(self) -> None:
        self._inbox: queue.Queue[Any] = queue.Queue()
        self.ref = _RecordingActor.start(self._inbox)
        self.seen: list[Any] = []

    def tell(self, message: Any) -> None:
        self.ref.tell(message)

    def next(self, kind: type | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        """The next message (of ``kind``, skipping others, which stay in ``seen``)."""
        while True:
            try:
                message = self._inbox.get(timeout=timeout)
            except queue.Empty:
                wanted = kind.__name__ if kind else "a message"
                recent = self.seen[-3:]
                raise AssertionError(
                    f"no {wanted} within {timeout} s; {len(self.seen)} seen, last {recent!r}"
                ) from None
            self.seen.append(message)
            if kind is None or isinstance(message, kind):
                return message

    def take(
        self, count: int, kind: type | None = None, timeout: float = DEFAULT_TIMEOUT_S
    ) -> list:
        """The next ``count`` messages of ``kind``."""
        return [self.next(kind, timeout) for _ in range(count)]

    def pending(self) -> list[Any]:
        """Messages told to this recorder so far and not yet read.

        A round trip through the actor first makes sure everything already told is recorded.
        """
        self.ref.ask(_SYNC, timeout=DEFAULT_TIMEOUT_S)
        found = []
        while True:
            try:
                found.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        self.seen.extend(found)
        return found


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_700_000_000.0)


@pytest.fixture
def timers(clock: ManualClock) -> Iterator[TimerService]:
    service = TimerService(clock, name="test-timers")
    service.start()
    yield service
    service.stop()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_recorder() -> Any:
    """A factory for more than one recorder in a test."""
    return Recorder
