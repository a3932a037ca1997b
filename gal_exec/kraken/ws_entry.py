"""Order entry over Kraken's authenticated WebSocket, the pure part: which requests a socket may
carry, their WS v2 frames (each with a ``req_id``), and the requests waiting for an answer.

The KrakenGateway owns one :class:`WsOrderEntry` (gal_exec.actors.gateway_ws drives it). No
threads or sockets here: the channel is an object with ``send(frame, session=...)``.
"""

from __future__ import annotations

import itertools
import logging
from typing import Protocol

from gal_exec.kraken import ws_codec
from gal_exec.kraken.jobs import Dispatch, Job, JobKind
from gal_exec.kraken.ws_orders import NotExpressible, order_spec

__all__ = ["TOKEN_ERRORS", "WS_METHODS", "OrderChannel", "Pending", "WsOrderEntry"]

logger = logging.getLogger("gal_exec.kraken.ws_entry")

WS_METHODS = {
    JobKind.PLACE: "add_order",
    JobKind.AMEND: "amend_order",
    JobKind.CANCEL: "cancel_order",
    JobKind.CANCEL_ALL_AFTER: "cancel_all_orders_after",
}
"""The WS v2 method for each kind that may go over the socket (a coalesced placement: batch_add)."""

TOKEN_ERRORS = frozenset({"EAPI:Invalid token", "ESession:Invalid session"})
"""Refused at the door (the token): nothing was processed, the request may go again."""

_NOT_EXPRESSIBLE = object()


class OrderChannel(Protocol):
    """The connection order entry is sent on (gal_exec.kraken.ws.KrakenWsClient). Its
    ``current_token`` and ``reconnect`` are used when it has them."""

    def send(self, message: bytes, /, *, session: int | None = None) -> None: ...


class Pending:
    """A request on the socket, waiting for its answer."""

    __slots__ = ("deadline", "dispatch", "method", "req_id", "sent_at", "session")

    def __init__(
        self,
        req_id: int,
        method: str,
        dispatch: Dispatch,
        *,
        session: int,
        sent_at: float,
        deadline: float,
    ) -> None:
        self.req_id = req_id
        self.method = method
        self.dispatch = dispatch
        self.session = session
        self.sent_at = sent_at
        self.deadline = deadline


class WsOrderEntry:
    """Which requests the socket carries, their frames, and the requests awaiting answers."""

    def __init__(self, *, enabled: bool, timeout_s: float) -> None:
        self.enabled = enabled
        self.timeout_s = timeout_s
        self.channel: OrderChannel | None = None
        self.session = 0
        self.symbols: dict[str, str] = {}
        self.pending: dict[int, Pending] = {}
        """Requests awaiting answers, in the order sent. Every deadline is the send time plus one
        timeout, so that is also deadline order while the clock runs forward (``_in_order``):
        the earliest deadline is the first entry, and the overdue ones a prefix."""
        self._in_order = True
        self._latest_deadline = float("-inf")
        self._req_ids = itertools.count(1)

    # --- the channel --------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.enabled and self.channel is not None

    def up(self, session: int, channel: OrderChannel, symbols: dict[str, str]) -> None:
        self.session = session
        self.channel = channel
        self.symbols = symbols

    def down(self, session: int) -> list[Pending]:
        """The connection of ``session`` ended: its waiting requests, oldest first."""
        if session == self.session:
            self.channel = None
        lost = [item for item in self.pending.values() if item.session == session]
        for item in lost:
            del self.pending[item.req_id]
        return lost

    # --- routing ------------------------------------------------------------------------------

    def carries(self, job: Job) -> bool:
        """Whether ``job`` may go over the socket (checked once per job, then cached)."""
        method = WS_METHODS.get(job.kind)
        if method is None:
            return False
        if job.kind is not JobKind.PLACE:
            return True
        wire = job.wire
        if wire is None:
            order = job.order
            symbol = self.symbols.get(getattr(order, "pair", ""))
            try:
                wire = (symbol, order_spec(order)) if symbol is not None else _NOT_EXPRESSIBLE
            except NotExpressible as exc:
                logger.info("order %s goes by REST: %s", job.cl_ord_id, exc)
                wire = _NOT_EXPRESSIBLE
            job.wire = wire
        return wire is not _NOT_EXPRESSIBLE

    # --- sending ------------------------------------------------------------------------------

    def frame(self, dispatch: Dispatch, token: str) -> tuple[int, str, bytes]:
        """(req_id, method, encoded frame) for ``dispatch``."""
        req_id = next(self._req_ids)
        head = dispatch.jobs[0]
        request = head.request
        kind = dispatch.kind
        if kind is JobKind.PLACE:
            symbol = head.wire[0]
            if len(dispatch.jobs) > 1:
                specs = [job.wire[1] for job in dispatch.jobs]
                message = ws_codec.batch_add(token, specs, symbol=symbol, req_id=req_id)
            else:
                order = head.order
                message = ws_codec.add_order(
                    token,
                    head.wire[1],
                    symbol=symbol,
                    deadline=order.deadline,
                    validate=True if order.validate else None,
                    req_id=req_id,
                )
        elif kind is JobKind.AMEND:
            ids = _order_id(head)
            message = ws_codec.amend_order(
                token,
                order_id=ids.get("order_id"),
                cl_ord_id=ids.get("cl_ord_id"),
                order_qty=request.order_qty,
                limit_price=request.limit_price,
                trigger_price=request.trigger_price,
                req_id=req_id,
            )
        elif kind is JobKind.CANCEL:
            ids = _order_id(head)
            message = ws_codec.cancel_order(
                token,
                order_ids=[ids["order_id"]] if "order_id" in ids else (),
                cl_ord_ids=[ids["cl_ord_id"]] if "cl_ord_id" in ids else (),
                req_id=req_id,
            )
        elif kind is JobKind.CANCEL_ALL_AFTER:
            message = ws_codec.cancel_all_orders_after(token, request.timeout_s, req_id=req_id)
        else:
            raise ValueError(f"{kind} does not go over the WebSocket")
        return req_id, message.method, ws_codec.encode(message)

    def sent(
        self, req_id: int, method: str, dispatch: Dispatch, now: float, sent_at: float
    ) -> None:
        """Record a frame that left (or may have): it now waits for its answer."""
        deadline = now + self.timeout_s
        if deadline < self._latest_deadline:
            self._in_order = False  # a clock set back: scan from here on
        self._latest_deadline = max(self._latest_deadline, deadline)
        self.pending[req_id] = Pending(
            req_id,
            method,
            dispatch,
            session=self.session,
            sent_at=sent_at,
            deadline=deadline,
        )

    # --- answers ------------------------------------------------------------------------------

    def answer(self, session: int, response: ws_codec.MethodResponse) -> Pending | None:
        """The request ``response`` answers, removed from pending; None if it is not ours (a
        late answer to a request already given up, or another session's)."""
        req_id = response.req_id
        item = self.pending.get(req_id) if req_id is not None else None
        if item is None or item.session != session or item.method != response.method:
            return None
        del self.pending[item.req_id]
        if not self.pending:
            self._in_order, self._latest_deadline = True, float("-inf")
        return item

    def unattributed(self, session: int, method: str | None) -> list[Pending]:
        """An error without req_id: every waiting request of that method (any, without one)
        could be the one it answers, so none of them can be trusted to get another answer."""
        matched = [
            item
            for item in self.pending.values()
            if item.session == session and (method is None or item.method == method)
        ]
        for item in matched:
            del self.pending[item.req_id]
        return matched

    def expired(self, now: float) -> list[Pending]:
        """Remove and return the requests whose answer is overdue (a prefix when in order: the
        cost is the overdue ones, not every request in flight)."""
        if self._in_order:
            overdue = list(
                itertools.takewhile(lambda item: item.deadline <= now, self.pending.values())
            )
        else:
            overdue = [item for item in self.pending.values() if item.deadline <= now]
        for item in overdue:
            del self.pending[item.req_id]
        if not self.pending:
            self._in_order, self._latest_deadline = True, float("-inf")
        return overdue

    def next_deadline(self) -> float | None:
        """The earliest answer deadline (the first request's, when in order)."""
        if self._in_order:
            first = next(iter(self.pending.values()), None)
            return None if first is None else first.deadline
        return min((item.deadline for item in self.pending.values()), default=None)


def _order_id(job: Job) -> dict[str, str]:
    if job.txid is not None:
        return {"order_id": job.txid}
    return {"cl_ord_id": job.cl_ord_id or ""}
