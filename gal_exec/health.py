"""The operator's HTTP endpoint: ``/healthz``, ``/readyz`` and ``/metrics`` on one port.

A stdlib ThreadingHTTPServer (TCP_NODELAY, one thread per request), so health needs no extra
package; ``/metrics`` is served when prometheus-client is installed (otherwise it answers 404
saying so). Probes get JSON: ``/healthz`` 200 while the process and its actors answer, 503 when
they do not; ``/readyz`` 200 when the engine may take signals, 503 with the reasons when not.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec

__all__ = ["HealthServer", "Probe"]

log = logging.getLogger("gal_exec.health")

Probe = Callable[[], tuple[bool, dict[str, Any]]]
"""Answers (passing, JSON-able body)."""

_NO_METRICS = (
    b"metrics need the prometheus-client package: pip install 'gal-exec[metrics]'\n"
    b"(/healthz and /readyz work without it)\n"
)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "gal-exec"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        path = self.path.partition("?")[0].rstrip("/") or "/"
        owner = self.server.owner
        if path in ("/healthz", "/readyz"):
            probe = owner.live if path == "/healthz" else owner.ready
            try:
                passing, body = probe()
            except Exception as exc:  # a probe that cannot answer is a failing probe
                log.debug("%s failed", path, exc_info=True)
                passing, body = False, {"error": f"{type(exc).__name__}: {exc}"}
            self._send(200 if passing else 503, msgspec.json.encode(body), "application/json")
        elif path == "/metrics":
            if owner.metrics is None:
                self._send(404, _NO_METRICS, "text/plain; charset=utf-8")
                return
            try:
                text, content_type = owner.metrics()
            except Exception as exc:
                log.warning("metrics scrape failed: %s", exc)
                self._send(500, f"scrape failed: {exc}\n".encode(), "text/plain; charset=utf-8")
                return
            self._send(200, text, content_type)
        else:
            missing = b'{"error":"not found; try /healthz, /readyz or /metrics"}'
            self._send(404, missing, "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: HealthServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


class HealthServer:
    """Serves the probes and (optionally) the metrics on ``host:port`` (0: a free port)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        live: Probe,
        ready: Probe,
        metrics: Callable[[], tuple[bytes, str]] | None = None,
    ) -> None:
        self.live = live
        self.ready = ready
        self.metrics = metrics
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"gal-exec-http-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
