"""One order's lifecycle as a pure object: events in, effects out.

The OrderActor is a thin shell around OrderModel: it turns messages into calls here and carries out
the effects returned (send a request to the gateway, start a timer, emit a report). Nothing here
touches a thread, a socket or a clock; time arrives as an argument.

Rules this model enforces:
- write before acting: the first effect of a new order is JournalIntent; Place comes only after
  ``intent_durable()``;
- never re-send blind: an outcome-unknown placement is resolved by cl_ord_id (Lookup) first, and a
  re-send happens only when the look-ups found nothing ``resolve_attempts`` times;
- every state change and every new fill is one Emit, so reports have gap-free sequence numbers.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from gal_exec.core.ledger import Fill, FillLedger, FillOutcome
from gal_exec.core.order_state import TERMINAL_STATES, OrderEvent, OrderState, apply
from gal_exec.core.updates import ExchangeStatus, OrderUpdate, UpdateSource

__all__ = [
    "Amend",
    "Cancel",
    "Effect",
    "Emit",
    "Finished",
    "JournalIntent",
    "Lookup",
    "OrderModel",
    "OrderSettings",
    "OrderSpec",
    "Place",
    "PositionChanged",
    "QueryStatus",
    "StartTimer",
    "StopTimer",
    "Withdraw",
]

S = OrderState
E = OrderEvent


class OrderSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What to place. Prices and quantities are already quantized to the pair's rules."""

    cl_ord_id: str
    signal_id: str
    role: str = "entry"  # entry | stop_loss | take_profit
    parent_cl_ord_id: str | None = None
    pair: str  # the pair's display name, e.g. "XBT/USD"
    symbol: str = ""  # the exchange's name for the pair in requests, e.g. "XBTUSD"
    price_decimals: int | None = None  # the pair's price decimals (reports round averages to +2)
    received_at: float = 0.0  # monotonic time the signal arrived (signal-to-wire latency)
    side: str
    order_type: str
    quantity: Decimal
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None
    time_in_force: str = "GTC"
    expire_at: float | None = None
    post_only: bool = False
    reduce_only: bool = False
    timeout_s: float | None = None  # limit-order timeout; None or 0: never
    sl_price: Decimal | None = None
    tp_price: Decimal | None = None


class OrderSettings(msgspec.Struct, frozen=True, kw_only=True):
    poll_interval_s: float = 2.0
    resolve_delay_s: float = 1.0
    resolve_attempts: int = 5
    cancel_retry_s: float = 2.0
    place_retry_s: float = 1.0
    min_quantity: Decimal = Decimal(0)  # the pair's ordermin: children wait until they reach it


# ---- effects ------------------------------------------------------------------------------------


class Effect(msgspec.Struct, frozen=True, kw_only=True):
    pass


class JournalIntent(Effect):
    """Make the intent durable; call ``intent_durable()`` when it is."""


class Place(Effect):
    """Send the order with this quantity (AddOrder, possibly coalesced)."""

    quantity: Decimal


class Cancel(Effect):
    """Cancel the order on the exchange."""


class Amend(Effect):
    """Set the order's total quantity in place (AmendOrder)."""

    quantity: Decimal


class Withdraw(Effect):
    """Take back the placement if it has not left the gateway yet."""


class QueryStatus(Effect):
    """Ask the exchange for the order's record by txid (batched QueryOrders)."""


class Lookup(Effect):
    """Find the order by cl_ord_id (OpenOrders, then ClosedOrders)."""


class StartTimer(Effect):
    name: str
    delay_s: float


class StopTimer(Effect):
    name: str


class Emit(Effect):
    """Report the order's current figures; ``fill`` is the new fill this report announces."""

    reason: str | None = None
    error_code: str | None = None
    fill: Fill | None = None
    fill_quantity: Decimal | None = None  # the new quantity the fill added (synthetic fills)


class PositionChanged(Effect):
    """The entry's filled quantity grew: its protection must cover ``filled_quantity``."""

    filled_quantity: Decimal
    final: bool = False


class Finished(Effect):
    """The order is terminal and reported; the actor may stop."""


TIMEOUT = "timeout"
POLL = "poll"
RESOLVE = "resolve"
RETRY_PLACE = "retry_place"
RETRY_CANCEL = "retry_cancel"


class OrderModel:
    """The lifecycle of one order (an entry or a protective child)."""

    def __init__(self, spec: OrderSpec, settings: OrderSettings | None = None) -> None:
        self.spec = spec
        self.settings = settings or OrderSettings()
        self.state = S.PENDING_SUBMIT
        self.ledger = FillLedger(spec.quantity)
        self.txid: str | None = None
        self.stream_up = False
        self.placed_at: float | None = None  # when the exchange took it, or last amended
        self.cancel_wanted: str | None = None  # reason, while a cancel waits for an ack
        self.cancel_in_flight = False
        self.withdraw_asked = False
        self.amend_in_flight: Decimal | None = None
        self.resolve_attempts = 0
        self.finished = False
        # Protective children only: the position they cover and what the sibling closed.
        self.position: Decimal | None = None
        self.sibling_filled = Decimal(0)
        self.entry_final = False
        self.waiting_for_quantity = False
        self._reported_position = Decimal(0)

    # ---- derived ---------------------------------------------------------------------------

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def is_child(self) -> bool:
        return self.spec.role != "entry"

    @property
    def order_quantity(self) -> Decimal:
        return self.ledger.order_quantity

    def target_quantity(self) -> Decimal:
        """A child's total quantity: its own fills plus whatever position is still open."""
        assert self.position is not None
        open_position = self.position - self.ledger.filled_quantity - self.sibling_filled
        return self.ledger.filled_quantity + max(Decimal(0), open_position)

    # ---- starting --------------------------------------------------------------------------

    def start(self) -> list[Effect]:
        """A new order: report it, then make the intent durable before anything is sent."""
        if self.is_child and self.position is None:
            raise ValueError("a protective order needs its position before it starts")
        return [Emit(), JournalIntent()]

    def intent_durable(self) -> list[Effect]:
        if self.state is not S.PENDING_SUBMIT or self.finished:
            return []
        if self.cancel_wanted is not None:
            return self._event(E.CANCELED, reason=self.cancel_wanted)
        return self._place()

    def recover(
        self, state: OrderState, txid: str | None, fills: list[Fill], now: float = 0.0
    ) -> list[Effect]:
        """Continue an order loaded from the journal: find out what happened while we were down.

        ``spec.timeout_s`` is the time left of a limit order's timeout.
        """
        for fill in fills:
            self.ledger.add(fill)
        self.state = state
        self.txid = txid
        if self.terminal:
            self.finished = True
            return [Finished()]
        if txid is not None:
            effects: list[Effect] = [QueryStatus()]
            self.placed_at = now
            if state is S.PENDING_CANCEL:
                # The cancel may not have left before the crash; cancelling again is harmless.
                self.cancel_wanted = "recovered while a cancel was pending"
                self.cancel_in_flight = True
                effects.append(Cancel())
            elif self.spec.timeout_s and self.spec.order_type == "limit":
                effects.append(StartTimer(name=TIMEOUT, delay_s=self.spec.timeout_s))
            if not self.stream_up:
                effects.append(StartTimer(name=POLL, delay_s=self.settings.poll_interval_s))
            # A child may have missed a change of its position or of its sibling while down.
            return effects + self._resize()
        # It may or may not have reached the exchange: resolve by cl_ord_id, never re-send blind.
        if self.state is S.PENDING_SUBMIT:
            self.state = S.SUBMITTED
        reason = "recovered after a restart: resolving by cl_ord_id"
        return self._event(E.SUBMIT_TIMED_OUT, reason=reason) + [Lookup()]

    def _place(self) -> list[Effect]:
        quantity = self.spec.quantity
        if self.is_child:
            quantity = self.target_quantity()
            if quantity <= 0 and self.sibling_filled > 0:
                # The other order closed the position before this one was ever placed.
                return self._event(E.CANCELED, reason="position closed by the other order")
            if quantity < self.settings.min_quantity or quantity <= 0:
                self.waiting_for_quantity = True
                if self.entry_final:
                    return self._event(
                        E.SUBMIT_REJECTED,
                        reason=(
                            f"protection quantity {quantity} is below the pair's minimum "
                            f"order {self.settings.min_quantity}"
                        ),
                        error_code="EOrder:Order minimum not met",
                    )
                return []
            self.waiting_for_quantity = False
            if quantity != self.ledger.order_quantity:
                self.ledger.set_order_quantity(quantity)
        return [*self._event(E.SUBMIT_SENT), Place(quantity=quantity)]

    # ---- placement answers -----------------------------------------------------------------

    def placed(self, txid: str, now: float) -> list[Effect]:
        self.txid = self.txid or txid
        effects = self._acked(now)
        return effects + self._after_ack()

    def validated(self) -> list[Effect]:
        """Kraken accepted the order with validate=true: checked, never placed; it ends here."""
        if self.terminal:
            return []
        return self._event(
            E.CANCELED,
            reason="validate only: Kraken accepted the order and did not place it "
            "(exchange.validate_only = true)",
        )

    def place_failed(self, category: str, code: str, raw: str) -> list[Effect]:
        """The gateway's answer to Place was an error, already classified."""
        if self.terminal:
            return []
        if category == "outcome_unknown":
            self.resolve_attempts = 0
            return self._event(E.SUBMIT_TIMED_OUT, reason=f"placement outcome unknown: {raw}") + [
                StartTimer(name=RESOLVE, delay_s=self.settings.resolve_delay_s)
            ]
        if category == "rate_limited":
            # A rate-limit rejection is definite: the order was not placed. Send it again later.
            return self._event(E.RESOLVED_ABSENT, reason=f"not placed: {raw}; retrying") + [
                StartTimer(name=RETRY_PLACE, delay_s=self.settings.place_retry_s)
            ]
        return self._event(E.SUBMIT_REJECTED, reason=raw, error_code=code)

    def lookup_result(self, update: OrderUpdate | None, now: float) -> list[Effect]:
        """Resolution by cl_ord_id: ``update`` None means the order is in neither list."""
        if self.terminal or self.state is not S.SUBMIT_UNKNOWN:
            return [] if update is None else self.exchange_update(update, now)
        if update is not None:
            return self.exchange_update(update, now)
        self.resolve_attempts += 1
        if self.resolve_attempts < self.settings.resolve_attempts:
            return [StartTimer(name=RESOLVE, delay_s=self.settings.resolve_delay_s)]
        # Absent from open and closed orders every time: it never reached the exchange. Send once
        # more with the same cl_ord_id (Kraken refuses a duplicate among open orders).
        effects = self._event(
            E.RESOLVED_ABSENT, reason="not found on the exchange; sending it once more"
        )
        if self.cancel_wanted is not None:
            return effects + self._event(E.CANCELED, reason=self.cancel_wanted)
        return effects + self._place()

    def lookup_failed(self) -> list[Effect]:
        if self.terminal:
            return []
        return [StartTimer(name=RESOLVE, delay_s=self.settings.resolve_delay_s)]

    # ---- exchange observations -------------------------------------------------------------

    def exchange_update(self, update: OrderUpdate, now: float) -> list[Effect]:
        effects: list[Effect] = []
        if update.txid and self.txid is None:
            self.txid = update.txid
        quantity = update.order_quantity
        if (
            quantity is not None
            and self.is_child
            and self.amend_in_flight is None
            and quantity >= self.ledger.filled_quantity
            and quantity > 0
        ):
            self.ledger.set_order_quantity(quantity)
        if update.fill is not None:
            effects += self._fill(update.fill)
        if update.cum_quantity is not None and update.cum_quantity > self.ledger.filled_quantity:
            effects += self._cumulative(update)
        if self.state in (S.SUBMITTED, S.SUBMIT_UNKNOWN, S.PENDING_SUBMIT) and (
            update.status in (ExchangeStatus.PENDING, ExchangeStatus.OPEN)
        ):
            effects += self._acked(now)
            effects += self._after_ack()
        status = update.status
        if status is ExchangeStatus.FILLED and not self.ledger.is_complete:
            # Filled without the figures to show it (a sparse update): learn them by REST.
            if update.source is not UpdateSource.REST:
                effects.append(QueryStatus())
        elif status is ExchangeStatus.FILLED:
            effects += self._event(E.FULL_FILL)
        elif status is ExchangeStatus.CANCELED:
            # Our own reason (timeout, CancelSignal, OCO) says more than Kraken's "User requested".
            effects += self._event(E.CANCELED, reason=self.cancel_wanted or update.reason)
        elif status is ExchangeStatus.EXPIRED:
            effects += self._event(E.EXPIRED, reason=update.reason)
        return effects

    def not_found(self) -> list[Effect]:
        """QueryOrders did not know the txid: resolve by cl_ord_id instead."""
        return [] if self.terminal else [Lookup()]

    def _fill(self, fill: Fill) -> list[Effect]:
        result = self.ledger.add(fill)
        if result.outcome in (FillOutcome.DUPLICATE, FillOutcome.INVALID) or not result.recorded:
            return []
        if result.new_quantity <= 0:
            return []  # confirms quantity already accounted from cumulative figures
        reason = None
        if result.outcome is FillOutcome.OVERFILL:
            reason = (
                f"overfill: filled {self.ledger.filled_quantity} exceeds the order quantity "
                f"{self.ledger.order_quantity}"
            )
        return self._filled_effects(fill, result.new_quantity, reason)

    def _cumulative(self, update: OrderUpdate) -> list[Effect]:
        assert update.cum_quantity is not None
        average = update.average_price
        if average is None and update.cum_cost is not None and update.cum_quantity > 0:
            average = update.cum_cost / update.cum_quantity
        if average is None or average <= 0:
            return []
        try:
            result = self.ledger.reconcile_cumulative(
                update.cum_quantity,
                average,
                cum_cost=update.cum_cost,
                cum_fee=update.cum_fee,
                fee_asset=update.fee_asset,
                time=update.time or 0.0,
            )
        except ValueError:
            return []
        if result is None or not result.recorded or result.new_quantity <= 0:
            return []
        return self._filled_effects(result.fill, result.new_quantity, None)

    def _filled_effects(self, fill: Fill, quantity: Decimal, reason: str | None) -> list[Effect]:
        event = E.FULL_FILL if self.ledger.is_complete else E.PARTIAL_FILL
        transition = apply(self.state, event, has_fills=True)
        if transition.legal:
            self.state = transition.state
        effects: list[Effect] = [Emit(fill=fill, fill_quantity=quantity, reason=reason)]
        if self.spec.role == "entry":
            effects.append(
                PositionChanged(
                    filled_quantity=self.ledger.filled_quantity, final=self.ledger.is_complete
                )
            )
        if self.terminal:
            effects += self._finish()
        return effects

    def _acked(self, now: float) -> list[Effect]:
        if self.placed_at is None:
            self.placed_at = now
        effects = self._event(E.SUBMIT_ACKED)
        timeout = self.spec.timeout_s
        if (
            timeout
            and self.spec.order_type == "limit"
            and self.spec.time_in_force != "IOC"
            and not self.terminal
        ):
            effects.append(StartTimer(name=TIMEOUT, delay_s=max(0.0, timeout)))
        if not self.stream_up and not self.terminal:
            effects.append(StartTimer(name=POLL, delay_s=self.settings.poll_interval_s))
        return effects

    def _after_ack(self) -> list[Effect]:
        """Work that waited for the exchange's acknowledgement."""
        if self.terminal:
            return []
        if self.cancel_wanted is not None and not self.cancel_in_flight:
            return self._request_cancel(self.cancel_wanted)
        if self.is_child:
            return self._resize()
        return []

    # ---- our requests ----------------------------------------------------------------------

    def cancel(self, reason: str) -> list[Effect]:
        """Cancel for ``reason`` (timeout, CancelSignal, halt, OCO sibling closed the position)."""
        if self.terminal:
            return []
        if self.cancel_wanted is None:
            self.cancel_wanted = reason
        if self.state is S.PENDING_SUBMIT:
            # Not on the exchange (never sent, waiting to be sent again, or waiting for quantity).
            return self._event(E.CANCELED, reason=reason)
        if self.state is S.SUBMITTED and not self.withdraw_asked:
            # It may still be queued in the gateway: take it back before it is ever sent.
            self.withdraw_asked = True
            return [Withdraw()]
        if self.state in (S.SUBMITTED, S.SUBMIT_UNKNOWN):
            return []  # held until the outcome is known (see _after_ack / lookup_result)
        if self.cancel_in_flight:
            return []
        return self._request_cancel(reason)

    def _request_cancel(self, reason: str) -> list[Effect]:
        self.cancel_in_flight = True
        return [*self._event(E.CANCEL_REQUESTED, reason=reason), Cancel()]

    def withdraw_result(self, withdrawn: bool) -> list[Effect]:
        """The gateway's answer to Withdraw: True means the AddOrder never left."""
        if withdrawn and self.state is S.SUBMITTED:
            return self._event(E.CANCELED, reason=self.cancel_wanted or "withdrawn before sending")
        return []  # it left: the cancel waits for the acknowledgement

    def cancel_result(self, ok: bool, *, unknown_order: bool = False) -> list[Effect]:
        self.cancel_in_flight = False
        if self.terminal:
            return []
        if ok:
            # The canceled report comes on the stream; without the stream, ask.
            return [] if self.stream_up else [QueryStatus()]
        if unknown_order:
            # The order is gone already (filled or cancelled): learn its final state.
            return self._event(E.CANCEL_REJECTED) + [QueryStatus()]
        return [StartTimer(name=RETRY_CANCEL, delay_s=self.settings.cancel_retry_s)]

    def amend_result(self, ok: bool, now: float) -> list[Effect]:
        quantity, self.amend_in_flight = self.amend_in_flight, None
        if ok and quantity is not None and quantity >= self.ledger.filled_quantity:
            self.ledger.set_order_quantity(quantity)
            self.placed_at = now
            return [Emit(reason=f"amended to {quantity}"), *self._resize()]
        return self._resize() if not self.terminal else []

    # ---- protective children (OCO) ---------------------------------------------------------

    def set_position(self, filled_quantity: Decimal, *, final: bool) -> list[Effect]:
        """The entry's filled quantity (the position this child protects)."""
        self.position = filled_quantity
        self.entry_final = self.entry_final or final
        if self.state is S.PENDING_SUBMIT and self.waiting_for_quantity:
            return self._place()
        return self._resize()

    def set_sibling_filled(self, filled_quantity: Decimal) -> list[Effect]:
        """The other child of the OCO pair closed this much of the position."""
        if filled_quantity <= self.sibling_filled:
            return []
        self.sibling_filled = filled_quantity
        if self.state is S.PENDING_SUBMIT and self.waiting_for_quantity:
            if self.target_quantity() <= 0:
                return self._event(E.CANCELED, reason="position closed by the other order")
            return []
        return self._resize()

    def _resize(self) -> list[Effect]:
        if not self.is_child or self.terminal or self.position is None:
            return []
        if self.state not in (S.OPEN, S.PARTIALLY_FILLED) or self.amend_in_flight is not None:
            return []
        if self.cancel_in_flight or self.cancel_wanted is not None:
            return []
        target = self.target_quantity()
        if target <= self.ledger.filled_quantity:
            return self.cancel("position closed by the other order")
        if target == self.ledger.order_quantity:
            return []
        self.amend_in_flight = target
        return [Amend(quantity=target)]

    # ---- timers and the stream -------------------------------------------------------------

    def timer(self, name: str) -> list[Effect]:
        if self.terminal:
            return []
        if name == TIMEOUT:
            return self.cancel(f"timeout after {self.spec.timeout_s:g} s")
        if name == POLL:
            effects: list[Effect] = (
                []
                if self.stream_up
                else [StartTimer(name=POLL, delay_s=self.settings.poll_interval_s)]
            )
            if self.txid is not None:
                effects.append(QueryStatus())
            return effects
        if name == RESOLVE:
            return [Lookup()] if self.state is S.SUBMIT_UNKNOWN else []
        if name == RETRY_PLACE:
            if self.state is not S.PENDING_SUBMIT:
                return []
            if self.cancel_wanted is not None:
                return self._event(E.CANCELED, reason=self.cancel_wanted)
            return self._place()
        if name == RETRY_CANCEL:
            if self.cancel_in_flight or self.cancel_wanted is None:
                return []
            self.cancel_in_flight = True
            return [Cancel()]
        return []

    def stream_changed(self, up: bool, *, gap: bool) -> list[Effect]:
        """The executions stream went up or down; after a gap, catch up by one status query."""
        self.stream_up = up
        if self.terminal:
            return []
        effects: list[Effect] = []
        if gap and self.txid is not None:
            effects.append(QueryStatus())
        if not up and self.txid is not None:
            effects.append(StartTimer(name=POLL, delay_s=self.settings.poll_interval_s))
        elif up:
            effects.append(StopTimer(name=POLL))
        return effects

    # ---- helpers ---------------------------------------------------------------------------

    def _event(
        self, event: OrderEvent, *, reason: str | None = None, error_code: str | None = None
    ) -> list[Effect]:
        """Apply ``event``; a change of state is reported, a terminal state finishes the order."""
        transition = apply(self.state, event, has_fills=self.ledger.filled_quantity > 0)
        if not transition.legal or not transition.changed:
            return []
        self.state = transition.state
        effects: list[Effect] = [Emit(reason=reason, error_code=error_code)]
        if self.terminal:
            effects += self._finish()
        return effects

    def _finish(self) -> list[Effect]:
        if self.finished:
            return []
        self.finished = True
        effects: list[Effect] = [
            StopTimer(name=TIMEOUT),
            StopTimer(name=POLL),
            StopTimer(name=RESOLVE),
            StopTimer(name=RETRY_PLACE),
            StopTimer(name=RETRY_CANCEL),
        ]
        if self.spec.role == "entry":
            effects.append(PositionChanged(filled_quantity=self.ledger.filled_quantity, final=True))
        effects.append(Finished())
        return effects
