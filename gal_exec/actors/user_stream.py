"""UserStream: runs the authenticated executions subscription and tells the supervisor what it sees.

The WS client's reader thread only decodes and tells this actor; here each execution becomes an
OrderUpdate for the supervisor, every connect and disconnect becomes a StreamStatus (so order
actors reconcile after a gap), and the rate counter goes to the gateway.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import pykka

from gal_exec.actors import protocol as p
from gal_exec.kraken.updates import update_from_execution
from gal_exec.kraken.ws import ExecutionsSubscription, KrakenWsClient, WsEvent
from gal_exec.kraken.ws_codec import ExecutionsMessage

__all__ = ["UserStream"]

log = logging.getLogger("gal_exec.stream")


class _Incoming(msgspec.Struct, frozen=True, kw_only=True):
    message: Any


class UserStream(pykka.ThreadingActor):
    def __init__(
        self,
        *,
        url: str,
        token_provider: Any,
        supervisor: Any,
        gateway: Any,
        clock: Any,
        liveness_timeout_s: float = 5.0,
        symbol_to_pair: dict[str, str] | None = None,
        client_factory: Any = KrakenWsClient,
    ) -> None:
        super().__init__()
        self.supervisor = supervisor
        self.gateway = gateway
        self.clock = clock
        self.symbol_to_pair = symbol_to_pair or {}
        self.connected = False
        self.sessions = 0
        self.messages = 0
        self.last_message_at: float | None = None
        self.last_disconnect: str = ""
        ref = self.actor_ref
        self.client = client_factory(
            url,
            on_message=lambda message: p.tell_quietly(ref, _Incoming(message=message)),
            on_event=lambda event: p.tell_quietly(ref, event),
            token_provider=token_provider,
            subscriptions=[ExecutionsSubscription()],
            clock=clock,
            liveness_timeout_s=liveness_timeout_s,
            name="executions",
        )

    def on_start(self) -> None:
        self.client.start()

    def on_stop(self) -> None:
        self.client.stop()

    def on_receive(self, message: Any) -> Any:
        match message:
            case _Incoming(message=incoming):
                self.messages += 1
                self.last_message_at = self.clock.time()
                if isinstance(incoming, ExecutionsMessage):
                    self._executions(incoming)
            case WsEvent(kind="connected", session=session):
                self.sessions = session
            case WsEvent(kind="subscribed", reason=reason) if reason.startswith("executions"):
                # Up only once subscribed: updates before the subscription are not ours to see.
                # A reconnect is a gap: the snapshot that follows shows open orders, and each
                # order catches up on the rest with one batched status query.
                self.connected = True
                self.supervisor.tell(p.StreamStatus(up=True, gap=self.sessions > 1))
            case WsEvent(kind="disconnected", reason=reason):
                if self.connected:
                    log.warning("executions stream disconnected: %s", reason)
                self.connected = False
                self.last_disconnect = reason
                self.supervisor.tell(p.StreamStatus(up=False, reason=reason))
            case WsEvent(kind="error", reason=reason):
                log.warning("executions stream error: %s", reason)
            case WsEvent():
                pass
            case p.GetHealth():
                return {
                    "connected": self.connected,
                    "sessions": self.sessions,
                    "messages": self.messages,
                    "last_message_at": self.last_message_at,
                    "last_disconnect": self.last_disconnect,
                }
        return None

    def _executions(self, message: ExecutionsMessage) -> None:
        snapshot = message.type == "snapshot"
        updates = []
        for execution in message.data:
            if execution.ratecount is not None and execution.symbol:
                pair = self.symbol_to_pair.get(execution.symbol, execution.symbol)
                self.gateway.tell(p.RateCounterReading(pair=pair, level=float(execution.ratecount)))
            if execution.order_id is None and execution.cl_ord_id is None:
                continue
            updates.append(update_from_execution(execution, snapshot=snapshot))
        if updates:
            self.supervisor.tell(p.ExchangeUpdates(updates=updates))
