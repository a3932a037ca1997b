"""Deciding whether a signal may become an order: the checks that need nothing but the signal,
the stop-loss / take-profit levels against a market price, and the plan of a batch.

Every problem is a sentence a person can act on; the Desk turns them into a rejected report. The
pair's own rules (tick, lot, minimums, status) are in ``gal_exec.core.grid`` and the pre-trade
risk rules in ``gal_exec.core.risk``. Signals are read through :class:`SignalLike`, so this module
needs no message types.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Protocol

import msgspec

from gal_exec.core import numbers
from gal_exec.core.exposure import ExposureView
from gal_exec.core.positions import PositionLimitView
from gal_exec.core.risk import BatchEntry, BatchMode, RiskLimits, check_batch
from gal_exec.core.vocabulary import NEEDS_LIMIT_PRICE, NEEDS_TRIGGER, Side, TimeInForce

__all__ = [
    "MAX_BATCH_SIGNALS",
    "BatchLike",
    "BatchPlan",
    "SignalLike",
    "batch_problems",
    "bracket_problems",
    "plan_batch",
    "signal_problems",
]

MAX_BATCH_SIGNALS = 100
_MIN_GTD_AHEAD_S = 5.0


class SignalLike(Protocol):
    """What the checks read from a signal; gal_exec.messages.TradeSignalApproved has all of it."""

    @property
    def signal_id(self) -> str: ...
    @property
    def pair(self) -> str: ...
    @property
    def side(self) -> str: ...
    @property
    def order_type(self) -> str: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def limit_price(self) -> Decimal | None: ...
    @property
    def trigger_price(self) -> Decimal | None: ...
    @property
    def sl_price(self) -> Decimal | None: ...
    @property
    def tp_price(self) -> Decimal | None: ...
    @property
    def time_in_force(self) -> str: ...
    @property
    def expire_at(self) -> float | None: ...
    @property
    def timeout_s(self) -> float | None: ...
    @property
    def post_only(self) -> bool: ...
    @property
    def reduce_only(self) -> bool: ...


class BatchLike(Protocol):
    @property
    def batch_id(self) -> str: ...
    @property
    def signals(self) -> Sequence[SignalLike]: ...
    @property
    def mode(self) -> BatchMode | None: ...


def _finite_positive(name: str, value: Decimal | None, problems: list[str]) -> None:
    if value is None:
        return
    if not value.is_finite():
        problems.append(f"{name} must be a finite number; got {value}")
    elif value <= 0:
        problems.append(f"{name} must be positive; got {value}")


def _finite(value: Decimal | None) -> bool:
    return value is not None and value.is_finite()


def signal_problems(signal: SignalLike, *, now: float | None = None) -> list[str]:
    """Exchange-independent checks of a signal; each problem is a sentence a person can act on.

    Numbers and durations out of bounds are refused first, before any arithmetic touches them
    (gal_exec.core.numbers), and are never compared or printed in full.
    """
    problems = numbers.signal_bound_problems(signal, now=now)
    if problems:
        return problems
    if not signal.signal_id.strip():
        problems.append("signal_id must not be empty")
    if not signal.pair.strip():
        problems.append("pair must not be empty")
    _finite_positive("quantity", signal.quantity, problems)
    for name in ("limit_price", "trigger_price", "sl_price", "tp_price"):
        _finite_positive(name, getattr(signal, name), problems)
    kind = signal.order_type
    if kind in NEEDS_LIMIT_PRICE and signal.limit_price is None:
        problems.append(f"order_type {kind} needs limit_price")
    if kind not in NEEDS_LIMIT_PRICE and signal.limit_price is not None:
        problems.append(f"order_type {kind} takes no limit_price")
    if kind in NEEDS_TRIGGER and signal.trigger_price is None:
        problems.append(f"order_type {kind} needs trigger_price")
    if kind not in NEEDS_TRIGGER and signal.trigger_price is not None:
        problems.append(f"order_type {kind} takes no trigger_price")
    if signal.post_only and kind != "limit":
        problems.append("post_only is only valid for limit orders")
    if signal.time_in_force == TimeInForce.GTD:
        if signal.expire_at is None:
            problems.append("time_in_force GTD needs expire_at")
        elif now is not None and signal.expire_at < now + _MIN_GTD_AHEAD_S:
            problems.append(
                f"expire_at must be at least {_MIN_GTD_AHEAD_S:g} s in the future; "
                f"it is {signal.expire_at - now:.1f} s away"
            )
    elif signal.expire_at is not None:
        problems.append("expire_at is only valid with time_in_force GTD")
    if signal.time_in_force == TimeInForce.IOC and signal.post_only:
        problems.append("post_only cannot be combined with IOC")
    if signal.timeout_s is not None and not signal.timeout_s > 0:
        problems.append(f"timeout_s must be positive; got {signal.timeout_s}")
    entry = signal.limit_price if signal.limit_price is not None else signal.trigger_price
    if kind not in ("trailing-stop", "trailing-stop-limit") and _finite(entry):
        assert entry is not None
        problems += bracket_problems(signal, entry, what="the entry price")
    sl, tp = signal.sl_price, signal.tp_price
    if _finite(sl) and _finite(tp):
        assert sl is not None and tp is not None
        crossed = sl >= tp if signal.side == Side.BUY else sl <= tp
        if crossed:
            problems.append(f"sl_price {sl} and tp_price {tp} are crossed for a {signal.side}")
    return problems


def bracket_problems(signal: SignalLike, reference: Decimal, *, what: str) -> list[str]:
    """The stop-loss and take-profit levels against ``reference`` (the entry's price, or for a
    market entry the last price known): a buy's stop must lie below it and its take-profit
    above, a sell's the other way round; otherwise the child would trigger at once."""
    problems: list[str] = []
    buy = signal.side == Side.BUY
    sl, tp = signal.sl_price, signal.tp_price
    if _finite(sl):
        assert sl is not None
        if sl >= reference if buy else sl <= reference:
            relation = "below" if buy else "above"
            problems.append(
                f"sl_price {sl} must be {relation} {what} {reference} for a {signal.side}"
            )
    if _finite(tp):
        assert tp is not None
        if tp <= reference if buy else tp >= reference:
            relation = "above" if buy else "below"
            problems.append(
                f"tp_price {tp} must be {relation} {what} {reference} for a {signal.side}"
            )
    return problems


# ---- batches ------------------------------------------------------------------------------------


def batch_problems(batch: BatchLike, *, max_signals: int = MAX_BATCH_SIGNALS) -> list[str]:
    """Problems with the batch itself (not its signals), each a sentence a person can act on."""
    problems: list[str] = []
    too_long = numbers.length_problem("batch_id", batch.batch_id, numbers.MAX_ID_CHARS)
    if too_long is not None:
        return [too_long]
    if not batch.batch_id.strip():
        problems.append("batch_id must not be empty")
    if not batch.signals:
        problems.append("a batch needs at least one signal; this one has none")
    elif len(batch.signals) > max_signals:
        problems.append(f"a batch holds at most {max_signals} signals; got {len(batch.signals)}")
    seen: set[str] = set()
    repeated: list[str] = []
    for signal in batch.signals:
        if signal.signal_id in seen and signal.signal_id not in repeated:
            repeated.append(signal.signal_id)
        seen.add(signal.signal_id)
    if repeated:
        problems.append(f"signal_id repeated within the batch: {', '.join(repeated)}")
    return problems


class BatchPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What to do with a batch: place ``accepted`` (in batch order), reject ``rejected``.

    ``reason`` is set when the batch as a whole was refused before its signals were looked at.
    """

    batch_id: str
    mode: BatchMode
    signal_ids: list[str]  # every signal of the batch, in batch order
    accepted: list[BatchEntry]
    rejected: dict[str, str]
    reason: str | None = None


def plan_batch(
    batch: BatchLike,
    *,
    prepare: Callable[[SignalLike], BatchEntry | str],
    exposure: ExposureView,
    limits: RiskLimits,
    max_signals: int = MAX_BATCH_SIGNALS,
    positions: PositionLimitView | None = None,
) -> BatchPlan:
    """Decide a batch: ``prepare`` runs the single-signal checks that come before the risk
    rules (halt, duplicates, signal_problems, pair rules, quantizing) and returns the entry to
    risk-check or the reason it failed; then check_batch decides the rest as a whole.

    In all_or_nothing mode any failure, early or in the risk rules, rejects every signal.
    """
    mode = batch.mode or limits.batch_mode
    order = [signal.signal_id for signal in batch.signals]
    problems = batch_problems(batch, max_signals=max_signals)
    if problems:
        reason = f"batch {batch.batch_id}: {'; '.join(problems)}"
        return BatchPlan(
            batch_id=batch.batch_id,
            mode=mode,
            signal_ids=order,
            accepted=[],
            rejected=dict.fromkeys(order, reason),
            reason=reason,
        )
    rejected: dict[str, str] = {}
    entries: list[BatchEntry] = []
    for signal in batch.signals:
        prepared = prepare(signal)
        if isinstance(prepared, str):
            rejected[signal.signal_id] = prepared
        else:
            entries.append(prepared)
    verdict = check_batch(
        entries,
        exposure=exposure,
        limits=limits,
        mode=mode,
        failed_before=[f"signal {signal_id}" for signal_id in rejected],
        positions=positions,
    )
    accepted: list[BatchEntry] = []
    for entry, reasons in zip(entries, verdict.reasons, strict=True):
        if reasons:
            rejected[entry.order.signal_id] = "; ".join(reasons)
        else:
            accepted.append(entry)
    return BatchPlan(
        batch_id=batch.batch_id,
        mode=mode,
        signal_ids=order,
        accepted=accepted,
        rejected={s: rejected[s] for s in order if s in rejected},
    )
