"""The simulator's Kraken WebSocket v2 endpoints on loopback, over the exchange core.

Two instances play ``wss://ws.kraken.com/v2`` (``public=True``: ticker) and
``wss://ws-auth.kraken.com/v2`` (``public=False``: executions and the trading methods, plus
ticker). Each connection gets a status message, then serves ping, subscribe/unsubscribe and the
trading methods; updates come from the exchange's callbacks. See ``ws_session`` for the details.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any, Self

from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from gal_exec.sim.ws_session import WsSession

__all__ = ["SimWsServer"]

log = logging.getLogger(__name__)

_PATH = "/v2"


class SimWsServer:
    """A threaded WebSocket v2 server for one endpoint; ``start()``, then ``url``, ``stop()``."""

    def __init__(
        self,
        exchange: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        public: bool,
        heartbeat_interval_s: float = 1.0,
        close_timeout_s: float = 0.5,
    ) -> None:
        self.exchange = exchange
        self.public = public
        self._host = host
        self._port = port
        self._heartbeat_interval_s = heartbeat_interval_s
        self._close_timeout_s = close_timeout_s
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._sessions: set[WsSession] = set()
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> Self:
        """Bind and serve in a background thread; returns self. Idempotent while running."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("a stopped SimWsServer cannot be started again")
            if self._server is not None:
                return self
            self._server = serve(
                self._handle,
                self._host,
                self._port,
                process_request=_only_v2,
                compression=None,
                ping_interval=None,
                close_timeout=self._close_timeout_s,
                logger=logging.getLogger("gal_exec.sim.ws_server.websockets"),
            )
            self._port = self._server.socket.getsockname()[1]
            name = f"sim-ws-{'public' if self.public else 'auth'}-{self._port}"
            self._thread = threading.Thread(
                target=self._server.serve_forever, name=name, daemon=True
            )
            self._thread.start()
        log.info("sim ws (%s) listening on %s", "public" if self.public else "auth", self.url)
        return self

    def stop(self) -> None:
        """Stop accepting, close every connection (1001), join the threads. Idempotent."""
        with self._lock:
            server, self._server = self._server, None
            thread, self._thread = self._thread, None
            self._stopped = True
        if server is None:
            return
        server.shutdown()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def port(self) -> int:
        """The bound TCP port (the ephemeral one once started with ``port=0``)."""
        return self._port

    @property
    def url(self) -> str:
        """``ws://<host>:<port>/v2``."""
        return f"ws://{self._host}:{self._port}{_PATH}"

    @property
    def connection_count(self) -> int:
        """Connections currently being served."""
        with self._lock:
            return len(self._sessions)

    def disconnect_all(self) -> int:
        """Cut every connection abruptly (no close frame), as a network drop; returns how many."""
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.abort()
        return len(sessions)

    def _handle(self, connection: ServerConnection) -> None:
        session = WsSession(
            connection,
            self.exchange,
            public=self.public,
            heartbeat_interval_s=self._heartbeat_interval_s,
        )
        with self._lock:
            self._sessions.add(session)
        try:
            session.run()
        finally:
            with self._lock:
                self._sessions.discard(session)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _only_v2(connection: ServerConnection, request: Request) -> Response | None:
    """Refuse paths other than /v2 (Kraken's root path is the v1 API)."""
    path = request.path.split("?", 1)[0].rstrip("/")
    if path != _PATH:
        return connection.respond(404, f"no WebSocket API at {path or '/'}; use {_PATH}\n")
    return None
