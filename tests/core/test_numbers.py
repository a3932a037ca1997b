"""Bounds on user numbers and durations, and bounded text: checked without arithmetic."""

from __future__ import annotations

import decimal
import tracemalloc
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gal_exec.core import numbers
from gal_exec.core.numbers import (
    MAX_DECIMALS,
    MAX_INTEGER_DIGITS,
    MAX_SIGNIFICANT_DIGITS,
    decimal_context,
    decimal_problem,
    duration_problem,
    expiry_problem,
    in_range,
)
from gal_exec.core.text import EXCERPT_CHARS, MESSAGE_CHARS, bounded, excerpt, printable


@pytest.mark.parametrize(
    "text, why",
    [
        ("100000000000000000000", "digits before the point"),
        ("1e27", "digits before the point"),
        ("1E+999999999", "digits before the point"),
        ("1E-999999999", "decimals"),
        ("0E-999999999", "decimals"),
        ("0.0000000000000000001", "decimals"),
        ("123456789012345678901", "significant digits"),
        ("1." + "3" * 49, "significant digits"),
    ],
)
def test_out_of_range_numbers_are_named_with_a_short_excerpt(text: str, why: str) -> None:
    problem = decimal_problem("quantity", Decimal(text))
    assert problem is not None
    assert problem.startswith("quantity out of range: ") and why in problem
    assert len(problem) < 200


@pytest.mark.parametrize(
    "text",
    [
        "0.01",
        "64000.0",
        "0",
        "0.00",
        "1.000000000000000000000000000",
        "99999999999999.99999",
        "1e14",
    ],
)
def test_numbers_kraken_could_take_pass(text: str) -> None:
    assert decimal_problem("quantity", Decimal(text)) is None
    assert in_range(Decimal(text))


@pytest.mark.parametrize("text", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(text: str) -> None:
    assert (
        decimal_problem("sl_price", Decimal(text))
        == f"sl_price must be a finite number; got {text}"
    )
    assert not in_range(Decimal(text))


def test_a_billion_digit_exponent_costs_no_memory() -> None:
    tracemalloc.start()
    try:
        for text in ("1E-999999999", "0E-999999999", "9" * 100_000):
            problem = decimal_problem("quantity", Decimal(text))
            assert problem is not None and len(problem) < 200
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 1024 * 1024


@given(
    digits=st.integers(min_value=1, max_value=60),
    exponent=st.integers(min_value=-2_000_000, max_value=2_000_000),
    lead=st.integers(min_value=1, max_value=9),
)
def test_the_bounds_follow_digits_and_exponent(digits: int, exponent: int, lead: int) -> None:
    value = Decimal((0, (lead,) + (7,) * (digits - 1), exponent))
    decimals = max(0, -exponent)
    before_point = digits + exponent
    expected = digits <= MAX_SIGNIFICANT_DIGITS and decimals <= MAX_DECIMALS
    expected = expected and before_point <= MAX_INTEGER_DIGITS
    assert in_range(value) is expected
    problem = decimal_problem("price", value)
    assert (problem is None) is expected
    if problem is not None:
        assert len(problem) <= len("price out of range: ") + EXCERPT_CHARS + 60


@given(
    a=st.decimals(allow_nan=False, allow_infinity=False, places=8, min_value=0, max_value=10**14),
    b=st.decimals(allow_nan=False, allow_infinity=False, places=8, min_value=0, max_value=10**14),
)
def test_in_range_numbers_multiply_exactly_in_the_context(a: Decimal, b: Decimal) -> None:
    with decimal_context() as context:
        product = a * b
        remainder = a % Decimal("0.00000001")
        assert not context.flags[decimal.Inexact] and not context.flags[decimal.Rounded]
    assert remainder == 0 and product >= 0


@pytest.mark.parametrize(
    "compute",
    [
        lambda: Decimal("1e60") * Decimal("1e60"),
        lambda: Decimal("1E-999999999") % Decimal("0.1"),
        lambda: Decimal("NaN") < 0,
        lambda: Decimal(1) / 0,
    ],
)
def test_the_context_raises_instead_of_rounding_silently(compute) -> None:
    with pytest.raises(ArithmeticError), decimal_context():
        compute()


@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_durations_are_finite_and_bounded(value: float) -> None:
    problem = duration_problem("timeout_s", value)
    if value != value or abs(value) == float("inf"):
        assert problem is not None and "finite" in problem
    elif value > numbers.MAX_TIMEOUT_S:
        assert problem is not None and "out of range" in problem
    else:
        assert problem is None


def test_expiry_is_at_most_a_month_ahead() -> None:
    now = 1_800_000_000.0
    assert expiry_problem("expire_at", now + 86400, now=now) is None
    assert "ahead" in (expiry_problem("expire_at", now + 40 * 86400, now=now) or "")
    assert "finite" in (expiry_problem("expire_at", float("nan"), now=now) or "")
    assert "finite" in (expiry_problem("expire_at", float("inf"), now=None) or "")
    assert "positive" in (expiry_problem("expire_at", -5.0, now=None) or "")


@given(text=st.text(max_size=5000))
def test_an_excerpt_is_bounded_and_printable(text: str) -> None:
    shown = excerpt(text)
    assert len(shown) <= EXCERPT_CHARS + 1
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)
    if len(text) <= EXCERPT_CHARS and printable(text) == text:
        assert shown == text


@given(value=st.text(min_size=65, max_size=3000))
def test_a_message_quoting_a_long_value_is_bounded(value: str) -> None:
    message = bounded(f"invalid enum value '{value}' - at `side`")
    assert len(message) <= MESSAGE_CHARS + 1
    if not any(mark in value for mark in "'`\n"):
        assert len(message) < 120 and message.endswith("' - at `side`")


def test_bounded_cuts_the_quoted_value_and_keeps_the_rest() -> None:
    message = bounded("invalid enum value '" + "x" * 10_000 + "' - at `side`")
    assert message.startswith("invalid enum value 'xxxx") and message.endswith("…' - at `side`")
    assert len(message) < 120
