"""How the actors run: Pykka actor types with cheaper inboxes, and actors that share threads.

``ThreadActor`` is Pykka's ``ThreadingActor`` with a ``queue.SimpleQueue`` for its inbox: a tell
and a receive are C calls, where ``queue.Queue`` takes a Python ``Condition`` on both sides. Every
long-lived actor here (the supervisor, the gateway, the sink, ...) is one.

Order actors are ``DispatchedActor``s. Pykka's ``ThreadingActor`` gives every actor an OS thread,
and for an order that was the largest single cost: starting and ending a thread takes about 0.4 ms
of CPU, mostly in the kernel, and every message to a sleeping order thread is a futex wake and a
GIL hand-over to a thread that runs for a few microseconds. An order actor never blocks, so
nothing needs it to have a thread of its own.

``DispatchedActor`` keeps everything an actor promises (its own mailbox, one message at a time,
in the order told, ``on_start``/``on_stop``/``on_failure`` as Pykka calls them, ``tell``/``ask``
and ``stop`` through an ordinary ``ActorRef``) but runs on a ``Dispatcher``: a small fixed set of
threads that take actors with mail from one ready queue. An actor is on the ready queue at most
once, so it is never run on two threads at once; it gives its thread up after a few messages, so
one busy order cannot starve the others. In a burst, a dispatcher thread goes from one order's
mailbox to the next without sleeping; a quiet order costs no thread at all.

This departs from DESIGN.md's "one OS thread per actor" for order actors only, for the measured
cost above (docs/benchmarks.md). The rule that comes with it: a dispatched actor must never block
(no ``ask(...).get()``, no socket, no sleep), or it holds a thread that other orders need.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections import deque
from itertools import count
from typing import TYPE_CHECKING, Any, ClassVar

import pykka
from pykka import ActorDeadError, ActorRegistry, messages

if TYPE_CHECKING:
    from pykka._envelope import Envelope

__all__ = ["DispatchedActor", "Dispatcher", "ThreadActor", "default_dispatcher"]

log = logging.getLogger("gal_exec.runtime")

_SLICE = 32  # messages an actor handles before it goes to the back of the ready queue


class ThreadActor(pykka.ThreadingActor):
    """A Pykka ``ThreadingActor`` (its own thread) whose inbox is a ``queue.SimpleQueue``."""

    @staticmethod
    def _create_actor_inbox() -> queue.SimpleQueue[Envelope[Any]]:  # type: ignore[override]
        return queue.SimpleQueue()


class Dispatcher:
    """A few daemon threads that run the mailboxes of many ``DispatchedActor``s."""

    def __init__(self, threads: int = 1, name: str = "dispatch") -> None:
        if threads < 1:
            raise ValueError(f"a dispatcher needs at least one thread, got {threads}")
        self._ready: queue.SimpleQueue[DispatchedActor | None] = queue.SimpleQueue()
        self._count = threads
        self._name = name
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def schedule(self, actor: DispatchedActor) -> None:
        if not self._threads:
            self._start()
        self._ready.put(actor)

    def _start(self) -> None:
        with self._lock:
            if self._threads:
                return
            for n in range(self._count):
                thread = threading.Thread(target=self._run, name=f"{self._name}-{n}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def close(self, timeout: float = 5.0) -> None:
        """End the threads once they have run what is ready (for a dispatcher that is not the
        process's own; actors still alive on it stop being run)."""
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._ready.put(None)
        for thread in threads:
            thread.join(timeout)

    def _run(self) -> None:
        ready = self._ready
        while True:
            actor = ready.get()
            if actor is None:
                return
            try:
                actor._run_slice()
            except Exception:  # a dispatcher thread outlives any one actor's failure
                log.exception("dispatcher %s: an actor's slice failed", self._name)


_DEFAULT = Dispatcher(threads=1, name="orders")
_serials = count(1)


def default_dispatcher() -> Dispatcher:
    """The process's dispatcher for order actors (its threads start on first use, as daemons)."""
    return _DEFAULT


class _Mailbox:
    """A Pykka inbox that puts its actor on the dispatcher's ready queue when mail arrives."""

    __slots__ = ("_items", "_lock", "_owner", "_scheduled")

    def __init__(self) -> None:
        self._items: deque[Envelope[Any]] = deque()
        self._lock = threading.Lock()
        self._owner: DispatchedActor | None = None
        # True while the actor is on the ready queue or running: no one else may schedule it.
        # It starts True so that nothing runs before ``_start_actor_loop``.
        self._scheduled = True

    def put(self, envelope: Envelope[Any], /) -> None:
        with self._lock:
            self._items.append(envelope)
            if self._scheduled:
                return
            self._scheduled = True
        owner = self._owner
        assert owner is not None
        owner.dispatcher.schedule(owner)

    def get(self) -> Envelope[Any]:
        with self._lock:
            return self._items.popleft()

    def empty(self) -> bool:
        return not self._items

    def _take(self) -> Envelope[Any] | None:
        """The next envelope, or None after marking the actor idle (under one lock)."""
        with self._lock:
            if self._items:
                return self._items.popleft()
            self._scheduled = False
            return None


class _StoppedFlag:
    """What an actor's ``actor_stopped`` must offer (``set``, ``is_set``, ``wait``), without a
    ``threading.Event`` (a Condition and a lock) per order: the event is made only for a waiter."""

    __slots__ = ("_event", "_set")

    def __init__(self) -> None:
        self._set = False
        self._event: threading.Event | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True  # before reading _event: a waiter that made it after sees the flag
        event = self._event
        if event is not None:
            event.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._set:
            return True
        with _flag_lock:
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        if self._set:  # set() ran before the event existed
            event.set()
        return event.wait(timeout)


_flag_lock = threading.Lock()


class DispatchedActor(pykka.Actor):
    """A Pykka actor without a thread of its own: its messages run on a ``Dispatcher``."""

    dispatcher: ClassVar[Dispatcher] = _DEFAULT
    """Where instances run; a subclass may name its own, the default is the process's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # What pykka.Actor.__init__ sets, but for the URN: a uuid4 per actor (read from the
        # kernel's random source) was a tenth of an order actor's birth; a process-wide serial
        # is as unique within the process, which is all a URN is used for here.
        self.actor_urn = f"urn:gal-exec:{type(self).__name__}:{next(_serials)}"
        self._mailbox = _Mailbox()
        self._mailbox._owner = self
        self.actor_inbox = self._mailbox
        self.actor_stopped = _StoppedFlag()  # type: ignore[assignment]
        self._actor_ref = pykka.ActorRef(self)
        self._set_up = False

    @classmethod
    def start(cls, *args: Any, **kwargs: Any) -> pykka.ActorRef[Any]:
        """Pykka's ``start`` without the ``ActorRegistry``: whoever starts a dispatched actor
        keeps its ref and stops it (the supervisor does, for every order), and the registry's
        lock and list cost an order's birth and end for nothing (DESIGN.md: never look actors
        up through the registry). ``ActorRegistry.stop_all()`` does not see these actors."""
        actor = cls(*args, **kwargs)
        actor._start_actor_loop()
        return actor.actor_ref

    @staticmethod
    def _create_actor_inbox() -> _Mailbox:  # type: ignore[override]
        return _Mailbox()  # Pykka declares it abstract; this class's __init__ makes its own

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return pykka.ThreadingFuture()

    def _start_actor_loop(self) -> None:
        self.dispatcher.schedule(self)  # the mailbox is marked scheduled from birth

    def _run_slice(self) -> None:
        """Handle up to ``_SLICE`` messages on the calling dispatcher thread."""
        if not self._set_up:
            self._set_up = True
            self._actor_loop_setup()
        mailbox = self._mailbox
        for _ in range(_SLICE):
            if self.actor_stopped.is_set():
                self._finish()
                return
            envelope = mailbox._take()
            if envelope is None:
                return
            self._handle_envelope(envelope)
        if self.actor_stopped.is_set():
            self._finish()
            return
        self.dispatcher.schedule(self)  # more mail, or none: _take marks it idle next time

    def _finish(self) -> None:
        """After the stop: answer what is left with ActorDeadError, as Pykka's teardown does
        (this is that teardown, ending with the mailbox marked idle).

        So a message that raced the stop schedules one more slice, which answers it the same
        way instead of leaving an ``ask`` waiting forever.
        """
        mailbox = self._mailbox
        while True:
            envelope = mailbox._take()
            if envelope is None:
                return
            if envelope.reply_to is not None:
                if isinstance(envelope.message, messages._ActorStop):
                    envelope.reply_to.set(None)
                else:
                    dead = ActorDeadError(f"{self.actor_ref} stopped before handling the message")
                    envelope.reply_to.set_exception(exc_info=(ActorDeadError, dead, None))

    def _handle_envelope(self, envelope: Envelope[Any]) -> None:
        # The body of Pykka's Actor._actor_loop_running, for one envelope.
        try:
            response = self._handle_receive(envelope.message)
            if envelope.reply_to is not None:
                envelope.reply_to.set(response)
        except Exception:
            if envelope.reply_to is not None:
                log.info("exception returned from %s to caller", self, exc_info=sys.exc_info())
                envelope.reply_to.set_exception()
            else:
                self._handle_failure(*sys.exc_info())
                try:
                    self.on_failure(*sys.exc_info())
                except Exception:
                    self._handle_failure(*sys.exc_info())
        except BaseException:
            log.debug("%r in %s: stopping all actors", sys.exc_info()[1], self)
            self._stop()
            # Not block=True: waiting here could wait on an actor this very thread must run.
            ActorRegistry.stop_all(block=False)
