"""Kraken REST request signing, checked the way Kraken checks it, and the demo credentials.

``API-Sign = base64(HMAC-SHA512(base64decode(secret), uri_path + SHA256(nonce + body)))``. The
simulator verifies over the RAW body bytes as received, never a re-serialisation, so a client that
signs one text and sends another is caught exactly as Kraken would catch it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

__all__ = ["DEMO_API_KEY", "DEMO_API_SECRET", "NonceTracker", "decode_secret", "sign", "verify"]

DEMO_API_KEY = "gal-exec-sim-demo-key"
"""The simulator's built-in account key (a public key, not a secret)."""

DEMO_API_SECRET = (
    "D5WyMDup0S32owkHauUeXEWoaOAk0Kp9qitD5RqNVwqp0DP7qlkG9SOJwwtvv9yiduVpp5cmC2aBSgCbZ8Lkxw=="
)
"""The demo account's secret: valid base64 of 64 bytes, usable only against the simulator."""


def decode_secret(secret: str) -> bytes:
    """The HMAC key behind a base64 secret; ValueError if it is not base64 of 64 bytes."""
    try:
        key = base64.b64decode(secret.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("API secret is not valid base64") from None
    if len(key) != 64:
        raise ValueError(f"API secret decodes to {len(key)} bytes, not 64")
    return key


def sign(key: bytes, uri_path: str, nonce: str, body: bytes) -> str:
    """API-Sign for ``body`` at ``uri_path`` with the decoded secret ``key``."""
    digest = hashlib.sha256(nonce.encode("ascii") + body).digest()
    mac = hmac.new(key, uri_path.encode("ascii") + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode("ascii")


def verify(key: bytes, uri_path: str, nonce: str, body: bytes, api_sign: str) -> bool:
    """Whether ``api_sign`` is the signature of ``body``; constant-time comparison."""
    expected = sign(key, uri_path, nonce, body)
    return hmac.compare_digest(
        expected.encode("ascii"), api_sign.strip().encode("ascii", "replace")
    )


class NonceTracker:
    """Kraken's per-key nonce rule: each nonce above the last, or inside the optional window.

    The window is in nonce units (Kraken's "nonce window"). A nonce already seen is refused even
    inside the window, so a replayed request never executes twice.
    """

    _REMEMBERED = 4096

    def __init__(self, window: int = 0) -> None:
        self.window = window
        self.highest = 0
        self._recent: set[int] = set()
        self._order: list[int] = []

    def accept(self, nonce: int) -> bool:
        """Record ``nonce`` and return True if it is acceptable, else False (nothing recorded)."""
        if nonce <= 0:
            return False
        if nonce <= self.highest:
            if self.window <= 0 or self.highest - nonce >= self.window or nonce in self._recent:
                return False
        else:
            self.highest = nonce
        if self.window > 0:
            self._recent.add(nonce)
            self._order.append(nonce)
            if len(self._order) > self._REMEMBERED:
                self._recent.discard(self._order.pop(0))
        return True
