"""The supervisor's signal intake: checks, pre-trade risk, batches, and the rejected reports.

A mixin of ExecutionSupervisor, kept apart because it is one concern: deciding whether a signal
becomes an order (every problem is a rejected ExecutionReport with a reason a person can act on)
and building the order's spec.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import msgspec

from gal_exec.actors.market_protocol import pair_limits
from gal_exec.batch import BatchTracker, plan_batch
from gal_exec.core import order as om
from gal_exec.core.exposure import Exposure
from gal_exec.core.ids import new_client_order_id
from gal_exec.core.market import PriceCache
from gal_exec.core.risk import BatchEntry, check_signal, order_price, quantize_fields
from gal_exec.kraken.pairs import PairRegistry, PairRules, validate_order
from gal_exec.messages import BatchSubmit, ExecutionReport, TradeSignalApproved, signal_problems

__all__ = ["SignalIntake"]

log = logging.getLogger("gal_exec.supervisor")


class SignalIntake:
    """Mixed into ExecutionSupervisor (uses its settings, pairs, clock, writer, sink...)."""

    settings: Any
    pairs: PairRegistry
    clock: Any
    writer: Any
    sink: Any
    halted: str | None
    seen_signals: set[str]
    counts: dict[str, int]
    prices: PriceCache
    exposure: Exposure
    risk_active: bool
    batches: BatchTracker | None

    def _signal(self, signal: TradeSignalApproved) -> None:
        self.counts["signals"] += 1
        prepared = self._prepare(signal)
        if isinstance(prepared, str):
            self._reject(signal, prepared)
            return
        if self.risk_active:
            violations = check_signal(
                prepared.order,
                rules=prepared.rules,
                quote=prepared.quote,
                exposure=self.exposure,
                limits=self.settings.risk,
            )
            if violations:
                self._reject(prepared.order, "; ".join(violations))
                return
        self._place(prepared)

    def _prepare(self, signal: TradeSignalApproved) -> BatchEntry | str:
        """Every check that needs no other signal: halt, duplicates, the signal itself, the pair's
        rules (optionally quantizing onto its grid). Returns the entry to place or the reason."""
        if self.halted is not None:
            return f"halted: {self.halted}"
        if signal.signal_id in self.seen_signals:
            return f"duplicate signal_id {signal.signal_id!r}: it was placed already"
        problems = signal_problems(signal, now=self.clock.time())
        rules = self.pairs.get(signal.pair)
        if rules is None:
            problems.append(f"unknown pair {signal.pair!r}")
        if problems:
            return "; ".join(problems)
        assert rules is not None
        limits = pair_limits(rules)
        if self.settings.risk.quantize:
            changes, notes = quantize_fields(signal, limits)
            if changes:
                log.info("signal %s quantized: %s", signal.signal_id, "; ".join(notes))
                signal = msgspec.structs.replace(signal, **changes)
        problems = self._pair_problems(signal, rules)
        if problems:
            return "; ".join(problems)
        return BatchEntry(
            order=signal,
            rules=limits,
            quote=self.prices.quote(limits.pair, self.clock.time()),
            context=rules,
        )

    def _pair_problems(self, signal: TradeSignalApproved, rules: PairRules) -> list[str]:
        kind = signal.order_type
        takes_limit = kind == "limit" or kind.endswith("-limit")
        problems = validate_order(
            rules,
            signal.side,
            kind,
            signal.quantity,
            signal.limit_price if takes_limit else None,
            signal.trigger_price,
            post_only=signal.post_only,
            reduce_only=signal.reduce_only,
        )
        for label, value in (("sl_price", signal.sl_price), ("tp_price", signal.tp_price)):
            if value is not None and value % rules.tick_size != 0:
                problems.append(
                    f"{label} {value} not a multiple of tick_size {rules.tick_size} "
                    f"for {rules.wsname}"
                )
        return problems

    def _place(self, entry: BatchEntry) -> None:
        signal: TradeSignalApproved = entry.order
        rules: PairRules = entry.context
        self.seen_signals.add(signal.signal_id)
        timeout = signal.timeout_s
        if timeout is None and signal.order_type == "limit":
            timeout = self.settings.limit_timeout_s or None
        spec = om.OrderSpec(
            cl_ord_id=new_client_order_id(self.settings.cl_ord_id_prefix, clock=self.clock),
            signal_id=signal.signal_id,
            pair=rules.wsname,
            symbol=rules.altname,
            price_decimals=rules.pair_decimals,
            side=signal.side,
            order_type=signal.order_type,
            quantity=signal.quantity,
            limit_price=signal.limit_price,
            trigger_price=signal.trigger_price,
            time_in_force=signal.time_in_force,
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
            self.exposure.add(spec.cl_ord_id, entry.rules.pair, signal.quantity, price)
        # Journaled with the order's intent, in one transaction: never a seen signal without
        # its order (a kill between two commits would lose the signal).
        self._launch(spec, {}, signal_json=msgspec.json.encode(signal))

    def _batch(self, batch: BatchSubmit) -> None:
        """Check a batch as a whole, then place what it accepts (the gateway coalesces per pair)."""
        self.counts["signals"] += len(batch.signals)
        plan = plan_batch(
            batch,
            prepare=self._prepare,
            exposure=self.exposure,
            limits=self.settings.risk,
            max_signals=self.settings.max_batch_signals,
        )
        by_id = {signal.signal_id: signal for signal in batch.signals}
        if self.batches is not None:
            try:
                self.batches.open(plan.batch_id, plan.mode, plan.signal_ids, plan.rejected)
            except ValueError as exc:
                for signal in batch.signals:
                    self._reject(signal, f"batch {batch.batch_id}: {exc}")
                return
        for signal_id, reason in plan.rejected.items():
            self._reject(by_id[signal_id], reason)
        for entry in plan.accepted:
            self._place(entry)

    def _reject(self, signal: TradeSignalApproved, reason: str) -> None:
        self.counts["rejected_signals"] += 1
        log.warning("signal %s rejected: %s", signal.signal_id, reason)
        self.sink.tell(
            ExecutionReport(
                signal_id=signal.signal_id,
                client_order_id=new_client_order_id(clock=self.clock),
                pair=signal.pair,
                side=signal.side,
                order_type=signal.order_type,
                status="rejected",
                quantity=signal.quantity if signal.quantity.is_finite() else Decimal(0),
                reason=reason,
                engine_time=self.clock.time(),
                sequence=1,
            )
        )

    # ---- spawning --------------------------------------------------------------------------

    def _launch(
        self, spec: om.OrderSpec, options: dict[str, Any], *, signal_json: bytes | None = None
    ) -> None:  # pragma: no cover
        raise NotImplementedError
