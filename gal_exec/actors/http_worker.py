"""HttpWorker: the one place (with the WS reader) where an actor blocks on the network.

Each worker owns a KrakenRestClient (its own keep-alive ``requests.Session``). The gateway tells
it an :class:`HttpCall`; the worker makes the blocking call and tells ``reply_to`` an
:class:`HttpDone` with the result or the exception. An exception is carried, never raised: a
failed call must not stop the worker, and the gateway decides what it means.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

import msgspec
import pykka

from gal_exec.actors.protocol import GetHealth, HttpCall, HttpDone, unexpected
from gal_exec.actors.runtime import ThreadActor
from gal_exec.core.clock import Clock

__all__ = ["HttpWorker", "PlacementFenced", "WorkerHealth"]

logger = logging.getLogger("gal_exec.actors.http_worker")

_PLACING_ENDPOINTS = frozenset({"AddOrder", "AddOrderBatch", "AmendOrder"})


class PlacementFenced(Exception):
    """A placement held back before it left: this engine no longer owns the account. It was not
    sent, and stays to be placed (by cl_ord_id, after a look-up) by the account's next owner."""


class WorkerHealth(msgspec.Struct, frozen=True, kw_only=True):
    calls: int
    """Calls performed since start."""
    failures: int
    """Of those, the ones that ended in an exception (told back as HttpDone.error)."""


Inbox = HttpCall | GetHealth


class HttpWorker(ThreadActor):
    """Performs HttpCall messages one at a time on its own REST client."""

    def __init__(
        self, client: Any, *, clock: Clock, place_guard: Callable[[], str | None] | None = None
    ) -> None:
        super().__init__()
        self._client = client
        self._clock = clock
        # Asked right before an order-creating or -changing request leaves: a reason to refuse
        # it (this engine lost its lease), or None.
        self._place_guard = place_guard
        self._calls = 0
        self._failures = 0

    def on_receive(self, message: Any) -> WorkerHealth | None:
        return self._handle(cast(Inbox, message))

    def _handle(self, message: Inbox) -> WorkerHealth | None:
        match message:
            case HttpCall():
                self._perform(message)
            case GetHealth():
                return WorkerHealth(calls=self._calls, failures=self._failures)
            case _:
                unexpected(message, actor="HttpWorker", log=logger)
        return None

    def _perform(self, call: HttpCall) -> None:
        started = self._clock.monotonic()
        result: Any = None
        error: BaseException | None = None
        try:
            if self._place_guard is not None and call.endpoint in _PLACING_ENDPOINTS:
                refusal = self._place_guard()
                if refusal is not None:
                    raise PlacementFenced(f"not sent: {refusal}")
            method = getattr(self._client, call.method_name)
            result = method(**call.kwargs)
        except Exception as exc:
            error = exc
            self._failures += 1
        self._calls += 1
        finished = self._clock.monotonic()
        done = HttpDone(
            call_id=call.call_id,
            endpoint=call.endpoint,
            result=result,
            error=error,
            started=started,
            finished=finished,
        )
        try:
            call.reply_to.tell(done)
        except pykka.ActorDeadError:
            logger.info("HttpWorker: %s finished after its requester stopped", call.endpoint)

    def on_stop(self) -> None:
        close = getattr(self._client, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                logger.exception("HttpWorker: closing the REST client failed")
