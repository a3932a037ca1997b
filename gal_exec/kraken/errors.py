"""Kraken's error strings, sorted into what the engine should do about them.

Kraken reports failures as strings such as ``"EOrder:Insufficient funds"``. The engine needs one
decision per failure: retry, back off, reconcile (the outcome is unknown), give up, or stop
trading because the key is refused. :func:`classify` makes that decision for an error string and
:func:`classify_transport` for a failure below Kraken's API (timeouts, resets, bad HTTP status).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from typing import Any

import msgspec

__all__ = [
    "PLACING_METHODS",
    "ClassifiedError",
    "CredentialsError",
    "ErrorCategory",
    "KrakenAPIError",
    "KrakenError",
    "MalformedResponse",
    "TransportError",
    "TransportKind",
    "classify",
    "classify_errors",
    "classify_transport",
    "is_unknown_order",
    "normalise",
]


PLACING_METHODS = frozenset({"AddOrder", "AddOrderBatch", "AmendOrder", "EditOrder"})
"""Kraken methods that create or change orders and are not safe to repeat: a failure whose
outcome is unclear means reconcile first. Cancels are not here: repeating one is harmless.
"""


class ErrorCategory(enum.StrEnum):
    """What the caller should do about a failed request."""

    RETRYABLE = "retryable"
    """Not processed, or harmless to repeat: retry with backoff."""
    RATE_LIMITED = "rate_limited"
    """Refused by a rate limit: wait (``retry_after`` when Kraken says how long), then retry."""
    OUTCOME_UNKNOWN = "outcome_unknown"
    """An order-entry call may or may not have taken effect: reconcile before anything else."""
    PERMANENT = "permanent"
    """The request itself is wrong or cannot succeed now: do not repeat it unchanged."""
    AUTH_OR_LOCKOUT = "auth_or_lockout"
    """The key is refused or locked out: stop private calls and tell a person."""


class TransportKind(enum.StrEnum):
    """Failures below Kraken's API, as :class:`TransportError` names them."""

    TIMEOUT = "timeout"
    CONNECTION_RESET = "connection_reset"
    HTTP_5XX = "http_5xx"
    HTTP_OTHER = "http_other"
    CONNECT_FAILED = "connect_failed"
    """The connection was never established (refused, DNS, connect timeout): nothing was sent."""


class ClassifiedError(msgspec.Struct, frozen=True, kw_only=True):
    """One classified failure: the decision plus the normalised code and Kraken's raw text."""

    category: ErrorCategory
    code: str
    raw: str
    retry_after: float | None = None
    """For ``EService: Throttled: <ts>``: the UNIX time Kraken says to retry after; else None."""

    def retry_delay(self, now: float) -> float | None:
        """Seconds from ``now`` until ``retry_after`` (at least 0), or None if Kraken gave none."""
        if self.retry_after is None:
            return None
        return max(0.0, self.retry_after - now)


class KrakenError(Exception):
    """Base of every error raised by gal_exec.kraken."""


def _rebuild(cls: type[KrakenError], args: tuple[Any, ...], kwargs: dict[str, Any]) -> KrakenError:
    """Re-create an error from its constructor arguments (so copy and pickle keep its fields)."""
    return cls(*args, **kwargs)


class KrakenAPIError(KrakenError):
    """Kraken answered with a non-empty ``error`` list."""

    def __init__(self, errors: Iterable[str], *, endpoint: str = "") -> None:
        self.errors: list[str] = list(errors)
        self.endpoint = endpoint
        where = f"{endpoint}: " if endpoint else ""
        super().__init__(f"{where}Kraken returned {', '.join(self.errors) or 'an empty error'}")

    def classify(self, *, placing: bool) -> ClassifiedError:
        """The decision for the whole reply (the most cautious of its errors)."""
        return classify_errors(self.errors, placing=placing)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.errors,), {"endpoint": self.endpoint}))


class TransportError(KrakenError):
    """The request failed below Kraken's API: ``kind`` is a :class:`TransportKind` value."""

    def __init__(self, kind: str, detail: str = "", *, status: int | None = None) -> None:
        self.kind = kind
        self.detail = detail
        self.status = status
        status_text = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"{kind}{status_text}: {detail}" if detail else f"{kind}{status_text}")

    def classify(self, *, placing: bool) -> ClassifiedError:
        """The decision for this failure; see :func:`classify_transport`."""
        return classify_transport(self.kind, placing=placing)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.kind, self.detail), {"status": self.status}))


class MalformedResponse(KrakenError):
    """A reply that is not JSON or does not have the shape the endpoint documents."""

    def __init__(self, endpoint: str, reason: str) -> None:
        self.endpoint = endpoint
        self.reason = reason
        super().__init__(f"malformed {endpoint} response: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.endpoint, self.reason))


class CredentialsError(KrakenError, ValueError):
    """API credentials are missing or malformed. The message never contains the secret."""


_RETRY = ErrorCategory.RETRYABLE
_LIMIT = ErrorCategory.RATE_LIMITED
_FIX = ErrorCategory.PERMANENT
_AUTH = ErrorCategory.AUTH_OR_LOCKOUT
_AMBIGUOUS = None  # placing -> outcome_unknown, query -> retryable

# Every error string Kraken documents, plus those clients have seen from it, normalised (no
# spaces around ':').
# Lookup is by longest prefix, so suffixed forms ("EGeneral:Invalid arguments:ordertype",
# "EGeneral:Internal error:12", "EService:Throttled:1700000000") land on their base entry.
_KNOWN: dict[str, ErrorCategory | None] = {
    # Rate limits: the REST counter, the per-pair trading counter, concurrency throttling.
    "EAPI:Rate limit exceeded": _LIMIT,
    "EService:Throttled": _LIMIT,
    "EOrder:Rate limit exceeded": _LIMIT,
    "EOrder:Domain rate limit exceeded": _LIMIT,
    "EAuth:Rate limit exceeded": _LIMIT,
    "EAuth:Too many requests": _LIMIT,
    "EGeneral:Too many requests": _LIMIT,
    # The exchange may have acted before failing: ambiguous for order entry.
    "EService:Unavailable": _AMBIGUOUS,
    "EService:Busy": _AMBIGUOUS,
    "EGeneral:Internal error": _AMBIGUOUS,
    "EDatabase:Internal error": _AMBIGUOUS,
    # The engine rejects a request that arrives after its deadline, but some clients report it
    # as ambiguous; reconciling by cl_ord_id is cheap, a duplicate order is not.
    "EService:Deadline elapsed": _AMBIGUOUS,
    # Not processed; wait for SystemStatus to return to online.
    "EService:Market in cancel_only mode": _RETRY,
    "EService:Market in post_only mode": _RETRY,
    # Refused at the door: the key, its permissions, its nonce or the account.
    "EGeneral:Temporary lockout": _AUTH,
    "EAPI:Invalid key": _AUTH,
    "EAPI:Invalid signature": _AUTH,
    # Rejected before processing; the gateway may retry once with a fresh nonce, but repeats
    # lead to a ban, so the breaker must see it.
    "EAPI:Invalid nonce": _AUTH,
    "EGeneral:Permission denied": _AUTH,
    "EAccount:Invalid permissions": _AUTH,
    "EAuth:Account temporary disabled": _AUTH,
    "EAuth:Account unconfirmed": _AUTH,
    "EAuth:Failed": _AUTH,
    # WS token expired or unknown: not processed; fetch a new token and resend.
    "EAPI:Invalid token": _RETRY,
    "ESession:Invalid session": _RETRY,
    # The request is wrong or cannot be satisfied as it stands.
    "EGeneral:Invalid arguments": _FIX,
    "EGeneral:Unknown method": _FIX,
    "EAPI:Bad request": _FIX,
    "EAPI:Feature disabled": _FIX,
    "EQuery:Unknown asset pair": _FIX,
    "EQuery:Unknown asset": _FIX,
    "EOrder:Cannot open opposing position": _FIX,
    "EOrder:Cannot open position": _FIX,
    "EOrder:Margin allowance exceeded": _FIX,
    "EOrder:Margin level too low": _FIX,
    "EOrder:Margin position size exceeded": _FIX,
    "EOrder:Insufficient margin": _FIX,
    "EOrder:Insufficient funds": _FIX,
    "EOrder:Order minimum not met": _FIX,
    "EOrder:Cost minimum not met": _FIX,
    "EOrder:Tick size check failed": _FIX,
    "EOrder:Orders limit exceeded": _FIX,
    "EOrder:Invalid price": _FIX,
    "EOrder:Positions limit exceeded": _FIX,
    "EOrder:Reduce only:Non-PC": _FIX,
    "EOrder:Reduce only:No position exists": _FIX,
    "EOrder:Reduce only:Position is closed": _FIX,
    "EOrder:Scheduled orders limit exceeded": _FIX,
    "EOrder:Unknown position": _FIX,
    "EOrder:Unknown order": _FIX,
    "EOrder:Invalid order": _FIX,
    "EOrder:Duplicate client order id": _FIX,
    "EOrder:Trading agreement required": _FIX,
    "ETrade:Invalid request": _FIX,
    "ETrade:Locked": _FIX,
    "EBM:limit exceeded:CAL": _FIX,
    "EFunding:Max fee exceeded": _FIX,
}

_UNKNOWN_ORDER_CODES = frozenset({"EOrder:Unknown order", "EOrder:Invalid order"})
_SEVERITY = {
    ErrorCategory.OUTCOME_UNKNOWN: 5,
    ErrorCategory.AUTH_OR_LOCKOUT: 4,
    ErrorCategory.PERMANENT: 3,
    ErrorCategory.RATE_LIMITED: 2,
    ErrorCategory.RETRYABLE: 1,
}


def normalise(error: str) -> str:
    """Kraken's text with surrounding and colon-adjacent spaces removed."""
    return ":".join(part.strip() for part in error.strip().split(":"))


def _lookup(normalised: str) -> tuple[str, ErrorCategory | None, str] | None:
    """Longest known prefix of ``normalised`` (whole ':'-parts): (code, entry, remaining suffix)."""
    parts = normalised.split(":")
    for length in range(len(parts), 0, -1):
        prefix = ":".join(parts[:length])
        if prefix in _KNOWN:
            return prefix, _KNOWN[prefix], ":".join(parts[length:])
    return None


def _parse_timestamp(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def classify(error: str, *, placing: bool) -> ClassifiedError:
    """Classify one Kraken error string; ``placing`` is True for calls that create or change orders.

    An unrecognised string is OUTCOME_UNKNOWN when placing (we cannot rule out that the order
    exists, and reconciling by cl_ord_id is cheap) and PERMANENT otherwise: repeating a query that
    fails for a reason we do not understand risks a lockout, and surfacing it lets a person look.
    """
    normalised = normalise(error)
    found = _lookup(normalised)
    if found is None:
        parts = normalised.split(":")
        code = ":".join(parts[:2])
        category = ErrorCategory.OUTCOME_UNKNOWN if placing else ErrorCategory.PERMANENT
        return ClassifiedError(category=category, code=code, raw=error)
    code, entry, suffix = found
    if entry is None:
        entry = ErrorCategory.OUTCOME_UNKNOWN if placing else ErrorCategory.RETRYABLE
    retry_after = _parse_timestamp(suffix) if code == "EService:Throttled" and suffix else None
    return ClassifiedError(category=entry, code=code, raw=error, retry_after=retry_after)


def classify_errors(errors: Iterable[str], *, placing: bool) -> ClassifiedError:
    """Classify a reply's error list: the most cautious of its entries decides."""
    classified = [classify(error, placing=placing) for error in errors]
    if not classified:
        raise ValueError("classify_errors needs at least one error string")
    return max(classified, key=lambda item: _SEVERITY[item.category])


def classify_transport(kind: str, *, placing: bool) -> ClassifiedError:
    """Classify a failure below the API: ambiguous for order entry unless nothing was sent.

    ``connect_failed`` means the connection was never made, so the request cannot have arrived;
    every other kind (timeout, reset, 5xx, other HTTP status, or an unknown kind) may have reached
    the matching engine.
    """
    if kind == TransportKind.CONNECT_FAILED:
        category = ErrorCategory.RETRYABLE
    else:
        category = ErrorCategory.OUTCOME_UNKNOWN if placing else ErrorCategory.RETRYABLE
    return ClassifiedError(category=category, code=f"transport:{kind}", raw=kind)


def is_unknown_order(error: str) -> bool:
    """True for the strings Kraken uses when an order id is unknown or already gone."""
    found = _lookup(normalise(error))
    return found is not None and found[0] in _UNKNOWN_ORDER_CODES
