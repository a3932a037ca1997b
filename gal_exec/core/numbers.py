"""Bounds on the numbers (and the few names) a user sends, checked before anything uses them.

Kraken's pairs have a handful of price and volume decimals and its order fields are plain decimal
strings, so a quantity or price with more than ``MAX_SIGNIFICANT_DIGITS`` significant digits, more
than ``MAX_DECIMALS`` decimals or ``MAX_INTEGER_DIGITS`` or more digits before the point is not an
order Kraken could take. Refusing such numbers up front keeps every later step cheap and exact: a
``Decimal("1E-999999999")`` would otherwise print as a gigabyte of zeros, and ``1E+27`` overflows
the default context in a tick check. Arithmetic on user numbers runs in :func:`decimal_context`,
where anything inexact in a way that matters raises instead of rounding silently.

Durations and epoch times get the same treatment: a timeout of ``1e10`` seconds is not a timeout,
and it overflows the timer thread's wait. Names that every report and log line repeats (a
signal_id, a pair) have a length limit too.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from gal_exec.core.text import excerpt

__all__ = [
    "DECIMAL_CONTEXT",
    "MAX_DECIMALS",
    "MAX_EXPIRY_AHEAD_S",
    "MAX_ID_CHARS",
    "MAX_INTEGER_DIGITS",
    "MAX_PAIR_CHARS",
    "MAX_SIGNIFICANT_DIGITS",
    "MAX_TIMEOUT_S",
    "decimal_context",
    "decimal_problem",
    "decimal_problems",
    "duration_problem",
    "expiry_problem",
    "in_range",
    "length_problem",
    "signal_bound_problems",
]

MAX_SIGNIFICANT_DIGITS = 20
"""Significant digits of a quantity or price (trailing zeros after the point do not count)."""

MAX_DECIMALS = 18
"""Digits after the decimal point (Kraken's pairs use at most a dozen)."""

MAX_INTEGER_DIGITS = 15
"""Digits before the decimal point: every quantity and price is below 10**15."""

MAX_TIMEOUT_S = 365 * 86400.0
"""The longest timeout a signal may ask for (one year)."""

MAX_ID_CHARS = 256
"""The longest signal_id (it names the signal in every report and log line)."""

MAX_PAIR_CHARS = 32
"""The longest pair name (Kraken's longest names are a dozen characters)."""

MAX_EXPIRY_AHEAD_S = 31 * 86400.0
"""How far ahead a GTD expiry may lie: Kraken accepts GTD orders up to one month ahead."""

DECIMAL_CONTEXT = decimal.Context(
    prec=2 * (MAX_INTEGER_DIGITS + MAX_DECIMALS),
    Emax=99,
    Emin=-99,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[
        decimal.InvalidOperation,
        decimal.DivisionByZero,
        decimal.Overflow,
        decimal.Underflow,
    ],
)
"""Room for products and ratios of in-range numbers (a notional, a price in ticks) exactly; an
operation that would overflow, underflow to zero or be undefined raises a
``decimal.DecimalException`` instead of giving a silently wrong answer."""


@contextmanager
def decimal_context() -> Iterator[decimal.Context]:
    """Run arithmetic on user numbers in :data:`DECIMAL_CONTEXT` (a thread-local copy).

    Catch ``ArithmeticError`` (``decimal.DecimalException`` is one) around it and turn it into
    a rejection: the inputs were outside the bounds this module checks.
    """
    with decimal.localcontext(DECIMAL_CONTEXT) as context:
        yield context


def in_range(value: Decimal) -> bool:
    """True if ``value`` is finite and within the digit and exponent bounds (no arithmetic)."""
    return value.is_finite() and _shape_problem(value) is None


def _shape_problem(value: Decimal) -> str | None:
    """Why a finite ``value`` is out of bounds, from its digits and exponent alone."""
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    # Trailing zeros in the coefficient only move the exponent: 1.50000 has 2 digits, 2 decimals.
    coefficient = bytes(digits).rstrip(b"\0")
    significant = len(coefficient) or 1  # zero keeps one digit and its exponent (0.00, 0E-9)
    exponent += len(digits) - significant
    if significant > MAX_SIGNIFICANT_DIGITS:
        return f"more than {MAX_SIGNIFICANT_DIGITS} significant digits"
    if exponent < -MAX_DECIMALS:
        return f"more than {MAX_DECIMALS} decimals"
    if exponent + significant > MAX_INTEGER_DIGITS:
        return f"more than {MAX_INTEGER_DIGITS} digits before the point"
    return None


def decimal_problem(name: str, value: Decimal | None) -> str | None:
    """Why ``value`` (field ``name``) is not a finite number within the bounds, or None.

    None passes: whether a field is required is the caller's rule.
    """
    if value is None:
        return None
    if not value.is_finite():
        return f"{name} must be a finite number; got {excerpt(value)}"
    why = _shape_problem(value)
    if why is None:
        return None
    return f"{name} out of range: {excerpt(value)} ({why})"


def decimal_problems(values: Mapping[str, Decimal | None]) -> list[str]:
    """:func:`decimal_problem` for each named value."""
    problems = [decimal_problem(name, value) for name, value in values.items()]
    return [problem for problem in problems if problem is not None]


def duration_problem(
    name: str, value: float | None, *, maximum: float = MAX_TIMEOUT_S
) -> str | None:
    """Why the duration ``value`` (seconds) is not finite or above ``maximum``, or None.

    Non-positive durations are left to the caller's own rule (some accept 0).
    """
    if value is None:
        return None
    if not math.isfinite(value):
        return f"{name} must be a finite number of seconds; got {value}"
    if value > maximum:
        return f"{name} out of range: {excerpt(f'{value:g}')} s (at most {maximum:.0f} s)"
    return None


def expiry_problem(
    name: str, value: float | None, *, now: float | None, ahead: float = MAX_EXPIRY_AHEAD_S
) -> str | None:
    """Why the epoch time ``value`` is not finite, not positive or more than ``ahead`` seconds
    after ``now``, or None. Too soon is left to the caller (its margin is its own rule)."""
    if value is None:
        return None
    if not math.isfinite(value):
        return f"{name} must be a finite epoch time in seconds; got {value}"
    if value <= 0:
        return f"{name} must be a positive epoch time in seconds; got {excerpt(f'{value:g}')}"
    if now is not None and value - now > ahead:
        return (
            f"{name} is {(value - now) / 86400:.0f} days ahead; at most {ahead / 86400:.0f} days "
            "(Kraken accepts GTD orders up to one month ahead)"
        )
    return None


_DECIMAL_FIELDS = ("quantity", "limit_price", "trigger_price", "sl_price", "tp_price")


def length_problem(name: str, value: object, maximum: int) -> str | None:
    """Why the text ``value`` of field ``name`` is longer than ``maximum`` characters, or None."""
    if isinstance(value, str) and len(value) > maximum:
        return f"{name} longer than {maximum} characters ({len(value)}): {excerpt(value)}"
    return None


def signal_bound_problems(signal: Any, *, now: float | None = None) -> list[str]:
    """Every bound a trade signal breaks: the length of its signal_id and pair, its quantity
    and prices (digits, decimals, magnitude), ``timeout_s`` (at most a year) and ``expire_at``
    (at most a month ahead of ``now``). Takes anything with those attributes (a
    TradeSignalApproved)."""
    problems = decimal_problems({name: getattr(signal, name, None) for name in _DECIMAL_FIELDS})
    for problem in (
        length_problem("signal_id", getattr(signal, "signal_id", None), MAX_ID_CHARS),
        length_problem("pair", getattr(signal, "pair", None), MAX_PAIR_CHARS),
        duration_problem("timeout_s", getattr(signal, "timeout_s", None)),
        expiry_problem("expire_at", getattr(signal, "expire_at", None), now=now),
    ):
        if problem is not None:
            problems.append(problem)
    return problems
