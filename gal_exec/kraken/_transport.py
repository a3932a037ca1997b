"""The HTTP layer under KrakenRestClient: one keep-alive connection, signed private POSTs, public
GETs, failures mapped to TransportError, and DEBUG logs with every secret redacted.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from gal_exec.core.clock import Clock
from gal_exec.kraken._http import HttpBackend, HttpKind, KeepAliveHttp, RequestsHttp
from gal_exec.kraken.auth import REDACTED, Credentials, redact
from gal_exec.kraken.codec import decode_response
from gal_exec.kraken.errors import CredentialsError, TransportError, TransportKind
from gal_exec.kraken.nonce import NonceSequencer

__all__ = ["Params", "RestTransport"]

# The client's logger: requests and replies at DEBUG, redacted.
_LOG = logging.getLogger("gal_exec.kraken.rest")
_LOG_BODY_LIMIT = 2000
_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"

Params = Mapping[str, str] | Sequence[tuple[str, str]]
"""Form or query fields, in the order they are sent."""


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RestTransport:
    """Kraken's REST API over one keep-alive connection.

    ``http`` picks the backend (gal_exec.kraken._http): ``"requests"`` (the default; a
    ``requests.Session``, which the ``responses`` test library intercepts) or ``"stdlib"`` (one
    ``http.client`` connection, about a sixth of the CPU per call: the gateway's workers use it).
    A given ``session`` implies ``"requests"``.

    ``base_url`` is the scheme and host (``https://api.kraken.com``; a trailing ``/0`` is
    accepted). Plain HTTP and ``verify=False`` are refused unless the host is loopback (a local
    simulator). Private calls take their nonce from ``nonce`` (one sequencer per API key, shared
    by every client of that key) through its gate, holding it around "take nonce, sign, send,
    read the reply" so requests reach Kraken in nonce order; with ``nonce_window > 0`` (Kraken's
    per-key tolerance, in microseconds here) calls may overlap.
    """

    def __init__(
        self,
        base_url: str,
        credentials: Credentials | None,
        *,
        nonce: NonceSequencer | None = None,
        clock: Clock,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        user_agent: str = "gal-exec/0.1",
        nonce_window: int = 0,
        session: requests.Session | None = None,
        verify: bool | str = True,
        http: HttpKind = "requests",
    ) -> None:
        parts = urlsplit(base_url)
        loopback = _is_loopback(parts.hostname)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port], got {base_url!r}")
        if parts.scheme == "http" and not loopback:
            raise ValueError(f"refusing plain http to {parts.hostname}: use https")
        session_verify = session.verify if session is not None else True
        if (verify is False or session_verify is False) and not loopback:
            raise ValueError(f"refusing to disable TLS verification for {parts.hostname}")
        prefix = parts.path.rstrip("/")
        prefix = prefix.removesuffix("/0")
        self._credentials = credentials
        self._clock = clock
        self._user_agent = user_agent
        self._http: HttpBackend
        if http == "stdlib" and session is None:
            self._http = KeepAliveHttp(
                parts.scheme,
                parts.hostname,
                parts.port,
                prefix=prefix,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                verify=verify,
            )
        else:
            if session is None:
                session = requests.Session()
                session.verify = verify
            session.trust_env = False  # no proxies or netrc from the environment
            session.headers["User-Agent"] = user_agent
            self._http = RequestsHttp(
                f"{parts.scheme}://{parts.netloc}{prefix}",
                session,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
            )
        if nonce is None and credentials is not None:
            nonce = NonceSequencer(clock)
        self.nonce = nonce
        self._gate = nonce.gate(nonce_window) if nonce is not None else None

    # --- low level ----------------------------------------------------------------------------

    def private(self, method: str, params: Params | None = None) -> bytes:
        """POST a signed private call; return the raw body of a 200 reply.

        Raises TransportError for timeouts, connection failures and non-200 statuses, and
        CredentialsError when the client has no credentials. Does not decode the body.
        """
        if self._credentials is None or self._gate is None:
            raise CredentialsError(f"private call {method} needs API credentials")
        credentials = self._credentials
        uri_path = f"/0/private/{method}"
        fields = list(params.items()) if isinstance(params, Mapping) else list(params or ())
        with self._gate.issue() as nonce:
            body = urlencode([("nonce", str(nonce)), *fields]).encode("ascii")
            headers = {
                "User-Agent": self._user_agent,
                "API-Key": credentials.api_key,
                "API-Sign": credentials.sign(uri_path, nonce, body),
                "Content-Type": _FORM_CONTENT_TYPE,
            }
            if _LOG.isEnabledFor(logging.DEBUG):
                _LOG.debug(
                    "POST %s API-Key=%s API-Sign=%s body=%s",
                    uri_path,
                    REDACTED,
                    REDACTED,
                    self._loggable(body),
                )
            started = self._clock.monotonic()
            status, content = self._http.request(
                "POST", uri_path, body=body, headers=headers, endpoint=method
            )
            return self._check(method, status, content, started)

    def public(self, method: str, params: Params | None = None) -> bytes:
        """GET a public endpoint; return the raw body of a 200 reply (errors as :meth:`private`)."""
        uri_path = f"/0/public/{method}"
        query = list(params.items()) if isinstance(params, Mapping) else list(params or ())
        target = f"{uri_path}?{urlencode(query)}" if query else uri_path
        if _LOG.isEnabledFor(logging.DEBUG):
            _LOG.debug("GET %s query=%s", uri_path, self._loggable(urlencode(query).encode()))
        started = self._clock.monotonic()
        status, content = self._http.request(
            "GET", target, body=None, headers={"User-Agent": self._user_agent}, endpoint=method
        )
        return self._check(method, status, content, started)

    def _check(self, method: str, status: int, content: bytes, started: float) -> bytes:
        if _LOG.isEnabledFor(logging.DEBUG):
            elapsed_ms = (self._clock.monotonic() - started) * 1000
            _LOG.debug(
                "%s -> HTTP %s in %.1f ms body=%s",
                method,
                status,
                elapsed_ms,
                self._loggable(content),
            )
        if status >= 500:
            raise TransportError(TransportKind.HTTP_5XX, f"{method}: server error", status=status)
        if status != 200:
            raise TransportError(TransportKind.HTTP_OTHER, f"{method}: unexpected", status=status)
        return content

    @staticmethod
    def _loggable(body: bytes) -> str:
        text = body[:_LOG_BODY_LIMIT].decode("utf-8", errors="replace")
        suffix = f"... ({len(body)} bytes)" if len(body) > _LOG_BODY_LIMIT else ""
        return redact(text) + suffix

    def _call(self, method: str, result_type: Any, params: Params | None = None) -> Any:
        return decode_response(self.private(method, params), result_type, endpoint=method)

    def _public_call(self, method: str, result_type: Any, params: Params | None = None) -> Any:
        return decode_response(self.public(method, params), result_type, endpoint=method)

    def close(self) -> None:
        """Close the connection (a later call opens a new one)."""
        self._http.close()

    def __enter__(self) -> RestTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
