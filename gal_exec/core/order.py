"""One order's lifecycle as a pure object: events in, effects out.

The OrderActor is a thin shell around OrderModel: it turns messages into calls here and carries out
the effects returned (send a request to the gateway, start a timer, emit a report). Nothing here
touches a thread, a socket or a clock; time arrives as an argument.

Rules this model enforces:
- write before acting: ``start`` gives the first report, which the caller journals with the
  order's intent; Place comes only after ``intent_durable()``;
- never re-send blind: an outcome-unknown placement is resolved by cl_ord_id (Lookup) first, and a
  re-send happens only when the look-ups found nothing ``resolve_attempts`` times;
- every state change and every new fill is one Emit, a snapshot taken when it happened, with the
  next gap-free sequence number;
- an event the transition table refuses is never silent: it is an Anomaly effect with the reason;
- an amend (AmendOrder, in place) is never re-sent blind either: one whose answer never came is
  resolved from the order's own record (QueryOrders by txid) or the stream's ``amended`` event.

An order loaded from the journal is rebuilt by ``replay`` (each journaled report, in order, through
the same transition table) and then ``resume`` finds out what happened while the engine was down.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

import msgspec

from gal_exec.core.amend import AmendChange, Figures, PendingAmend, describe
from gal_exec.core.ledger import Fill, FillLedger, FillOutcome
from gal_exec.core.order_state import IllegalTransition, OrderEvent, apply
from gal_exec.core.updates import ExchangeStatus, OrderUpdate, UpdateSource
from gal_exec.core.vocabulary import (
    TERMINAL_STATUSES,
    OrderStatus,
    OrderType,
    Role,
    Side,
    TimeInForce,
)

__all__ = [
    "Amend",
    "AmendChange",
    "AmendRefused",
    "Anomaly",
    "Cancel",
    "Effect",
    "Emit",
    "FetchTrades",
    "FiguresChanged",
    "Finished",
    "Lookup",
    "OrderModel",
    "OrderSettings",
    "OrderSpec",
    "Place",
    "PositionChanged",
    "QueryAmend",
    "QueryStatus",
    "ReportLike",
    "StartTimer",
    "StopTimer",
    "Withdraw",
]

S = OrderStatus
E = OrderEvent
_ZERO = Decimal(0)


class OrderSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What to place. Prices and quantities are already on the pair's grid."""

    cl_ord_id: str
    signal_id: str
    role: Role = Role.ENTRY
    parent_cl_ord_id: str | None = None
    pair: str  # the pair's display name, e.g. "XBT/USD"
    symbol: str = ""  # the exchange's name for the pair in requests, e.g. "XBTUSD"
    price_decimals: int | None = None  # the pair's price decimals (reports round averages to +2)
    received_at: float = 0.0  # monotonic time the signal arrived (signal-to-wire latency)
    side: Side
    order_type: OrderType
    quantity: Decimal
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    expire_at: float | None = None
    post_only: bool = False
    reduce_only: bool = False
    timeout_s: float | None = None  # limit-order timeout; None or 0: never
    sl_price: Decimal | None = None
    tp_price: Decimal | None = None

    @property
    def is_child(self) -> bool:
        return self.role != Role.ENTRY

    @property
    def protected(self) -> bool:
        """An entry with stop-loss or take-profit children to place once it fills."""
        return self.role == Role.ENTRY and (self.sl_price is not None or self.tp_price is not None)


class OrderSettings(msgspec.Struct, frozen=True, kw_only=True):
    poll_interval_s: float = 2.0
    resolve_delay_s: float = 1.0
    resolve_attempts: int = 5
    cancel_retry_s: float = 2.0
    place_retry_s: float = 1.0
    min_quantity: Decimal = _ZERO  # the pair's ordermin: children wait until they reach it


class ReportLike(Protocol):
    """What ``replay`` reads from a journaled report (gal_exec.messages.ExecutionReport has it)."""

    @property
    def status(self) -> str: ...
    @property
    def sequence(self) -> int: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def filled_quantity(self) -> Decimal: ...
    @property
    def last_fill_quantity(self) -> Decimal | None: ...
    @property
    def last_fill_price(self) -> Decimal | None: ...
    @property
    def trade_id(self) -> str | None: ...
    @property
    def fee(self) -> Decimal: ...
    @property
    def fee_asset(self) -> str | None: ...
    @property
    def exchange_order_id(self) -> str | None: ...
    @property
    def average_price(self) -> Decimal | None: ...
    @property
    def limit_price(self) -> Decimal | None: ...
    @property
    def trigger_price(self) -> Decimal | None: ...
    @property
    def exchange_time(self) -> float | None: ...
    @property
    def engine_time(self) -> float: ...


# ---- effects ------------------------------------------------------------------------------------


class _Effect(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Place(_Effect, frozen=True, kw_only=True):
    """Send the order with this quantity (AddOrder, possibly coalesced)."""

    quantity: Decimal


class Cancel(_Effect, frozen=True, kw_only=True):
    """Cancel the order on the exchange."""


class Amend(_Effect, frozen=True, kw_only=True):
    """Change the order in place (AmendOrder): its total quantity and/or its prices.
    ``resize``: a child's own resize to its position (answer with ``resize=True``)."""

    quantity: Decimal | None = None
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None
    resize: bool = False


class AmendRefused(_Effect, frozen=True, kw_only=True):
    """An operator's amend refused before it was sent: report it rejected, with the reason."""

    reason: str


class QueryAmend(_Effect, frozen=True, kw_only=True):
    """Ask for the order's record by txid to learn whether an amend applied (answer with
    ``amend_lookup``; a status query sent before the amend cannot answer this)."""


class FiguresChanged(_Effect, frozen=True, kw_only=True):
    """The order's quantity or prices changed (amended): the desk follows."""

    quantity: Decimal
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None


class Withdraw(_Effect, frozen=True, kw_only=True):
    """Take back the placement if it has not left the gateway yet."""


class QueryStatus(_Effect, frozen=True, kw_only=True):
    """Ask the exchange for the order's record by txid (batched QueryOrders)."""


class Lookup(_Effect, frozen=True, kw_only=True):
    """Find the order by cl_ord_id (OpenOrders, then ClosedOrders)."""


class FetchTrades(_Effect, frozen=True, kw_only=True):
    """Ask for these trades of the order (QueryTrades): fills the exchange reported in totals only."""

    trade_ids: tuple[str, ...]


class StartTimer(_Effect, frozen=True, kw_only=True):
    name: str
    delay_s: float


class StopTimer(_Effect, frozen=True, kw_only=True):
    name: str


class Emit(_Effect, frozen=True, kw_only=True):
    """One report: the order's figures at the moment it happened, with its sequence number.

    ``fill`` is the new fill this report announces and ``fill_quantity`` the quantity it added.
    """

    sequence: int
    status: OrderStatus
    txid: str | None
    quantity: Decimal
    filled_quantity: Decimal
    average_price: Decimal | None
    fee: Decimal
    fee_asset: str
    reason: str | None = None
    error_code: str | None = None
    fill: Fill | None = None
    fill_quantity: Decimal | None = None
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None


class PositionChanged(_Effect, frozen=True, kw_only=True):
    """The entry's filled quantity grew: its protection must cover ``filled_quantity``."""

    filled_quantity: Decimal
    average_price: Decimal | None = None
    final: bool = False


class Anomaly(_Effect, frozen=True, kw_only=True):
    """Something the model refused or could not account (an illegal event, bad figures)."""

    reason: str


class Finished(_Effect, frozen=True, kw_only=True):
    """The order is terminal and reported; the actor may stop."""


Effect = (
    Place
    | Cancel
    | Amend
    | AmendRefused
    | QueryAmend
    | FiguresChanged
    | Withdraw
    | QueryStatus
    | Lookup
    | FetchTrades
    | StartTimer
    | StopTimer
    | Emit
    | PositionChanged
    | Anomaly
    | Finished
)
"""Everything the model may ask its shell to do."""

TIMEOUT = "timeout"
POLL = "poll"
RESOLVE = "resolve"
RETRY_PLACE = "retry_place"
RETRY_CANCEL = "retry_cancel"
RESOLVE_AMEND = "resolve_amend"
TIMERS = (TIMEOUT, POLL, RESOLVE, RETRY_PLACE, RETRY_CANCEL, RESOLVE_AMEND)

# A journaled status, reached from the state before it, is replayed as this event (the second
# event is the one to try when the first is illegal there, e.g. open after a failed cancel).
_REPLAY_EVENTS: dict[OrderStatus, tuple[OrderEvent, ...]] = {
    S.PENDING_SUBMIT: (E.RESOLVED_ABSENT,),
    S.SUBMITTED: (E.SUBMIT_SENT,),
    S.SUBMIT_UNKNOWN: (E.SUBMIT_TIMED_OUT,),
    S.OPEN: (E.SUBMIT_ACKED, E.CANCEL_REJECTED),
    S.PARTIALLY_FILLED: (E.PARTIAL_FILL, E.CANCEL_REJECTED),
    S.PENDING_CANCEL: (E.CANCEL_REQUESTED,),
    S.FILLED: (E.FULL_FILL,),
    S.CANCELED: (E.CANCELED,),
    S.EXPIRED: (E.EXPIRED,),
    S.REJECTED: (E.SUBMIT_REJECTED, E.REJECTED),
    S.VALIDATED: (E.VALIDATED,),
}


class OrderModel:
    """The lifecycle of one order (an entry or a protective child)."""

    def __init__(self, spec: OrderSpec, settings: OrderSettings | None = None) -> None:
        self.spec = spec
        self.settings = settings or OrderSettings()
        self.state = S.PENDING_SUBMIT
        self.sequence = 0  # of the last report emitted
        self.ledger = FillLedger(spec.quantity)
        self.txid: str | None = None
        self.stream_up = False
        self.placed_at: float | None = None  # when the exchange took it, or last amended
        self.cancel_wanted: str | None = None  # reason, while a cancel waits for an ack
        self.cancel_in_flight = False
        self.withdraw_asked = False
        self.limit_price = spec.limit_price  # as amended
        self.trigger_price = spec.trigger_price
        self.amend_pending: PendingAmend | None = None  # an operator's
        self.resize_pending: PendingAmend | None = None  # a child's own, to its position
        self.verify_figures = False  # resumed: the first exchange record may show a lost amend
        self.resolve_attempts = 0
        self.finished = False
        self.anomalies = 0
        self.pending_totals: OrderUpdate | None = None  # totals waiting for FetchTrades
        self.pending_status: OrderUpdate | None = None  # the latest status seen meanwhile
        self.resumed = False  # rebuilt from the journal: fills made meanwhile are fetched by id
        self.missing = 0  # looks for an acknowledged order that no exchange list shows
        # Protective children only: the position they cover and what the sibling closed.
        self.position: Decimal | None = None
        self.sibling_filled = _ZERO
        self.entry_final = False
        self.waiting_for_quantity = False
        self.rejection: str | None = None  # refused before it was ever sent (see ``reject``)
        self._rejection_code: str | None = None

    # ---- derived ---------------------------------------------------------------------------

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATUSES

    @property
    def is_child(self) -> bool:
        return self.spec.is_child

    @property
    def order_quantity(self) -> Decimal:
        return self.ledger.order_quantity

    @property
    def figures(self) -> Figures:
        """The order's quantity and prices as they stand (amends included)."""
        return Figures(
            quantity=self.ledger.order_quantity,
            limit_price=self.limit_price,
            trigger_price=self.trigger_price,
        )

    def target_quantity(self) -> Decimal:
        """A child's total quantity: its own fills plus whatever position is still open."""
        assert self.position is not None
        open_position = self.position - self.ledger.filled_quantity - self.sibling_filled
        return self.ledger.filled_quantity + max(_ZERO, open_position)

    # ---- starting --------------------------------------------------------------------------

    def protect(
        self, position: Decimal, *, sibling_filled: Decimal = _ZERO, entry_final: bool = False
    ) -> None:
        """A protective child's inputs before it starts or resumes (no transition, no effect)."""
        self.position = position
        self.sibling_filled = max(self.sibling_filled, sibling_filled)
        self.entry_final = self.entry_final or entry_final

    def reject(self, reason: str, error_code: str | None = None) -> None:
        """Refuse the order before it starts (e.g. a stop that would trigger at once): ``start``
        then reports it rejected, journals it, and finishes."""
        self.rejection = reason
        self._rejection_code = error_code

    @property
    def started(self) -> bool:
        """True once ``start`` (or ``replay``) gave the order its first report."""
        return self.sequence > 0

    def first_placement(self) -> Decimal | None:
        """The quantity ``intent_durable`` will place for a new entry order, so its placement
        can leave with the commit of its intent; None when that is not known in advance (a
        protective order's size follows its entry, a cancel may be waiting)."""
        if self.is_child or self.cancel_wanted is not None or self.rejection is not None:
            return None
        return self.spec.quantity

    def start(self) -> tuple[Emit, list[Effect]]:
        """A new order: its first report, and effects for the rest.

        The caller makes the intent durable with this report, then calls ``intent_durable()``;
        nothing is sent before (``Place`` comes only from there). An order refused by ``reject``
        is reported rejected and finished at once.
        """
        if self.is_child and self.position is None and self.rejection is None:
            raise ValueError("a protective order needs its position before it starts")
        if self.rejection is not None:
            effects = self._event(
                E.SUBMIT_REJECTED, reason=self.rejection, error_code=self._rejection_code
            )
            first = effects[0]
            assert isinstance(first, Emit)
            return first, effects[1:]
        return self._emit(), []

    def intent_durable(self) -> list[Effect]:
        if self.state is not S.PENDING_SUBMIT or self.finished:
            return []
        if self.cancel_wanted is not None:
            return self._event(E.CANCELED, reason=self.cancel_wanted)
        return self._place()

    def replay(self, report: ReportLike) -> list[Anomaly]:
        """Apply one journaled report of this order (in sequence order) to rebuild its state."""
        if report.sequence <= self.sequence:
            return []
        self.sequence = report.sequence
        anomalies: list[Anomaly] = []
        if report.exchange_order_id:
            self.txid = report.exchange_order_id
        filled = report.last_fill_quantity
        if filled is not None and filled > 0:
            fee = report.fee - self.ledger.total_fee
            price = report.last_fill_price
            if price is None or price <= 0:
                anomalies.append(Anomaly(reason=f"report #{report.sequence}: fill without a price"))
            else:
                synthetic = report.trade_id is None
                fill = Fill(
                    trade_id=report.trade_id or f"cum:{report.filled_quantity.normalize():f}",
                    quantity=filled,
                    price=price,
                    fee=max(fee, _ZERO),
                    fee_asset=report.fee_asset or "",
                    time=report.exchange_time or report.engine_time,
                    synthetic=synthetic,
                )
                self.ledger.add(fill)
        behind = report.filled_quantity > self.ledger.filled_quantity
        if behind and report.average_price is not None and report.average_price > 0:
            # A real trade that replaced quantity first known from totals was never reported
            # (it added nothing new), so the journal's totals close the gap it leaves.
            self.ledger.reconcile_cumulative(
                report.filled_quantity,
                report.average_price,
                cum_fee=report.fee,
                fee_asset=report.fee_asset or "",
                time=report.exchange_time or report.engine_time,
            )
        quantity = report.quantity
        ledger = self.ledger
        if (
            quantity > 0
            and quantity != ledger.order_quantity
            and quantity >= ledger.filled_quantity
        ):
            ledger.set_order_quantity(quantity)  # amended
        if report.limit_price is not None:
            self.limit_price = report.limit_price
        if report.trigger_price is not None:
            self.trigger_price = report.trigger_price
        status = OrderStatus(report.status)
        if status is not self.state:
            anomalies += self._replay_status(status, report.sequence)
        if self.terminal:
            self.finished = True
        return anomalies

    def _replay_status(self, status: OrderStatus, sequence: int) -> list[Anomaly]:
        has_fills = self.ledger.filled_quantity > 0
        for event in _REPLAY_EVENTS[status]:
            transition = apply(self.state, event, has_fills=has_fills)
            if transition.legal and transition.state is status:
                self.state = status
                return []
        # The journal is the record of what was reported: follow it, and say so.
        reason = f"report #{sequence}: {self.state} -> {status} is not in the transition table"
        self.state = status
        self.anomalies += 1
        return [Anomaly(reason=reason)]

    def resume(self, now: float) -> list[Effect]:
        """Continue an order rebuilt by ``replay``: find out what happened while we were down.

        ``spec.timeout_s`` is the time left of a limit order's timeout. Fills the exchange made
        meanwhile are fetched by trade id (FetchTrades), so they are accounted like live ones.
        """
        self.resumed = True
        if self.terminal:
            self.finished = True
            return [Finished()]
        if self.txid is not None:
            effects: list[Effect] = [QueryStatus()]
            self.placed_at = now
            self.verify_figures = True
            if self.state is S.PENDING_CANCEL:
                # The cancel may not have left before the crash; cancelling again is harmless.
                self.cancel_wanted = "recovered while a cancel was pending"
                self.cancel_in_flight = True
                effects.append(Cancel())
            elif self.spec.timeout_s and self.spec.order_type == OrderType.LIMIT:
                effects.append(StartTimer(name=TIMEOUT, delay_s=self.spec.timeout_s))
            if not self.stream_up:
                effects.append(StartTimer(name=POLL, delay_s=self.settings.poll_interval_s))
            # A child may have missed a change of its position or of its sibling while down.
            return effects + self._resize()
        # It may or may not have reached the exchange: resolve by cl_ord_id, never re-send blind.
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
        """validate_only: the exchange checked the order and placed nothing."""
        return self._event(E.VALIDATED, reason="validated by the exchange; not placed")

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
        if update is None and self.missing and not self.terminal:
            return self._still_missing()
        if self.terminal or self.state is not S.SUBMIT_UNKNOWN:
            return [] if update is None else self.exchange_update(update, now)
        if update is not None:
            return self.exchange_update(update, now)
        self.resolve_attempts += 1
        if self.resolve_attempts < self.settings.resolve_attempts:
            return [StartTimer(name=RESOLVE, delay_s=self.settings.resolve_delay_s)]
        # Absent from open and closed orders every time: it never reached the exchange.
        if self.cancel_wanted is not None:
            # Cancelled meanwhile: nothing to send and nothing to cancel; one report says so.
            return self._event(
                E.CANCELED, reason=f"{self.cancel_wanted} (it never reached the exchange)"
            )
        # Send once more with the same cl_ord_id (Kraken refuses a duplicate among open orders).
        effects = self._event(
            E.RESOLVED_ABSENT, reason="not found on the exchange; sending it once more"
        )
        return effects + self._place()

    def lookup_failed(self) -> list[Effect]:
        if self.terminal:
            return []
        return [StartTimer(name=RESOLVE, delay_s=self.settings.resolve_delay_s)]

    # ---- exchange observations -------------------------------------------------------------

    def exchange_update(self, update: OrderUpdate, now: float) -> list[Effect]:
        effects: list[Effect] = []
        self.missing = 0
        if update.txid and self.txid is None:
            self.txid = update.txid
        effects += self._observed_figures(update, now)
        quantity = update.order_quantity
        if (
            quantity is not None
            and self.is_child
            and self.resize_pending is None
            and quantity >= self.ledger.filled_quantity
            and quantity > 0
        ):
            self.ledger.set_order_quantity(quantity)
        if update.fill is not None:
            effects += self._fill(update.fill)
        if update.cum_quantity is not None and update.cum_quantity > self.ledger.filled_quantity:
            missing = tuple(t for t in update.trade_ids if not self.ledger.has_trade(t))
            if missing and self.resumed and self.pending_totals is None:
                # Fills made while the engine was down: account them as real fills (trade id,
                # fee asset), not as one total; the totals stand in if the trades never come.
                # (While running, the stream or its snapshot brings each trade.)
                self.pending_totals = update
                effects.append(FetchTrades(trade_ids=missing))
            elif self.pending_totals is None:
                effects += self._cumulative(update)
        if self.state in (S.SUBMITTED, S.SUBMIT_UNKNOWN, S.PENDING_SUBMIT) and (
            update.status in (ExchangeStatus.PENDING, ExchangeStatus.OPEN)
        ):
            effects += self._acked(now)
            effects += self._after_ack()
        if self.pending_totals is not None:
            # An ending waits for the fills being fetched: a terminal report is the order's
            # last word, so every fill it made is reported before it (trades_result applies it).
            self.pending_status = update
            return effects
        effects += self._exchange_status(update)
        return effects

    def _exchange_status(self, update: OrderUpdate) -> list[Effect]:
        status = update.status
        if status is ExchangeStatus.FILLED and not self.ledger.is_complete:
            # Filled without the figures to show it (a sparse update): learn them by REST.
            if update.source is not UpdateSource.REST:
                return [QueryStatus()]
            return []
        if status is ExchangeStatus.FILLED:
            return self._event(E.FULL_FILL)
        if status is ExchangeStatus.CANCELED:
            # Our own reason (timeout, CancelSignal, OCO) says more than Kraken's "User requested".
            return self._event(E.CANCELED, reason=self.cancel_wanted or update.reason)
        if status is ExchangeStatus.EXPIRED:
            return self._event(E.EXPIRED, reason=update.reason)
        return []

    def trades_result(self, fills: list[Fill] | None) -> list[Effect]:
        """The trades asked for by FetchTrades (None: the query failed)."""
        totals, self.pending_totals = self.pending_totals, None
        status, self.pending_status = self.pending_status, None
        effects: list[Effect] = []
        for fill in sorted(fills or (), key=lambda f: (f.time, f.trade_id)):
            effects += self._fill(fill)
        for figures in (totals, status):
            cumulative = None if figures is None else figures.cum_quantity
            if (
                figures is not None
                and cumulative is not None
                and cumulative > self.ledger.filled_quantity
            ):
                effects += self._cumulative(figures)
        latest = status or totals
        if latest is not None:
            effects += self._exchange_status(latest)
        return effects

    def not_found(self) -> list[Effect]:
        """QueryOrders did not know the txid: look for it by cl_ord_id instead."""
        if self.terminal:
            return []
        if self.txid is not None and self.state is not S.SUBMIT_UNKNOWN:
            self.missing = max(self.missing, 1)
        return [Lookup()]

    def _still_missing(self) -> list[Effect]:
        """An order the exchange acknowledged is in none of its lists (by txid or cl_ord_id):
        an exchange that forgot it (a fresh simulator) or lost it. After ``resolve_attempts``
        looks it ends, said plainly, rather than being followed forever."""
        if self.missing < self.settings.resolve_attempts:
            self.missing += 1
            return [StartTimer(name=RESOLVE, delay_s=self.settings.resolve_delay_s)]
        self.missing = 0
        reason = (
            f"the exchange has no record of this order (txid {self.txid}): not found by "
            "QueryOrders, OpenOrders or ClosedOrders"
        )
        return [self._anomaly(reason), *self._event(E.CANCELED, reason=reason)]

    def _fill(self, fill: Fill) -> list[Effect]:
        result = self.ledger.add(fill)
        if result.outcome is FillOutcome.INVALID:
            return [self._anomaly(f"fill refused: {result.reason}")]
        if result.outcome is FillOutcome.DUPLICATE or not result.recorded:
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
        except ValueError as exc:
            return [self._anomaly(f"cumulative figures refused: {exc}")]
        if result is None or not result.recorded or result.new_quantity <= 0:
            return []
        return self._filled_effects(result.fill, result.new_quantity, None)

    def _filled_effects(self, fill: Fill, quantity: Decimal, reason: str | None) -> list[Effect]:
        event = E.FULL_FILL if self.ledger.is_complete else E.PARTIAL_FILL
        transition = apply(self.state, event, has_fills=True)
        if transition.legal:
            self.state = transition.state
        else:
            self.anomalies += 1
        effects: list[Effect] = [self._emit(fill=fill, fill_quantity=quantity, reason=reason)]
        if self.spec.role == Role.ENTRY:
            effects.append(
                PositionChanged(
                    filled_quantity=self.ledger.filled_quantity,
                    average_price=self.ledger.average_price,
                    final=self.ledger.is_complete,
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
            and self.spec.order_type == OrderType.LIMIT
            and self.spec.time_in_force != TimeInForce.IOC
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

    # ---- amends ----------------------------------------------------------------------------

    def amend(self, change: AmendChange) -> list[Effect]:
        """An operator's amend (AmendSignal): send what it changes, or say why not."""
        refusal = self._amend_refusal(change)
        if refusal is not None:
            return [AmendRefused(reason=refusal)]
        needed = self.figures.needed(change)
        self.amend_pending = PendingAmend(change=needed, before=self.figures, operator=True)
        return [_amend_effect(needed)]

    def _amend_refusal(self, change: AmendChange) -> str | None:
        state = self.state
        if self.terminal:
            return f"the order is {state}: nothing to amend"
        if self.txid is None or state in (S.PENDING_SUBMIT, S.SUBMITTED, S.SUBMIT_UNKNOWN):
            return (
                f"the order is {state}, not yet acknowledged by the exchange; amend it once it "
                "is open"
            )
        if state is S.PENDING_CANCEL or self.cancel_wanted is not None:
            return "a cancel of the order is pending"
        if self.amend_pending is not None:
            return "an earlier amend of the order is not answered yet; try again once it is"
        filled = self.ledger.filled_quantity
        if change.quantity is not None and change.quantity <= filled:
            return (
                f"quantity {change.quantity} must be above the filled quantity {filled} "
                "(to stop the order filling, cancel it)"
            )
        if self.figures.needed(change).empty:
            return f"nothing to change: the order has {change.named()} already"
        return None

    def amend_result(
        self,
        ok: bool,
        now: float,
        *,
        category: str = "",
        code: str = "",
        raw: str = "",
        resize: bool | None = None,
    ) -> list[Effect]:
        """The gateway's answer to Amend: ``ok``, or an error already classified. ``resize``
        names which amend it answers (a child's own resize, or the operator's); None: the one
        that is pending."""
        if resize is None:
            resize = self.amend_pending is None
        pending = self.resize_pending if resize else self.amend_pending
        self._settle(pending)
        if pending is None or self.terminal:
            return []  # answered already (the stream's amended event), or the order ended
        if ok:
            return self._applied(pending, now, "amended") + self._resize()
        if category == "outcome_unknown":
            # It may have applied: never send it again blind; the order's record will tell.
            pending.unknown = True
            self._hold(pending)
            effects: list[Effect] = []
            if pending.operator:
                reason = (
                    f"amend outcome unknown ({pending.change.named()}): {raw}; looking the order up"
                )
                effects.append(self._emit(reason=reason))
            return [*effects, StartTimer(name=RESOLVE_AMEND, delay_s=self.settings.resolve_delay_s)]
        if not pending.operator:
            return self._resize()
        reason = (
            f"amend refused by the exchange ({pending.change.named()}): {raw}; the order stays "
            f"as it was ({_figures_text(self.figures)})"
        )
        return [self._emit(reason=reason, error_code=code or None), *self._resize()]

    def amend_lookup(self, update: OrderUpdate | None, now: float) -> list[Effect]:
        """The order's record asked for by QueryAmend (None: the exchange did not list it)."""
        if update is None:
            return self.not_found() + self.amend_lookup_failed()
        effects = self.exchange_update(update, now)
        observed = self.figures.observed(
            update.order_quantity, update.limit_price, update.trigger_price
        )
        for pending in self._pendings():
            if not pending.unknown or self.terminal:
                continue
            self._settle(pending)
            if observed.shows(pending.change):
                effects += self._applied(
                    pending, now, "amended (its answer was lost; the order shows it)"
                )
                continue
            shown = AmendChange(
                quantity=observed.quantity if pending.change.quantity is not None else None,
                limit_price=(
                    observed.limit_price if pending.change.limit_price is not None else None
                ),
                trigger_price=(
                    observed.trigger_price if pending.change.trigger_price is not None else None
                ),
            )
            if pending.operator:
                reason = (
                    f"amend not applied ({pending.change.named()}): its answer was lost and the "
                    f"order shows {_figures_text(observed)}"
                )
                effects.append(self._emit(reason=reason))
            effects += self._adopt(self.figures.after(shown), now, "the exchange shows")
        return effects + self._resize()

    def amend_lookup_failed(self) -> list[Effect]:
        if self.terminal or not any(p.unknown for p in self._pendings()):
            return []
        return [StartTimer(name=RESOLVE_AMEND, delay_s=self.settings.resolve_delay_s)]

    def _observed_figures(self, update: OrderUpdate, now: float) -> list[Effect]:
        """An amended (or restated) event, or the first record after a restart: the exchange's
        figures are the order's."""
        record = update.source is UpdateSource.REST and self.verify_figures
        if self.terminal or not (update.amended or record):
            return []
        if record:
            self.verify_figures = False
        observed = self.figures.observed(
            update.order_quantity, update.limit_price, update.trigger_price
        )
        pendings = self._pendings()
        if pendings:
            # An amend of ours is pending: only its own event settles it; the rest waits for
            # its answer (or look-up).
            effects: list[Effect] = []
            for pending in pendings:
                if update.amended and observed.shows(pending.change):
                    self._settle(pending)
                    effects += self._applied(pending, now, "amended")
            if effects and not any(p.unknown for p in self._pendings()):
                effects.insert(0, StopTimer(name=RESOLVE_AMEND))
            return effects + self._resize() if effects else []
        what = (
            "amended on the exchange"
            if update.amended
            else "the exchange shows the order amended while the engine was down"
        )
        return self._adopt(observed, now, what)

    def _pendings(self) -> list[PendingAmend]:
        return [p for p in (self.amend_pending, self.resize_pending) if p is not None]

    def _hold(self, pending: PendingAmend) -> None:
        if pending.operator:
            self.amend_pending = pending
        else:
            self.resize_pending = pending

    def _settle(self, pending: PendingAmend | None) -> None:
        if pending is None:
            return
        if pending is self.amend_pending:
            self.amend_pending = None
        if pending is self.resize_pending:
            self.resize_pending = None

    def _applied(self, pending: PendingAmend, now: float, what: str) -> list[Effect]:
        return self._adopt(self.figures.after(pending.change), now, what)

    def _adopt(self, target: Figures, now: float, what: str) -> list[Effect]:
        """Take ``target`` as the order's figures; a change is reported (``what: changes``)."""
        before = self.figures
        ledger = self.ledger
        quantity = max(target.quantity, ledger.filled_quantity)
        if quantity > 0 and quantity != ledger.order_quantity:
            ledger.set_order_quantity(quantity)
        self.limit_price = target.limit_price
        self.trigger_price = target.trigger_price
        after = self.figures
        if after == before:
            return []
        self.placed_at = now  # Kraken prices a later cancel or amend by the age since this one
        effects: list[Effect] = [
            self._emit(reason=f"{what}: {describe(before, after)}"),
            FiguresChanged(
                quantity=after.quantity,
                limit_price=after.limit_price,
                trigger_price=after.trigger_price,
            ),
        ]
        if ledger.is_complete and not self.terminal:
            effects += self._event(E.FULL_FILL)  # amended down to what had filled
        return effects

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
        """A child's quantity follows its position: amended in place (alongside an operator's
        trigger amend, which changes another figure), cancelled once the position is closed."""
        if not self.is_child or self.terminal or self.position is None:
            return []
        if self.state not in (S.OPEN, S.PARTIALLY_FILLED):
            return []
        if self.cancel_in_flight or self.cancel_wanted is not None:
            return []
        target = self.target_quantity()
        if target <= self.ledger.filled_quantity:
            return self.cancel("position closed by the other order")
        if self.resize_pending is not None or target == self.ledger.order_quantity:
            return []
        change = AmendChange(quantity=target)
        self.resize_pending = PendingAmend(change=change, before=self.figures, operator=False)
        return [Amend(quantity=target, resize=True)]

    # ---- timers and the stream -------------------------------------------------------------

    def timer(self, name: str) -> list[Effect]:
        if self.terminal:
            return []
        if name == TIMEOUT:
            return self.cancel(f"timeout after {self.spec.timeout_s or 0:g} s")
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
            return [Lookup()] if self.state is S.SUBMIT_UNKNOWN or self.missing else []
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
        if name == RESOLVE_AMEND:
            return [QueryAmend()] if any(p.unknown for p in self._pendings()) else []
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

    def _emit(
        self,
        *,
        reason: str | None = None,
        error_code: str | None = None,
        fill: Fill | None = None,
        fill_quantity: Decimal | None = None,
    ) -> Emit:
        """A report of the order as it is now, with the next sequence number."""
        self.sequence += 1
        ledger = self.ledger
        return Emit(
            sequence=self.sequence,
            status=self.state,
            txid=self.txid,
            quantity=ledger.order_quantity,
            filled_quantity=ledger.filled_quantity,
            average_price=ledger.average_price,
            fee=ledger.total_fee,
            fee_asset=ledger.fee_asset,
            reason=reason,
            error_code=error_code,
            fill=fill,
            fill_quantity=fill_quantity,
            limit_price=self.limit_price,
            trigger_price=self.trigger_price,
        )

    def _event(
        self, event: OrderEvent, *, reason: str | None = None, error_code: str | None = None
    ) -> list[Effect]:
        """Apply ``event``; a change of state is reported, a terminal state finishes the order."""
        transition = apply(self.state, event, has_fills=self.ledger.filled_quantity > 0)
        if isinstance(transition, IllegalTransition):
            return [self._anomaly(transition.reason)]
        if not transition.changed:
            return []
        self.state = transition.state
        effects: list[Effect] = [self._emit(reason=reason, error_code=error_code)]
        if self.terminal:
            effects += self._finish()
        return effects

    def _anomaly(self, reason: str) -> Anomaly:
        self.anomalies += 1
        return Anomaly(reason=reason)

    def _finish(self) -> list[Effect]:
        if self.finished:
            return []
        self.finished = True
        effects: list[Effect] = [StopTimer(name=name) for name in TIMERS]
        if self.spec.role == Role.ENTRY:
            effects.append(
                PositionChanged(
                    filled_quantity=self.ledger.filled_quantity,
                    average_price=self.ledger.average_price,
                    final=True,
                )
            )
        effects.append(Finished())
        return effects


def _amend_effect(change: AmendChange) -> Amend:
    return Amend(
        quantity=change.quantity,
        limit_price=change.limit_price,
        trigger_price=change.trigger_price,
    )


def _figures_text(figures: Figures) -> str:
    """``quantity 1.0, limit_price 64000.0``: the figures an order has."""
    shown = AmendChange(
        quantity=figures.quantity,
        limit_price=figures.limit_price,
        trigger_price=figures.trigger_price,
    )
    return shown.named()
