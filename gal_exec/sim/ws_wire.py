"""Wire helpers for the simulator's WebSocket v2 server: JSON framing, timestamps, responses.

Prices and quantities go out as JSON numbers carrying the Decimal's exact digits (never via
float, never in exponent form) and come in as Decimal, as Kraken's v2 API does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

__all__ = [
    "RequestError",
    "decode",
    "encode",
    "error_response",
    "parse_rfc3339",
    "rfc3339",
    "success_response",
]

_ENCODER = msgspec.json.Encoder(decimal_format="number")
_DECODER = msgspec.json.Decoder(float_hook=Decimal)


class RequestError(Exception):
    """A request the server answers with ``success: false``; ``message`` is the wire text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def encode(message: Any) -> bytes:
    """JSON bytes for a message; Decimals become plain JSON numbers with their exact digits."""
    return _ENCODER.encode(_plain(message))


def decode(raw: str | bytes) -> Any:
    """Parse one inbound JSON text; non-integer numbers become Decimal. Raises ValueError."""
    try:
        return _DECODER.decode(raw)
    except msgspec.DecodeError as error:
        raise ValueError(str(error)) from None


def _plain(value: Any) -> Any:
    # msgspec writes str(Decimal), which uses exponent form for 1E+3 or 1E-8; Kraken never does.
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot put a non-finite number on the wire: {value}")
        if "E" in str(value):
            return msgspec.Raw(format(value, "f").encode("ascii"))
        return value
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def rfc3339(epoch_seconds: float) -> str:
    """RFC3339 UTC with microseconds and a ``Z``, e.g. ``2023-09-24T14:10:23.799685Z``."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> float:
    """Epoch seconds of an RFC3339 timestamp (``Z`` or an offset; no zone means UTC)."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def success_response(
    method: str, req_id: Any, result: Any, time_in: str, time_out: str
) -> dict[str, Any]:
    """A ``success: true`` answer to a method, with ``req_id`` only when the request had one."""
    response: dict[str, Any] = {"method": method}
    if req_id is not None:
        response["req_id"] = req_id
    if result is not None:
        response["result"] = result
    response.update(success=True, time_in=time_in, time_out=time_out)
    return response


def error_response(
    method: str | None,
    req_id: Any,
    error: str,
    time_in: str,
    time_out: str,
    **extra: Any,
) -> dict[str, Any]:
    """A ``success: false`` answer; WS v2 errors are one string, not REST's array."""
    response: dict[str, Any] = {"error": error}
    if method is not None:
        response["method"] = method
    if req_id is not None:
        response["req_id"] = req_id
    response.update(extra)
    response.update(success=False, time_in=time_in, time_out=time_out)
    return response
