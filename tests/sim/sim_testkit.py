"""Helpers for the simulator's tests: a raw signed Kraken REST client and simulator factories."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import itertools
import json
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

from gal_exec.config import SimConfig
from gal_exec.core.clock import ManualClock
from gal_exec.sim import DEMO_API_KEY, DEMO_API_SECRET, Exchange, Simulator

START = 1_700_000_000.0


def manual_config(**changes: Any) -> SimConfig:
    """A deterministic config: manual clock, flat prices, no spread unless asked."""
    values: dict[str, Any] = {"clock": "manual", "volatility_bps": 0.0, "spread_bps": 0.0}
    values.update(changes)
    return SimConfig(**values)


def exchange(**changes: Any) -> tuple[Exchange, ManualClock]:
    """An Exchange on a ManualClock (no servers)."""
    clock = ManualClock(START)
    return Exchange(manual_config(**changes), clock), clock


def simulator(**changes: Any) -> Simulator:
    return Simulator(manual_config(**changes), clock=ManualClock(START))


def sign(secret: str, path: str, nonce: str, body: bytes) -> str:
    digest = hashlib.sha256(nonce.encode() + body).digest()
    mac = hmac.new(base64.b64decode(secret), path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


class Client:
    """Kraken REST over http.client: signed private calls, public calls, control calls."""

    def __init__(self, base_url: str, key: str = DEMO_API_KEY, secret: str = DEMO_API_SECRET):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.key, self.secret = key, secret
        self._nonces = itertools.count(time.time_ns())

    def nonce(self) -> int:
        return next(self._nonces)

    def request(
        self, verb: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            connection.request(verb, path, body, headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def private_raw(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        json_body: bool = False,
        nonce: Any = None,
        key: str | None = None,
        secret: str | None = None,
        sign_body: bytes | None = None,
    ) -> tuple[int, bytes]:
        params = dict(params or {})
        params["nonce"] = self.nonce() if nonce is None else nonce
        body = (json.dumps(params) if json_body else urlencode(params)).encode()
        path = f"/0/private/{method}"
        headers = {
            "API-Key": key or self.key,
            "API-Sign": sign(
                secret or self.secret,
                path,
                str(params["nonce"]),
                sign_body if sign_body is not None else body,
            ),
            "Content-Type": "application/json"
            if json_body
            else "application/x-www-form-urlencoded",
        }
        return self.request("POST", path, body, headers)

    def private(self, method: str, params: dict[str, Any] | None = None, **options: Any):
        """The whole JSON answer ``{"error": [...], "result"?: ...}`` of a private call."""
        status, body = self.private_raw(method, params, **options)
        assert status == 200, (status, body)
        return json.loads(body, parse_float=Decimal)

    def ok(self, method: str, params: dict[str, Any] | None = None, **options: Any) -> Any:
        """The result of a private call that must succeed."""
        answer = self.private(method, params, **options)
        assert answer["error"] == [], answer
        return answer["result"]

    def error(self, method: str, params: dict[str, Any] | None = None, **options: Any) -> str:
        """The single error string of a private call that must fail (and carry no result)."""
        answer = self.private(method, params, **options)
        assert "result" not in answer and len(answer["error"]) == 1, answer
        return answer["error"][0]

    def public(self, method: str, query: str = "", verb: str = "GET", body: bytes = b""):
        path = f"/0/public/{method}" + (f"?{query}" if query else "")
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        status, raw = self.request(verb, path, body, headers)
        assert status == 200, (status, raw)
        return json.loads(raw)

    def control(self, verb: str, route: str, payload: Any = None) -> tuple[int, Any]:
        body = json.dumps(payload).encode() if payload is not None else b""
        status, raw = self.request(
            verb, f"/sim/{route}", body, {"Content-Type": "application/json"}
        )
        return status, json.loads(raw)
