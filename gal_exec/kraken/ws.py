"""Kraken WebSocket v2 client: one reader thread that connects, (re)subscribes, watches
liveness, reconnects with jittered backoff and hands every decoded message to its owner.

The owner learns of every connect and disconnect through ``on_event`` so it can reconcile
after a gap; a fresh executions snapshot is requested on every connection.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import threading
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

import msgspec
import websocket

from gal_exec.core.clock import Clock, SystemClock
from gal_exec.kraken.ws_codec import (
    MalformedMessage,
    SubscriptionAck,
    WsRequest,
    decode_message,
    encode,
    ping,
    redact,
    subscribe_executions,
    subscribe_ticker,
)

__all__ = [
    "ExecutionsSubscription",
    "KrakenWsClient",
    "Subscription",
    "TickerSubscription",
    "WsError",
    "WsEvent",
    "WsNotConnected",
    "WsSendFailed",
    "full_jitter_delay",
]

logger = logging.getLogger("gal_exec.kraken.ws")


class WsEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A change in the connection's life, told to the owner.

    ``attempt`` counts tries since the last healthy connection (1 = first try);
    ``session`` counts successful connections, so ``connected`` with session > 1 is a reconnect.
    """

    kind: Literal["connected", "disconnected", "subscribed", "error"]
    url: str
    attempt: int
    session: int
    reason: str = ""
    time: float


class ExecutionsSubscription(msgspec.Struct, frozen=True, kw_only=True):
    """The private executions channel; always with a fresh snapshot on (re)connect."""

    snap_orders: bool = True
    snap_trades: bool = True
    ratecounter: bool = True
    order_status: bool = True
    needs_token: ClassVar[bool] = True

    def request(self, token: str | None, req_id: int | None = None) -> WsRequest:
        if token is None:
            raise WsError("the executions channel needs a token_provider")
        return subscribe_executions(
            token,
            snap_orders=self.snap_orders,
            snap_trades=self.snap_trades,
            ratecounter=self.ratecounter,
            order_status=self.order_status,
            req_id=req_id,
        )


class TickerSubscription(msgspec.Struct, frozen=True, kw_only=True):
    """The public ticker channel for some symbols."""

    symbols: tuple[str, ...]
    event_trigger: Literal["trades", "bbo"] = "trades"
    snapshot: bool = True
    needs_token: ClassVar[bool] = False

    def request(self, token: str | None = None, req_id: int | None = None) -> WsRequest:
        return subscribe_ticker(
            self.symbols, event_trigger=self.event_trigger, snapshot=self.snapshot, req_id=req_id
        )


Subscription = ExecutionsSubscription | TickerSubscription


class WsError(Exception):
    """Base of the WS client's errors."""


class WsNotConnected(WsError):
    """send() found no live connection: nothing left this process."""


class WsSendFailed(WsError):
    """The socket failed during send(): the frame may or may not have reached Kraken."""


def full_jitter_delay(failures: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Seconds to wait before reconnect number ``failures`` (1-based): uniform in
    [0, min(cap, base * 2**(failures-1))], so many clients never reconnect in step."""
    ceiling = cap_s if failures > 60 else min(cap_s, base_s * 2 ** max(failures - 1, 0))
    return rng.uniform(0.0, ceiling)


class KrakenWsClient:
    """A self-healing WS v2 connection run by one daemon reader thread.

    on_message receives each decoded Struct (ws_codec) in arrival order; on_event receives
    WsEvent; on_idle, if given, is called once every message received so far has been passed
    to on_message, before the reader waits for more (so a consumer may gather what a burst
    brings and pass it on in one go). All are called on the reader thread and must return
    quickly (a Pykka tell).
    """

    def __init__(
        self,
        url: str,
        *,
        on_message: Callable[[object], None],
        on_event: Callable[[WsEvent], None],
        on_idle: Callable[[], None] | None = None,
        token_provider: Callable[[], str] | None = None,
        subscriptions: Sequence[Subscription] = (),
        clock: Clock | None = None,
        ping_interval_s: float = 20.0,
        liveness_timeout_s: float = 10.0,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        healthy_after_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        rng: random.Random | None = None,
        name: str = "ws",
    ) -> None:
        if liveness_timeout_s <= 0 or ping_interval_s <= 0:
            raise ValueError("liveness_timeout_s and ping_interval_s must be positive")
        if any(sub.needs_token for sub in subscriptions) and token_provider is None:
            raise ValueError("an executions subscription needs a token_provider")
        self.url = url
        self.name = name
        self._on_message = on_message
        self._on_event = on_event
        self._on_idle = on_idle
        self._token_provider = token_provider
        self._subscriptions: list[Subscription] = list(subscriptions)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._ping_interval_s = ping_interval_s
        self._liveness_timeout_s = liveness_timeout_s
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._healthy_after_s = healthy_after_s
        self._connect_timeout_s = connect_timeout_s
        # The poll only paces liveness checks and pings; stop() wakes recv by aborting.
        self._poll_s = min(1.0, liveness_timeout_s / 4, ping_interval_s / 4)
        self._rng = rng if rng is not None else random.Random()
        self._req_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._ws: websocket.WebSocket | None = None
        self._token: str | None = None
        self._session = 0
        self._reconnect_reason: str | None = None
        self._subscriptions_sent = False

    # ------------------------------------------------------------ public surface

    def start(self) -> None:
        """Start the reader thread; it connects and keeps reconnecting until stop()."""
        with self._lock:
            if self._stopping.is_set():
                raise WsError(f"{self.name}: a stopped client cannot be restarted")
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name=f"{self.name}-reader", daemon=True
            )
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close the connection and join the reader thread; safe to call more than once."""
        with self._lock:
            self._stopping.set()
            ws = self._ws
            thread = self._thread
        if ws is not None:
            ws.abort()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
            if thread.is_alive():
                logger.warning("%s: reader thread did not stop within %.1fs", self.name, timeout_s)

    def send(
        self,
        message: WsRequest | msgspec.Struct | dict | bytes | str,
        *,
        session: int | None = None,
    ) -> None:
        """Send one frame from any thread. Raises WsNotConnected (nothing left) or WsSendFailed
        (it may have). With ``session``, only on that connection: after a reconnect the frame is
        not sent (its sender expects answers on the connection it knew)."""
        payload = message.encode() if isinstance(message, str) else message
        if not isinstance(payload, bytes):
            payload = encode(payload)
        with self._lock:
            ws = self._ws
            if ws is None:
                raise WsNotConnected(f"{self.name}: not connected to {self.url}")
            if session is not None and session != self._session:
                raise WsNotConnected(f"{self.name}: connection {session} has ended")
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("%s send %s", self.name, redact(payload).decode("utf-8", "replace"))
            sock = ws.sock
            if sock is None:
                raise WsNotConnected(f"{self.name}: the connection to {self.url} is closed")
            try:
                sock.sendall(client_frame(websocket.ABNF.OPCODE_TEXT, payload))
            except (websocket.WebSocketException, OSError) as exc:
                raise WsSendFailed(f"{self.name}: send failed, outcome unknown: {exc}") from exc

    def _pong(self, ws: websocket.WebSocket, payload: bytes) -> None:
        """Answer a protocol ping; under the send lock, so frames never interleave."""
        with self._lock:
            if self._ws is ws and ws.sock is not None:
                ws.sock.sendall(client_frame(websocket.ABNF.OPCODE_PONG, payload))

    def subscribe(self, subscription: Subscription) -> None:
        """Register a subscription for every future connection and send it now if connected."""
        if subscription.needs_token and self._token_provider is None:
            raise ValueError("an executions subscription needs a token_provider")
        with self._lock:
            self._subscriptions.append(subscription)
            token = self._token
            # Until the connection's own subscribing is done, that loop sends this one.
            send_now = self._ws is not None and self._subscriptions_sent
        if not send_now:
            return
        if subscription.needs_token and token is None:
            # The reader fetches tokens; a fresh connection subscribes everything with one.
            self.reconnect("a new private subscription needs a token")
            return
        # A token stays valid while its connection holds a private subscription.
        self.send(subscription.request(token, self.next_req_id()))

    def reconnect(self, reason: str = "reconnect requested by owner") -> None:
        """Drop the current connection; the reader reconnects (e.g. after an invalid token)."""
        with self._lock:
            ws = self._ws
            if ws is not None:
                self._reconnect_reason = reason
        if ws is not None:
            ws.abort()

    def next_req_id(self) -> int:
        """A fresh req_id from the client's sequence, for owners that send requests."""
        return next(self._req_ids)

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def session(self) -> int:
        """The number of the current (or last) connection."""
        return self._session

    @property
    def current_token(self) -> str | None:
        """The token of the live connection, for private requests. Never log it."""
        return self._token

    # ------------------------------------------------------------ reader thread

    def _run(self) -> None:
        failures = 0  # tries since the last healthy connection
        while not self._stopping.is_set():
            attempt = failures + 1
            ws = self._connect(attempt)
            healthy = False
            if ws is not None:
                started = self._clock.monotonic()
                reason = self._serve(ws, attempt)
                self._drop(ws)
                self._emit("disconnected", attempt, reason)
                healthy = self._clock.monotonic() - started >= self._healthy_after_s
            if self._stopping.is_set():
                break
            failures = 0 if healthy else failures + 1
            delay = full_jitter_delay(
                max(failures, 1), self._backoff_base_s, self._backoff_cap_s, self._rng
            )
            logger.info("%s: reconnecting to %s in %.2fs", self.name, self.url, delay)
            self._stopping.wait(delay)

    def _connect(self, attempt: int) -> websocket.WebSocket | None:
        try:
            # UTF-8 is checked by the JSON decoder anyway; websocket-client's own check is pure
            # Python and costs about a millisecond per execution report.
            ws = websocket.create_connection(
                self.url,
                timeout=self._connect_timeout_s,
                enable_multithread=True,
                skip_utf8_validation=True,
            )
        except (websocket.WebSocketException, OSError) as exc:
            self._emit("error", attempt, f"connect failed: {exc}")
            return None
        ws.settimeout(self._poll_s)
        with self._lock:
            if self._stopping.is_set():
                ws.shutdown()
                return None
            self._ws = ws
            self._session += 1
            self._reconnect_reason = None
        logger.info("%s: connected to %s (session %d)", self.name, self.url, self._session)
        self._emit("connected", attempt, "")
        return ws

    def _serve(self, ws: websocket.WebSocket, attempt: int) -> str:
        """Subscribe, then read until the connection ends; returns why it ended."""
        failure = self._subscribe_all()
        if failure is not None:
            return failure
        now = self._clock.monotonic()
        last_received = last_ping = now
        reader = FrameReader(ws.sock)
        while True:
            try:
                frame = reader.next()
                if frame is not None and frame[0] == websocket.ABNF.OPCODE_PING:
                    self._pong(ws, frame[1])
            except (websocket.WebSocketException, OSError) as exc:
                return self._end_reason(f"connection lost: {exc or type(exc).__name__}")
            now = self._clock.monotonic()
            if frame is not None:
                opcode, data = frame
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    return self._end_reason(f"server closed the connection{_close_detail(data)}")
                last_received = now
                if opcode in _DATA_OPCODES:
                    self._deliver(data, attempt)
            if self._on_idle is not None and not reader.ready():
                self._idle(self._on_idle)
            if self._stopping.is_set():
                return "stopped"
            silent_for = now - last_received
            if silent_for >= self._liveness_timeout_s:
                return f"no message for {silent_for:.2f}s (liveness timeout)"
            since_ping = now - last_ping
            # Ping on schedule, and probe early when the link has gone quiet.
            half_liveness = self._liveness_timeout_s / 2
            if since_ping >= self._ping_interval_s or (
                silent_for >= half_liveness and since_ping >= half_liveness
            ):
                last_ping = now
                try:
                    self.send(ping(self.next_req_id()))
                except WsError as exc:
                    return self._end_reason(f"ping failed: {exc}")

    def _subscribe_all(self) -> str | None:
        """Send every registered subscription; ones added meanwhile by subscribe() are
        picked up here, and once this returns subscribe() sends new ones itself."""
        token: str | None = None
        sent = 0
        while True:
            with self._lock:
                if sent == len(self._subscriptions):
                    self._subscriptions_sent = True
                    return None
                subscription = self._subscriptions[sent]
            if subscription.needs_token and token is None:
                try:
                    token = self._token_provider()  # type: ignore[misc]
                except Exception as exc:
                    reason = f"token provider failed: {type(exc).__name__}: {exc}"
                    return self._end_reason(reason)
                with self._lock:
                    self._token = token
            try:
                self.send(subscription.request(token, self.next_req_id()))
            except WsError as exc:
                return self._end_reason(f"subscribe failed: {exc}")
            sent += 1

    def _deliver(self, data: bytes, attempt: int) -> None:
        try:
            message = decode_message(data)
        except MalformedMessage as exc:
            logger.warning("%s: %s", self.name, exc)
            self._emit("error", attempt, str(exc))
            return
        if isinstance(message, SubscriptionAck) and message.method == "subscribe":
            if message.success and message.result is not None:
                target = message.result.channel
                if message.result.symbol:
                    target += f" {message.result.symbol}"
                self._emit("subscribed", attempt, target)
            elif not message.success:
                self._emit("error", attempt, f"subscribe rejected: {message.error}")
        try:
            self._on_message(message)
        except Exception:
            logger.exception("%s: on_message raised; message dropped", self.name)

    def _idle(self, hook: Callable[[], None]) -> None:
        try:
            hook()
        except Exception:
            logger.exception("%s: on_idle raised", self.name)

    def _end_reason(self, reason: str) -> str:
        if self._stopping.is_set():
            return "stopped"
        return self._reconnect_reason or reason

    def _drop(self, ws: websocket.WebSocket) -> None:
        with self._lock:
            if self._ws is ws:
                self._ws = None
            self._token = None
            self._subscriptions_sent = False
        ws.shutdown()

    def _emit(self, kind: str, attempt: int, reason: str) -> None:
        event = WsEvent(
            kind=kind,  # type: ignore[arg-type]
            url=self.url,
            attempt=attempt,
            session=self._session,
            reason=reason,
            time=self._clock.time(),
        )
        if kind in ("disconnected", "error") and reason != "stopped":
            logger.warning("%s: %s %s", self.name, kind, reason)
        try:
            self._on_event(event)
        except Exception:
            logger.exception("%s: on_event raised", self.name)


_DATA_OPCODES = frozenset({websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY})
_CONTINUATION = websocket.ABNF.OPCODE_CONT


class FrameReader:
    """Server frames from a connected socket, read in large chunks.

    websocket-client reads each frame with three or more ``recv`` calls (header, length,
    payload), each a system call that gives up the GIL; a burst of execution reports arrives in
    one segment, so here one ``recv`` usually carries several frames. Fragmented messages are
    joined; a masked frame (servers do not mask) is unmasked. ``next`` returns ``(opcode,
    payload)`` or None when the socket's timeout passed without a whole frame.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = bytearray()
        self._start = 0  # where the next frame begins in the buffer
        self._fragments: list[bytes] = []
        self._fragment_opcode = 0

    def next(self) -> tuple[int, bytes] | None:
        while True:
            frame = self._parse()
            if frame is None:
                # Drop what was parsed once per read, not once per frame.
                del self._buffer[: self._start]
                self._start = 0
                try:
                    chunk = self._sock.recv(_READ_SIZE)
                except TimeoutError:
                    return None
                if not chunk:
                    raise websocket.WebSocketConnectionClosedException(
                        "Connection to remote host was lost."
                    )
                self._buffer += chunk
                continue
            opcode, fin, payload = frame
            if opcode == _CONTINUATION:
                self._fragments.append(payload)
                if not fin:
                    continue
                payload = b"".join(self._fragments)
                opcode = self._fragment_opcode
                self._fragments = []
            elif opcode in _DATA_OPCODES and not fin:
                self._fragment_opcode = opcode
                self._fragments = [payload]
                continue
            return opcode, payload

    def ready(self) -> bool:
        """True if a whole final frame waits in the buffer: ``next`` returns it without
        reading the socket. (False says only that the next call may have to wait.)"""
        head = self._head()
        return head is not None and bool(head[0] & 0x80)

    def _head(self) -> tuple[int, int, int, bytes | None] | None:
        """(first byte, payload start, payload end, mask) of the whole frame at the buffer's
        read position, offsets from that position; None while the frame is incomplete."""
        buffer = self._buffer
        base = self._start
        available = len(buffer) - base
        if available < 2:
            return None
        first, second = buffer[base], buffer[base + 1]
        length = second & 0x7F
        start = 2
        if length == 126:
            start = 4
            if available < start:
                return None
            length = int.from_bytes(buffer[base + 2 : base + 4], "big")
        elif length == 127:
            start = 10
            if available < start:
                return None
            length = int.from_bytes(buffer[base + 2 : base + 10], "big")
        mask = None
        if second & 0x80:
            if available < start + 4:
                return None
            mask = bytes(buffer[base + start : base + start + 4])
            start += 4
        end = start + length
        if available < end:
            return None
        return first, start, end, mask

    def _parse(self) -> tuple[int, bool, bytes] | None:
        head = self._head()
        if head is None:
            return None
        first, start, end, mask = head
        base = self._start
        payload = bytes(self._buffer[base + start : base + end])
        self._start = base + end
        if mask is not None:
            payload = websocket.ABNF.mask(mask, payload)
        return first & 0x0F, bool(first & 0x80), payload


_READ_SIZE = 65536


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final client frame, masked as RFC 6455 requires of clients. (websocket-client's own
    send builds a frame object per call; this is a quarter of its CPU, on the order path.)"""
    size = len(payload)
    if size < 126:
        header = bytes((0x80 | opcode, 0x80 | size))
    elif size < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    key = os.urandom(4)
    repeated = (key * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        size, "little"
    )
    return header + key + masked


def _close_detail(frame: object) -> str:
    data = frame if isinstance(frame, bytes) else b""
    if len(data) >= 2:
        code = int.from_bytes(data[:2], "big")
        text = data[2:].decode("utf-8", "replace")
        return f" (code {code}{': ' + text if text else ''})"
    return ""
