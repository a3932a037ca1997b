"""Two ways to make one HTTP request for RestTransport, behind one interface.

- :class:`KeepAliveHttp`: one persistent ``http.client`` connection (TCP_NODELAY, TLS verified),
  reopened when the server has dropped it while idle. About a sixth of requests' CPU per call;
  the gateway's HTTP workers use it.
- :class:`RequestsHttp`: a ``requests.Session``. Slower, but it is what the ``responses`` test
  library intercepts, and it honours a caller's own session (adapters, certificates).

Both map failures to :class:`TransportError` the same way: ``connect_failed`` only when the
connection was never made (nothing can have been sent); once a request may have left, a failure
is a timeout or a reset, whose outcome the caller must treat as unknown.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
from collections.abc import Mapping
from typing import Literal, Protocol

import requests
import urllib3.exceptions

from gal_exec.kraken.errors import TransportError, TransportKind

__all__ = ["HttpBackend", "HttpKind", "KeepAliveHttp", "RequestsHttp"]

HttpKind = Literal["stdlib", "requests"]
"""Which backend a RestTransport builds: ``stdlib`` (KeepAliveHttp) or ``requests``."""


class HttpBackend(Protocol):
    """Sends one request to the origin; returns (status, body) or raises TransportError."""

    def request(
        self,
        method: str,
        target: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        endpoint: str,
    ) -> tuple[int, bytes]: ...

    def close(self) -> None: ...


def _never_connected(error: requests.ConnectionError) -> bool:
    """True when the TCP connection was never made (refused, unresolvable), so nothing was sent."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


class RequestsHttp:
    """A ``requests.Session`` against ``origin`` (scheme, host and path prefix)."""

    def __init__(
        self, origin: str, session: requests.Session, *, connect_timeout: float, read_timeout: float
    ) -> None:
        self._origin = origin
        self.session = session
        self._timeout = (connect_timeout, read_timeout)

    def request(
        self,
        method: str,
        target: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        endpoint: str,
    ) -> tuple[int, bytes]:
        try:
            url = self._origin + target
            if method == "POST":
                response = self.session.post(
                    url, data=body, headers=dict(headers), timeout=self._timeout
                )
            else:
                response = self.session.get(url, headers=dict(headers), timeout=self._timeout)
            return response.status_code, response.content
        except requests.ConnectTimeout:
            raise TransportError(
                TransportKind.CONNECT_FAILED, f"{endpoint}: connect timed out"
            ) from None
        except requests.Timeout:
            raise TransportError(TransportKind.TIMEOUT, f"{endpoint}: no reply in time") from None
        except requests.ConnectionError as error:
            if _never_connected(error):
                raise TransportError(
                    TransportKind.CONNECT_FAILED, f"{endpoint}: could not connect"
                ) from None
            raise TransportError(
                TransportKind.CONNECTION_RESET,
                f"{endpoint}: connection lost ({type(error).__name__})",
            ) from None
        except requests.RequestException as error:
            raise TransportError(
                TransportKind.CONNECTION_RESET, f"{endpoint}: {type(error).__name__}"
            ) from None

    def close(self) -> None:
        self.session.close()


def _dropped(sock: socket.socket | None) -> bool:
    """True when an idle keep-alive socket is readable: the server closed it (or sent something
    no request asked for), so it must not carry the next request."""
    if sock is None:
        return True
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    poller = select.poll()  # not select(): descriptors above 1024 are common with many threads
    poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


class KeepAliveHttp:
    """One persistent ``http.client`` connection to ``host:port``; not thread-safe (one per
    worker). ``verify`` is True (system CAs), a CA bundle path, or False (loopback only: the
    caller enforces that)."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int | None,
        *,
        prefix: str = "",
        connect_timeout: float,
        read_timeout: float,
        verify: bool | str = True,
    ) -> None:
        self._https = scheme == "https"
        self._host = host
        self._port = port
        self._prefix = prefix
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._context: ssl.SSLContext | None = None
        if self._https:
            if verify is False:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif isinstance(verify, str):
                context = ssl.create_default_context(cafile=verify)
            else:
                context = ssl.create_default_context()
            self._context = context
        self._connection: http.client.HTTPConnection | None = None
        self.connects = 0
        """Connections opened so far (a keep-alive reuses one)."""

    def _open(self, endpoint: str) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection
        if self._https:
            connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._connect_timeout, context=self._context
            )
        else:
            connection = http.client.HTTPConnection(
                self._host, self._port, timeout=self._connect_timeout
            )
        try:
            connection.connect()  # TCP and, for https, the TLS handshake: nothing sent yet
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise TransportError(
                TransportKind.CONNECT_FAILED,
                f"{endpoint}: could not connect ({type(error).__name__})",
            ) from None
        sock = connection.sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self._read_timeout)
        self.connects += 1
        return connection

    def request(
        self,
        method: str,
        target: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        endpoint: str,
    ) -> tuple[int, bytes]:
        connection = self._connection
        if connection is not None and _dropped(connection.sock):
            connection.close()  # closed by the server while idle: reopen before sending
            connection = None
        if connection is None:
            connection = self._connection = self._open(endpoint)
        try:
            connection.request(method, self._prefix + target, body=body, headers=dict(headers))
            response = connection.getresponse()
            data = response.read()
        except TimeoutError:
            self._discard()
            raise TransportError(TransportKind.TIMEOUT, f"{endpoint}: no reply in time") from None
        except (OSError, http.client.HTTPException) as error:
            # The request may have left: never "not sent".
            self._discard()
            raise TransportError(
                TransportKind.CONNECTION_RESET,
                f"{endpoint}: connection lost ({type(error).__name__})",
            ) from None
        if response.will_close:
            self._discard()
        return response.status, data

    def _discard(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def close(self) -> None:
        self._discard()
