"""The desk's signal intake: whether a signal may become an order, and the order it becomes."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

import msgspec

from gal_exec.core.amend import Figures
from gal_exec.core.clock import Clock
from gal_exec.core.desk._effects import DeskSettings
from gal_exec.core.exposure import Exposure
from gal_exec.core.grid import PairLimits, quantize_fields
from gal_exec.core.ids import new_client_order_id
from gal_exec.core.intake import (
    BatchLike,
    BatchPlan,
    SignalLike,
    bracket_problems,
    plan_batch,
    signal_problems,
)
from gal_exec.core.market import PriceCache, Quote
from gal_exec.core.order import OrderSpec
from gal_exec.core.positions import PositionLimitView, TrialPositions, position_problem
from gal_exec.core.risk import BatchEntry, check_signal, order_price
from gal_exec.core.vocabulary import OrderType, Side, TimeInForce

__all__ = ["Intake"]


class Intake:
    """Accept or reject signals. It remembers every signal_id placed (a repeat is refused), the
    halt, and the open exposure the risk rules weigh a new order against."""

    def __init__(
        self,
        settings: DeskSettings,
        *,
        pairs: Callable[[str], PairLimits | None],
        clock: Clock,
        prices: PriceCache,
        exposure: Exposure,
        positions: PositionLimitView,
    ) -> None:
        self.settings = settings
        self.pairs = pairs
        self.clock = clock
        self.prices = prices
        self.exposure = exposure
        self.positions = positions
        self.seen: set[str] = set()
        self.halted: str | None = None

    def check(self, signal: SignalLike) -> BatchEntry | str:
        """A single signal: the entry to place, or the reason it is refused."""
        prepared = self.prepare(signal)
        if isinstance(prepared, str):
            return prepared
        violations = check_signal(
            prepared.order,
            rules=prepared.rules,
            quote=prepared.quote,
            exposure=self.exposure,
            limits=self.settings.risk,
            positions=self.positions,
        )
        return "; ".join(violations) if violations else prepared

    def plan(self, batch: BatchLike) -> BatchPlan:
        """A batch as a whole (gal_exec.core.intake.plan_batch)."""
        return plan_batch(
            batch,
            prepare=self.prepare,
            exposure=self.exposure,
            limits=self.settings.risk,
            max_signals=self.settings.max_batch_signals,
            positions=self.positions,
        )

    def prepare(self, signal: SignalLike) -> BatchEntry | str:
        """Every check that needs no other signal; the entry to risk-check, or the reason not to."""
        if self.halted is not None:
            return f"halted: {self.halted}"
        if signal.signal_id in self.seen:
            return f"duplicate signal_id {signal.signal_id!r}: it was placed already"
        problems = signal_problems(signal, now=self.clock.time())
        rules = self.pairs(signal.pair) if signal.pair.strip() else None
        if rules is None and signal.pair.strip():
            problems.append(f"unknown pair {signal.pair!r}")
        if problems or rules is None:
            return "; ".join(problems)
        notes: list[str] = []
        if self.settings.risk.quantize:
            changes, notes = quantize_fields(signal, rules)
            if changes:
                signal = msgspec.structs.replace(cast(Any, signal), **changes)
        quote = self.prices.quote(rules.pair, self.clock.time())
        bracketed = signal.sl_price is not None or signal.tp_price is not None
        if signal.order_type == OrderType.MARKET and bracketed and isinstance(quote, Quote):
            # A market entry has no price of its own: its protection is checked at the market.
            problems = bracket_problems(signal, quote.last, what="the last price")
            if problems:
                return "; ".join(problems)
        return BatchEntry(order=signal, rules=rules, quote=quote, context=notes)

    def accept(self, entry: BatchEntry) -> OrderSpec:
        """The entry order of an accepted signal; the signal counts as placed from now on."""
        signal: SignalLike = entry.order
        rules: PairLimits = entry.rules
        self.seen.add(signal.signal_id)
        timeout = signal.timeout_s
        if timeout is None and signal.order_type == OrderType.LIMIT:
            timeout = self.settings.limit_timeout_s or None
        spec = OrderSpec(
            cl_ord_id=new_client_order_id(self.settings.cl_ord_id_prefix, clock=self.clock),
            signal_id=signal.signal_id,
            pair=rules.shown,
            symbol=rules.request_name,
            price_decimals=rules.price_decimals,
            side=Side(signal.side),
            order_type=OrderType(signal.order_type),
            quantity=signal.quantity,
            limit_price=signal.limit_price,
            trigger_price=signal.trigger_price,
            time_in_force=TimeInForce(signal.time_in_force),
            expire_at=signal.expire_at,
            post_only=signal.post_only,
            reduce_only=signal.reduce_only,
            timeout_s=timeout,
            sl_price=signal.sl_price,
            tp_price=signal.tp_price,
            received_at=self.clock.monotonic(),
        )
        price = order_price(signal, entry.quote)
        if price is not None:
            self.exposure.add(spec.cl_ord_id, rules.pair, signal.quantity, price)
        return spec

    def amend_problems(
        self, order: OrderSpec, working: Decimal, *, filled: Decimal, before: Figures
    ) -> list[str]:
        """An entry amended to ``order``'s figures, checked against the risk limits as if it
        were new (its own exposure and its ``working`` quantity set aside). While halted an
        amend may not add quantity."""
        if self.halted is not None and order.quantity > before.quantity:
            return [f"halted: {self.halted}; an amend may not add quantity"]
        rules = self.pairs(order.symbol or order.pair)
        if rules is None:
            return [f"unknown pair {order.pair!r}"]
        exposure = self.exposure.copy()
        exposure.release(order.cl_ord_id)
        limits = self.settings.risk
        quote = self.prices.quote(rules.pair, self.clock.time())
        problems = check_signal(order, rules=rules, quote=quote, exposure=exposure, limits=limits)
        if limits.max_position_per_pair > 0:
            others = TrialPositions(self.positions)
            others.add(order.pair, order.side, -working)
            problem = position_problem(
                order.pair,
                order.side,
                order.quantity - filled,
                others,
                limits.max_position_per_pair,
            )
            if problem is not None:
                problems.append(problem)
        return problems
