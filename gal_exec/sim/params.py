"""Decoding of request parameters the way Kraken does it: lenient about spelling, strict about
meaning. Form values arrive as strings, JSON values as strings, numbers or booleans.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from gal_exec.sim.errors import invalid_arguments

__all__ = [
    "decimal_places",
    "get_bool",
    "get_decimal",
    "get_int",
    "get_text",
    "get_time",
    "parse_rfc3339",
]

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})
INT32 = (-(2**31), 2**31 - 1)


def get_text(params: Mapping[str, Any], name: str) -> str | None:
    """A parameter as stripped text; None when absent, null or empty."""
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    return text or None


def get_bool(params: Mapping[str, Any], name: str, default: bool = False) -> bool:
    """A boolean sent as true/false, "true"/"false" (any case), 1/0; else Invalid arguments."""
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise invalid_arguments(name)


def get_decimal(params: Mapping[str, Any], name: str) -> Decimal | None:
    """A finite decimal parameter (None when absent); Invalid arguments when malformed."""
    text = get_text(params, name)
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise invalid_arguments(name) from None
    if not value.is_finite():
        raise invalid_arguments(name)
    return value


def decimal_places(value: Decimal) -> int:
    """The decimal places a finite value needs: 0.0100 has 2, 5E+2 has 0."""
    exponent = value.normalize().as_tuple().exponent
    if not isinstance(exponent, int):
        raise ValueError(f"not a finite number: {value}")
    return max(0, -exponent)


def get_int(params: Mapping[str, Any], name: str, bounds: tuple[int, int] | None = None):
    """An integer parameter (None when absent); Invalid arguments when malformed or out of range."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise invalid_arguments(name)
    try:
        number = int(value) if isinstance(value, int) else int(str(value).strip())
    except ValueError:
        raise invalid_arguments(name) from None
    if bounds is not None and not bounds[0] <= number <= bounds[1]:
        raise invalid_arguments(name)
    return number


def get_time(params: Mapping[str, Any], name: str, now: float) -> float:
    """Kraken's time parameter: ``0``/absent -> 0, ``+n`` -> now + n seconds, else unix time."""
    text = get_text(params, name)
    if text is None or text == "0":
        return 0.0
    relative = text.startswith("+")
    try:
        value = float(Decimal(text[1:] if relative else text))
    except InvalidOperation:
        raise invalid_arguments(name) from None
    if value < 0:
        raise invalid_arguments(name)
    return now + value if relative else value


def parse_rfc3339(text: str) -> float:
    """Epoch seconds of an RFC3339 timestamp; ValueError when it is not one."""
    moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
