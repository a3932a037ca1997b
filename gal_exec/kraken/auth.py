"""Kraken REST authentication: the API-Sign signature and credentials that never show their secret.

``API-Sign = base64(HMAC-SHA512(base64decode(secret), uri_path + SHA256(nonce + body)))``, computed
over the exact body bytes that go on the wire.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Mapping

from gal_exec.kraken.errors import CredentialsError

__all__ = [
    "ENV_NAME",
    "REDACTED",
    "Credentials",
    "load_credentials",
    "redact",
    "sign",
    "sign_with_key",
    "validate_secret",
]

REDACTED = "<redacted>"
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
"""What an environment variable's name looks like (the config checks the same pattern)."""

_SECRET_BYTES = 64


def validate_secret(secret: str) -> bytes:
    """Decode a base64 API secret; raise CredentialsError unless it gives exactly 64 bytes."""
    try:
        key = base64.b64decode(secret.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, AttributeError):
        # `from None`: the underlying message may quote parts of the secret.
        raise CredentialsError("API secret is not valid base64") from None
    if len(key) != _SECRET_BYTES:
        raise CredentialsError(
            f"API secret decodes to {len(key)} bytes; a Kraken secret decodes to {_SECRET_BYTES}"
        )
    return key


def sign_with_key(key: bytes, uri_path: str, nonce: int, body: bytes) -> str:
    """API-Sign for an already decoded secret ``key`` (see :func:`validate_secret`)."""
    digest = hashlib.sha256(str(nonce).encode("ascii") + body).digest()
    mac = hmac.new(key, uri_path.encode("ascii") + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode("ascii")


def sign(secret: str, uri_path: str, nonce: int, body: bytes) -> str:
    """API-Sign for ``body`` (the exact bytes sent, including ``nonce=...``) at ``uri_path``."""
    return sign_with_key(validate_secret(secret), uri_path, nonce, body)


class Credentials:
    """An API key and its secret; validated on creation, redacted in repr and str."""

    __slots__ = ("_key_bytes", "api_key", "api_secret")

    def __init__(self, api_key: str, api_secret: str) -> None:
        if not api_key or not api_key.strip():
            raise CredentialsError("API key is empty")
        self.api_key = api_key
        self.api_secret = api_secret
        self._key_bytes = validate_secret(api_secret)

    def sign(self, uri_path: str, nonce: int, body: bytes) -> str:
        """API-Sign for ``body`` at ``uri_path`` with this secret (decoded once, at creation)."""
        return sign_with_key(self._key_bytes, uri_path, nonce, body)

    def __repr__(self) -> str:
        return f"Credentials(api_key='{_abbreviate(self.api_key)}', api_secret=<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> None:  # type: ignore[override]
        # Pickling would copy the secret into queues, journals or crash dumps.
        raise TypeError("Credentials cannot be pickled")


def _abbreviate(api_key: str) -> str:
    return f"{api_key[:4]}..." if len(api_key) > 8 else "..."


def load_credentials(
    key_env: str, secret_env: str, environ: Mapping[str, str] = os.environ
) -> Credentials:
    """Credentials from environment variables; errors name the variable, never its value.

    A "name" that is not a plausible variable name (a key or secret pasted into the setting by
    mistake) is never printed either.
    """
    for setting, name in (("api_key_env", key_env), ("api_secret_env", secret_env)):
        if not ENV_NAME.fullmatch(name):
            raise CredentialsError(
                f"exchange.{setting} holds something that is not an environment variable name "
                "(not shown: it may be a secret); set it to the name of the variable that "
                "holds the value, like KRAKEN_API_SECRET"
            )
    values: dict[str, str] = {}
    for name in (key_env, secret_env):
        value = environ.get(name, "").strip()
        if not value:
            raise CredentialsError(f"environment variable {name} is not set or empty")
        values[name] = value
    try:
        validate_secret(values[secret_env])
    except CredentialsError as error:
        raise CredentialsError(f"environment variable {secret_env}: {error}") from None
    return Credentials(values[key_env], values[secret_env])


# Values that must never reach a log: in JSON ("token": "...") and in form or query strings.
_SENSITIVE_NAMES = "token|otp|secret|api_secret|api-secret|password|API-Key|API-Sign"
_JSON_SENSITIVE = re.compile(rf'("(?:{_SENSITIVE_NAMES})"\s*:\s*")[^"]*(")', re.IGNORECASE)
_FORM_SENSITIVE = re.compile(rf"(?<![\w-])((?:{_SENSITIVE_NAMES})=)[^&\s]*", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with token, otp, secret, API-Key and API-Sign values replaced by <redacted>."""
    text = _JSON_SENSITIVE.sub(rf"\g<1>{REDACTED}\g<2>", text)
    return _FORM_SENSITIVE.sub(rf"\g<1>{REDACTED}", text)
