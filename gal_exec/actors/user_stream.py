"""UserStream: runs the authenticated WebSocket that carries the executions subscription and the
gateway's order entry.

The WS client's reader thread decodes each frame and hands it straight to the actor that needs
it, with no hop through this actor: each execution becomes an OrderUpdate told to the supervisor
(those of a burst of frames together, once the reader has no further frame at hand),
every connect and disconnect a StreamStatus (so order actors reconcile after a gap), the rate
counter a RateCounterReading for the gateway, and each answer to an order-entry method a
TradingReply for the gateway. Once the executions subscription is acknowledged the gateway is told
TradingChannelUp (the connection may carry orders), and TradingChannelDown when it ends: told from
the same thread, these arrive in order with the replies, so a reply read before a drop is never
mistaken for a lost one.

This actor owns the client's life (start, stop) and answers GetHealth.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

import msgspec

from gal_exec.actors import protocol as p
from gal_exec.actors.runtime import ThreadActor
from gal_exec.core.clock import Clock
from gal_exec.core.updates import OrderUpdate
from gal_exec.kraken.updates import update_from_execution
from gal_exec.kraken.ws import ExecutionsSubscription, KrakenWsClient, WsEvent
from gal_exec.kraken.ws_codec import ExecutionsMessage, MethodResponse

__all__ = ["TRADING_METHODS", "StreamHealth", "StreamRouter", "UserStream"]

log = logging.getLogger("gal_exec.stream")

TRADING_METHODS = frozenset(
    {
        "add_order",
        "amend_order",
        "cancel_order",
        "batch_add",
        "batch_cancel",
        "cancel_all",
        "cancel_all_orders_after",
    }
)
"""WS v2 methods whose answers belong to the gateway."""

Inbox = p.GetHealth


class StreamHealth(msgspec.Struct, frozen=True, kw_only=True):
    connected: bool
    """Subscribed to executions on a live connection."""
    sessions: int
    """Connections made since start (the current one's number)."""
    messages: int
    last_message_at: float | None
    last_disconnect: str


class StreamRouter:
    """What the reader thread does with each decoded frame and connection event."""

    def __init__(
        self,
        *,
        supervisor: p.Tellable,
        gateway: p.Tellable,
        clock: Clock,
        symbol_to_pair: dict[str, str],
    ) -> None:
        self.supervisor = supervisor
        self.gateway = gateway
        self.clock = clock
        self.symbol_to_pair = symbol_to_pair
        self.pair_to_symbol = {pair: symbol for symbol, pair in symbol_to_pair.items()}
        self.client: Any = None
        self._updates: list[OrderUpdate] = []  # read, not yet told (see flush)
        self._levels: dict[str, float] = {}  # rate counter per pair, the latest read
        self.connected = False
        self.sessions = 0
        self.messages = 0
        self.last_message_at: float | None = None
        self.last_disconnect = ""

    def message(self, message: object) -> None:
        self.messages += 1
        self.last_message_at = self.clock.time()
        if isinstance(message, ExecutionsMessage):
            self._executions(message)
        elif isinstance(message, MethodResponse) and (
            message.method in TRADING_METHODS or (message.method is None and not message.success)
        ):
            p.tell_quietly(
                self.gateway, p.TradingReply(session=self.client.session, response=message)
            )

    def flush(self) -> None:
        """Tell what the frames read so far brought: the updates to the supervisor in one
        ExchangeUpdates, the latest rate counter of each pair to the gateway. Called when the
        reader has no further frame at hand (KrakenWsClient's on_idle), so a burst of frames
        costs one message to each, and a lone frame is told at once."""
        if self._updates:
            updates, self._updates = self._updates, []
            p.tell_quietly(self.supervisor, p.ExchangeUpdates(updates=updates))
        if self._levels:
            levels, self._levels = self._levels, {}
            for pair, level in levels.items():
                p.tell_quietly(self.gateway, p.RateCounterReading(pair=pair, level=level))

    def event(self, event: WsEvent) -> None:
        self.flush()  # what was read before a connection event is told before it
        match event:
            case WsEvent(kind="connected", session=session):
                self.sessions = session
            case WsEvent(kind="subscribed", reason=reason) if reason.startswith("executions"):
                # Up only once subscribed: updates before the subscription are not ours to see,
                # and the acknowledgement proves the connection's token. A reconnect is a gap:
                # the snapshot that follows shows open orders, and each order catches up on the
                # rest with one batched status query.
                self.connected = True
                p.tell_quietly(self.supervisor, p.StreamStatus(up=True, gap=self.sessions > 1))
                p.tell_quietly(
                    self.gateway,
                    p.TradingChannelUp(
                        session=event.session,
                        channel=self.client,
                        symbols=self.pair_to_symbol,
                    ),
                )
            case WsEvent(kind="disconnected", reason=reason, session=session):
                if self.connected:
                    log.warning("executions stream disconnected: %s", reason)
                self.connected = False
                self.last_disconnect = reason
                p.tell_quietly(self.gateway, p.TradingChannelDown(session=session, reason=reason))
                p.tell_quietly(self.supervisor, p.StreamStatus(up=False, reason=reason))
            case WsEvent(kind="error", reason=reason):
                log.warning("executions stream error: %s", reason)
            case _:
                pass

    def _executions(self, message: ExecutionsMessage) -> None:
        snapshot = message.type == "snapshot"
        updates = self._updates
        for execution in message.data:
            if execution.ratecount is not None and execution.symbol:
                pair = self.symbol_to_pair.get(execution.symbol, execution.symbol)
                self._levels[pair] = float(execution.ratecount)
            if execution.order_id is None and execution.cl_ord_id is None:
                continue
            updates.append(update_from_execution(execution, snapshot=snapshot))

    def health(self) -> StreamHealth:
        return StreamHealth(
            connected=self.connected,
            sessions=self.sessions,
            messages=self.messages,
            last_message_at=self.last_message_at,
            last_disconnect=self.last_disconnect,
        )


class UserStream(ThreadActor):
    def __init__(
        self,
        *,
        url: str,
        token_provider: Callable[[], str],
        supervisor: p.Tellable,
        gateway: p.Tellable,
        clock: Clock,
        liveness_timeout_s: float = 5.0,
        symbol_to_pair: dict[str, str] | None = None,
        client_factory: Any = KrakenWsClient,
    ) -> None:
        super().__init__()
        self.router = StreamRouter(
            supervisor=supervisor,
            gateway=gateway,
            clock=clock,
            symbol_to_pair=symbol_to_pair or {},
        )
        self.client = client_factory(
            url,
            on_message=self.router.message,
            on_event=self.router.event,
            on_idle=self.router.flush,
            token_provider=token_provider,
            subscriptions=[ExecutionsSubscription()],
            clock=clock,
            liveness_timeout_s=liveness_timeout_s,
            name="executions",
        )
        self.router.client = self.client

    def on_start(self) -> None:
        self.client.start()

    def on_stop(self) -> None:
        self.client.stop()

    def on_receive(self, message: Any) -> StreamHealth | None:
        return self._handle(cast(Inbox, message))

    def _handle(self, message: Inbox) -> StreamHealth | None:
        match message:
            case p.GetHealth():
                return self.router.health()
            case _:
                p.unexpected(message, actor="UserStream", log=log)
        return None
