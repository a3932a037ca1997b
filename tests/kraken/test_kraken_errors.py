"""Error taxonomy over every error string Kraken documents, and transport failures."""

from __future__ import annotations

import copy
import pickle

import pytest

from gal_exec.kraken.errors import (
    ErrorCategory,
    KrakenAPIError,
    MalformedResponse,
    TransportError,
    classify,
    classify_errors,
    classify_transport,
    is_unknown_order,
    normalise,
)

RETRY = ErrorCategory.RETRYABLE
LIMIT = ErrorCategory.RATE_LIMITED
UNKNOWN = ErrorCategory.OUTCOME_UNKNOWN
FIX = ErrorCategory.PERMANENT
AUTH = ErrorCategory.AUTH_OR_LOCKOUT

# (raw string, category when placing, category on a query, normalised code)
DOCUMENTED = [
    ("EGeneral:Invalid arguments", FIX, FIX, "EGeneral:Invalid arguments"),
    ("EGeneral:Invalid arguments:ordertype", FIX, FIX, "EGeneral:Invalid arguments"),
    ("EGeneral:Invalid arguments:Index unavailable", FIX, FIX, "EGeneral:Invalid arguments"),
    ("EGeneral:Temporary lockout", AUTH, AUTH, "EGeneral:Temporary lockout"),
    ("EService:Unavailable", UNKNOWN, RETRY, "EService:Unavailable"),
    ("EService:Market in cancel_only mode", RETRY, RETRY, "EService:Market in cancel_only mode"),
    ("EService:Market in post_only mode", RETRY, RETRY, "EService:Market in post_only mode"),
    ("EService:Deadline elapsed", UNKNOWN, RETRY, "EService:Deadline elapsed"),
    ("EAPI:Invalid key", AUTH, AUTH, "EAPI:Invalid key"),
    ("EAPI:Invalid signature", AUTH, AUTH, "EAPI:Invalid signature"),
    ("EAPI:Invalid nonce", AUTH, AUTH, "EAPI:Invalid nonce"),
    ("EGeneral:Permission denied", AUTH, AUTH, "EGeneral:Permission denied"),
    ("EGeneral:Internal error", UNKNOWN, RETRY, "EGeneral:Internal error"),
    ("EGeneral:Internal error:5001", UNKNOWN, RETRY, "EGeneral:Internal error"),
    ("EOrder:Cannot open opposing position", FIX, FIX, "EOrder:Cannot open opposing position"),
    ("EOrder:Cannot open position", FIX, FIX, "EOrder:Cannot open position"),
    ("EOrder:Margin allowance exceeded", FIX, FIX, "EOrder:Margin allowance exceeded"),
    ("EOrder:Margin level too low", FIX, FIX, "EOrder:Margin level too low"),
    ("EOrder:Margin position size exceeded", FIX, FIX, "EOrder:Margin position size exceeded"),
    ("EOrder:Insufficient margin", FIX, FIX, "EOrder:Insufficient margin"),
    ("EOrder:Insufficient funds", FIX, FIX, "EOrder:Insufficient funds"),
    ("EOrder:Order minimum not met", FIX, FIX, "EOrder:Order minimum not met"),
    ("EOrder:Cost minimum not met", FIX, FIX, "EOrder:Cost minimum not met"),
    ("EOrder:Tick size check failed", FIX, FIX, "EOrder:Tick size check failed"),
    ("EOrder:Orders limit exceeded", FIX, FIX, "EOrder:Orders limit exceeded"),
    ("EOrder:Rate limit exceeded", LIMIT, LIMIT, "EOrder:Rate limit exceeded"),
    ("EOrder:Domain rate limit exceeded", LIMIT, LIMIT, "EOrder:Domain rate limit exceeded"),
    ("EOrder:Invalid price", FIX, FIX, "EOrder:Invalid price"),
    ("EOrder:Positions limit exceeded", FIX, FIX, "EOrder:Positions limit exceeded"),
    ("EOrder:Reduce only:Non-PC", FIX, FIX, "EOrder:Reduce only:Non-PC"),
    ("EOrder:Reduce only:No position exists", FIX, FIX, "EOrder:Reduce only:No position exists"),
    ("EOrder:Reduce only:Position is closed", FIX, FIX, "EOrder:Reduce only:Position is closed"),
    ("EOrder:Scheduled orders limit exceeded", FIX, FIX, "EOrder:Scheduled orders limit exceeded"),
    ("EOrder:Unknown position", FIX, FIX, "EOrder:Unknown position"),
    ("EAccount:Invalid permissions", AUTH, AUTH, "EAccount:Invalid permissions"),
    ("EAuth:Account temporary disabled", AUTH, AUTH, "EAuth:Account temporary disabled"),
    ("EAuth:Account unconfirmed", AUTH, AUTH, "EAuth:Account unconfirmed"),
    ("EAuth:Rate limit exceeded", LIMIT, LIMIT, "EAuth:Rate limit exceeded"),
    ("EAuth:Too many requests", LIMIT, LIMIT, "EAuth:Too many requests"),
    ("ETrade:Invalid request", FIX, FIX, "ETrade:Invalid request"),
    ("EBM:limit exceeded:CAL", FIX, FIX, "EBM:limit exceeded:CAL"),
    ("EFunding:Max fee exceeded", FIX, FIX, "EFunding:Max fee exceeded"),
    ("EAPI:Rate limit exceeded", LIMIT, LIMIT, "EAPI:Rate limit exceeded"),
    ("EService: Throttled: 1700000123", LIMIT, LIMIT, "EService:Throttled"),
    ("EService:Throttled:1700000123", LIMIT, LIMIT, "EService:Throttled"),
    ("EQuery:Unknown asset pair", FIX, FIX, "EQuery:Unknown asset pair"),
    ("EOrder:Unknown order", FIX, FIX, "EOrder:Unknown order"),
    # Seen in clients, not in the current docs list.
    ("EService:Busy", UNKNOWN, RETRY, "EService:Busy"),
    ("EOrder:Invalid order", FIX, FIX, "EOrder:Invalid order"),
    ("EQuery:Unknown asset", FIX, FIX, "EQuery:Unknown asset"),
    ("EDatabase:Internal error", UNKNOWN, RETRY, "EDatabase:Internal error"),
    ("ESession:Invalid session", RETRY, RETRY, "ESession:Invalid session"),
    ("EAPI:Invalid token", RETRY, RETRY, "EAPI:Invalid token"),
    ("EAPI:Bad request", FIX, FIX, "EAPI:Bad request"),
    ("EGeneral:Unknown method", FIX, FIX, "EGeneral:Unknown method"),
    ("EAuth:Failed", AUTH, AUTH, "EAuth:Failed"),
    ("EGeneral:Too many requests", LIMIT, LIMIT, "EGeneral:Too many requests"),
    ("EAPI:Feature disabled", FIX, FIX, "EAPI:Feature disabled"),
    ("ETrade:Locked", FIX, FIX, "ETrade:Locked"),
    ("EOrder:Trading agreement required", FIX, FIX, "EOrder:Trading agreement required"),
    ("EOrder:Duplicate client order id", FIX, FIX, "EOrder:Duplicate client order id"),
]


@pytest.mark.parametrize(("raw", "placing", "query", "code"), DOCUMENTED, ids=lambda v: str(v))
def test_documented_strings(
    raw: str, placing: ErrorCategory, query: ErrorCategory, code: str
) -> None:
    when_placing = classify(raw, placing=True)
    on_query = classify(raw, placing=False)
    assert (when_placing.category, on_query.category) == (placing, query)
    assert when_placing.code == on_query.code == code
    assert when_placing.raw == raw


def test_throttled_carries_retry_time() -> None:
    classified = classify("EService: Throttled: 1700000123", placing=False)
    assert classified.retry_after == 1700000123.0
    assert classified.retry_delay(1700000120.0) == pytest.approx(3.0)
    assert classified.retry_delay(1700000200.0) == 0.0
    assert classify("EService:Throttled", placing=False).retry_after is None
    assert classify("EAPI:Rate limit exceeded", placing=False).retry_delay(0.0) is None


def test_whitespace_is_normalised() -> None:
    assert normalise("  EOrder : Insufficient funds ") == "EOrder:Insufficient funds"
    assert classify(" EOrder:Insufficient funds\n", placing=True).category is FIX


@pytest.mark.parametrize("raw", ["EOrder:Something new", "EWeird:Thing:detail", "garbage"])
def test_unknown_strings_are_safe_and_keep_raw(raw: str) -> None:
    placing = classify(raw, placing=True)
    query = classify(raw, placing=False)
    assert placing.category is UNKNOWN
    assert query.category is FIX
    assert placing.raw == query.raw == raw


def test_unknown_code_is_first_two_parts() -> None:
    assert classify("EWeird:Thing:detail", placing=False).code == "EWeird:Thing"


def test_prefix_match_needs_whole_parts() -> None:
    # "EOrder:Insufficient fundsXYZ" is not "EOrder:Insufficient funds".
    assert classify("EOrder:Insufficient fundsXYZ", placing=True).category is UNKNOWN


@pytest.mark.parametrize("kind", ["timeout", "connection_reset", "http_5xx", "http_other", "odd"])
def test_transport_failures_are_ambiguous_only_when_placing(kind: str) -> None:
    assert classify_transport(kind, placing=True).category is UNKNOWN
    assert classify_transport(kind, placing=False).category is RETRY


def test_connect_failed_is_retryable_even_when_placing() -> None:
    assert classify_transport("connect_failed", placing=True).category is RETRY


def test_is_unknown_order() -> None:
    assert is_unknown_order("EOrder:Unknown order")
    assert is_unknown_order("EOrder: Invalid order")
    assert not is_unknown_order("EOrder:Insufficient funds")
    assert not is_unknown_order("EOrder:Unknown position")


def test_most_cautious_error_decides() -> None:
    errors = ["EAPI:Rate limit exceeded", "EService:Unavailable"]
    assert classify_errors(errors, placing=True).category is UNKNOWN
    assert classify_errors(errors, placing=False).category is LIMIT
    assert classify_errors(
        ["EOrder:Insufficient funds", "EAPI:Invalid key"], placing=False
    ).code == ("EAPI:Invalid key")
    with pytest.raises(ValueError):
        classify_errors([], placing=True)


def test_exceptions_classify_themselves() -> None:
    api_error = KrakenAPIError(["EService:Unavailable"], endpoint="AddOrder")
    assert api_error.classify(placing=True).category is UNKNOWN
    assert "AddOrder" in str(api_error) and "EService:Unavailable" in str(api_error)
    transport = TransportError("http_5xx", "AddOrder: server error", status=502)
    assert transport.classify(placing=False).category is RETRY
    assert transport.status == 502 and "502" in str(transport)


def test_exceptions_survive_copy_and_pickle() -> None:
    for error in (
        KrakenAPIError(["EOrder:Insufficient funds"], endpoint="AddOrder"),
        TransportError("http_5xx", "AddOrder: server error", status=503),
        MalformedResponse("OpenOrders", "not JSON"),
    ):
        for clone in (copy.copy(error), pickle.loads(pickle.dumps(error))):
            assert type(clone) is type(error)
            assert str(clone) == str(error)
            assert vars(clone) == vars(error)
