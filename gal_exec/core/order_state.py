"""The order state machine as data: states, events, a transition table, and `apply`.

The table accepts the races the real exchange produces:

- a fill (WebSocket) before the submit acknowledgement (REST), from `submitted` and
  `submit_unknown`;
- any number of partial fills, also while `pending_cancel`;
- a late acknowledgement after fills or after the order ended (accepted, state unchanged);
- `canceled` / `expired` before the acknowledgement;
- a failed cancel (`cancel_rejected`) returning to `open`, or to `partially_filled` if the order
  has fills, and a failed cancel that lost the race with the final fill;
- a fill reported after `canceled` / `expired`: the state stays terminal ("accepted, state
  unchanged") while the caller's ledger still accounts the fill.

Whether the order has fills is a parameter of `apply` (`has_fills`), not a second event: every
transition into `open` becomes `partially_filled` when `has_fills` is true. That one rule covers
`cancel_rejected` and keeps the table a plain dict.

Exchange reports about our `cl_ord_id` are believed in `pending_submit` too: an outcome-unknown
resolution can find nothing because OpenOrders lags a just-placed order, and the order may then
turn up in the stream; the engine must follow it rather than send it again.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from gal_exec.core.vocabulary import TERMINAL_STATUSES, OrderStatus

__all__ = [
    "TRANSITIONS",
    "IllegalTransition",
    "OrderEvent",
    "Transition",
    "allowed_events",
    "apply",
    "transition_table_markdown",
]


class OrderEvent(StrEnum):
    """What happened to an order: our own steps and the exchange's reports."""

    SUBMIT_SENT = "submit_sent"
    SUBMIT_ACKED = "submit_acked"
    SUBMIT_TIMED_OUT = "submit_timed_out"
    SUBMIT_REJECTED = "submit_rejected"
    RESOLVED_ABSENT = "resolved_absent"
    PARTIAL_FILL = "partial_fill"
    FULL_FILL = "full_fill"
    CANCEL_REQUESTED = "cancel_requested"
    CANCEL_REJECTED = "cancel_rejected"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    VALIDATED = "validated"


S = OrderStatus
E = OrderEvent


def _same(state: OrderStatus, *events: OrderEvent) -> dict[tuple[OrderStatus, OrderEvent], S]:
    """Rows for events that are accepted without changing `state`."""
    return {(state, event): state for event in events}


TRANSITIONS: dict[tuple[OrderStatus, OrderEvent], OrderStatus] = {
    # Not sent yet. Exchange reports are believed (see the module docstring).
    (S.PENDING_SUBMIT, E.SUBMIT_SENT): S.SUBMITTED,
    (S.PENDING_SUBMIT, E.SUBMIT_REJECTED): S.REJECTED,  # refused locally before sending
    (S.PENDING_SUBMIT, E.CANCELED): S.CANCELED,  # dropped before sending
    (S.PENDING_SUBMIT, E.SUBMIT_ACKED): S.OPEN,
    (S.PENDING_SUBMIT, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.PENDING_SUBMIT, E.FULL_FILL): S.FILLED,
    (S.PENDING_SUBMIT, E.EXPIRED): S.EXPIRED,
    (S.PENDING_SUBMIT, E.REJECTED): S.REJECTED,
    # Journaled, then the engine restarted: it may have been sent. Resolve by cl_ord_id.
    (S.PENDING_SUBMIT, E.SUBMIT_TIMED_OUT): S.SUBMIT_UNKNOWN,
    # Sent, no answer yet.
    (S.SUBMITTED, E.SUBMIT_ACKED): S.OPEN,
    (S.SUBMITTED, E.SUBMIT_TIMED_OUT): S.SUBMIT_UNKNOWN,
    (S.SUBMITTED, E.SUBMIT_REJECTED): S.REJECTED,
    (S.SUBMITTED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.SUBMITTED, E.FULL_FILL): S.FILLED,
    (S.SUBMITTED, E.CANCELED): S.CANCELED,
    (S.SUBMITTED, E.EXPIRED): S.EXPIRED,
    (S.SUBMITTED, E.REJECTED): S.REJECTED,
    # validate_only: the exchange checked the order and placed nothing.
    (S.SUBMITTED, E.VALIDATED): S.VALIDATED,
    # A definite "not placed" answer (a rate-limit rejection): it may be sent again later.
    (S.SUBMITTED, E.RESOLVED_ABSENT): S.PENDING_SUBMIT,
    # Sent, outcome unknown: only evidence moves it; never a blind re-send.
    (S.SUBMIT_UNKNOWN, E.SUBMIT_ACKED): S.OPEN,
    (S.SUBMIT_UNKNOWN, E.SUBMIT_REJECTED): S.REJECTED,
    (S.SUBMIT_UNKNOWN, E.RESOLVED_ABSENT): S.PENDING_SUBMIT,
    (S.SUBMIT_UNKNOWN, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.SUBMIT_UNKNOWN, E.FULL_FILL): S.FILLED,
    (S.SUBMIT_UNKNOWN, E.CANCELED): S.CANCELED,
    (S.SUBMIT_UNKNOWN, E.EXPIRED): S.EXPIRED,
    (S.SUBMIT_UNKNOWN, E.REJECTED): S.REJECTED,
    **_same(S.SUBMIT_UNKNOWN, E.SUBMIT_TIMED_OUT),
    # Working on the book.
    (S.OPEN, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.OPEN, E.FULL_FILL): S.FILLED,
    (S.OPEN, E.CANCEL_REQUESTED): S.PENDING_CANCEL,
    (S.OPEN, E.CANCELED): S.CANCELED,
    (S.OPEN, E.EXPIRED): S.EXPIRED,
    (S.OPEN, E.REJECTED): S.REJECTED,  # e.g. WS pending_new, then a failed pre-match check
    **_same(S.OPEN, E.SUBMIT_ACKED, E.SUBMIT_TIMED_OUT, E.CANCEL_REJECTED),
    (S.PARTIALLY_FILLED, E.FULL_FILL): S.FILLED,
    (S.PARTIALLY_FILLED, E.CANCEL_REQUESTED): S.PENDING_CANCEL,
    (S.PARTIALLY_FILLED, E.CANCELED): S.CANCELED,
    (S.PARTIALLY_FILLED, E.EXPIRED): S.EXPIRED,
    **_same(
        S.PARTIALLY_FILLED,
        E.SUBMIT_ACKED,
        E.SUBMIT_TIMED_OUT,
        E.PARTIAL_FILL,
        E.CANCEL_REJECTED,
    ),
    # Cancel in flight: fills still happen; a failed cancel returns to working.
    (S.PENDING_CANCEL, E.FULL_FILL): S.FILLED,
    (S.PENDING_CANCEL, E.CANCEL_REJECTED): S.OPEN,  # partially_filled when has_fills
    (S.PENDING_CANCEL, E.CANCELED): S.CANCELED,
    (S.PENDING_CANCEL, E.EXPIRED): S.EXPIRED,
    (S.PENDING_CANCEL, E.REJECTED): S.REJECTED,
    **_same(
        S.PENDING_CANCEL,
        E.SUBMIT_ACKED,
        E.SUBMIT_TIMED_OUT,
        E.PARTIAL_FILL,
        E.CANCEL_REQUESTED,
    ),
    # Terminal: late or duplicate reports are accepted and change nothing.
    **_same(
        S.FILLED,
        E.SUBMIT_ACKED,
        E.SUBMIT_TIMED_OUT,
        E.PARTIAL_FILL,
        E.FULL_FILL,
        E.CANCEL_REJECTED,  # the cancel lost the race with the last fill
    ),
    **_same(
        S.CANCELED,
        E.SUBMIT_ACKED,
        E.SUBMIT_TIMED_OUT,
        E.PARTIAL_FILL,  # late fill: the ledger accounts it, the order stays canceled
        E.FULL_FILL,
        E.CANCEL_REJECTED,
        E.CANCELED,
    ),
    **_same(
        S.EXPIRED,
        E.SUBMIT_ACKED,
        E.SUBMIT_TIMED_OUT,
        E.PARTIAL_FILL,
        E.FULL_FILL,
        E.CANCEL_REJECTED,
        E.EXPIRED,
    ),
    **_same(S.VALIDATED, E.VALIDATED),
    **_same(
        S.REJECTED,
        E.SUBMIT_ACKED,  # a late ack after the exchange rejected it (e.g. WS pending_new first)
        E.SUBMIT_TIMED_OUT,
        E.SUBMIT_REJECTED,
        E.CANCEL_REJECTED,  # our cancel found the order already gone
        E.REJECTED,
    ),
}
"""(state, event) -> next state for every legal pair; a pair that is absent is illegal."""


class Transition(msgspec.Struct, frozen=True, kw_only=True):
    """A legal event: the state before and after, and whether it changed."""

    previous: OrderStatus
    state: OrderStatus
    event: OrderEvent
    changed: bool

    @property
    def legal(self) -> bool:
        """Always True (lets callers test either result type the same way)."""
        return True


class IllegalTransition(msgspec.Struct, frozen=True, kw_only=True):
    """An event the state machine refuses in `state`; `reason` says why, for a log or report."""

    state: OrderStatus
    event: OrderEvent
    reason: str

    @property
    def legal(self) -> bool:
        """Always False."""
        return False


_SPECIAL_REASONS: dict[tuple[OrderStatus, OrderEvent], str] = {
    (S.SUBMITTED, E.SUBMIT_SENT): "already sent; an order is never re-sent blind",
    (S.SUBMIT_UNKNOWN, E.SUBMIT_SENT): (
        "submission outcome is unknown; resolve it by cl_ord_id before sending again"
    ),
    (S.SUBMITTED, E.CANCEL_REQUESTED): (
        "not acknowledged yet; hold the cancel until the exchange acknowledges the order"
    ),
    (S.SUBMIT_UNKNOWN, E.CANCEL_REQUESTED): (
        "submission outcome is unknown; hold the cancel until the outcome is resolved"
    ),
    (S.PENDING_SUBMIT, E.CANCEL_REQUESTED): (
        "never sent; drop it locally with the canceled event instead"
    ),
}


def apply(
    state: OrderStatus, event: OrderEvent, *, has_fills: bool = False
) -> Transition | IllegalTransition:
    """Apply `event` to `state`; never raises for an illegal event.

    `has_fills` tells whether the order's ledger holds any fill: a transition into `open`
    then lands in `partially_filled` instead. Plain strings naming a state or event are
    accepted; a string that names neither raises ValueError (a bug, not an event).
    """
    state, event = OrderStatus(state), OrderEvent(event)
    target = TRANSITIONS.get((state, event))
    if target is None:
        return IllegalTransition(state=state, event=event, reason=_reason(state, event))
    if has_fills and target is S.OPEN:
        target = S.PARTIALLY_FILLED
    return Transition(previous=state, state=target, event=event, changed=target is not state)


def allowed_events(state: OrderStatus) -> frozenset[OrderEvent]:
    """The events `apply` accepts in `state`."""
    return frozenset(event for (from_state, event) in TRANSITIONS if from_state is state)


def _reason(state: OrderStatus, event: OrderEvent) -> str:
    special = _SPECIAL_REASONS.get((state, event))
    if special is not None:
        return special
    if state in TERMINAL_STATUSES:
        return f"order is already {state}; {event} cannot apply"
    return f"{event} is not expected while the order is {state}"


def transition_table_markdown() -> str:
    """The table as Markdown: a row per state, a column per event, the next state in each cell.

    `=` marks an event accepted without a change of state; `·` marks an illegal event.
    """
    events = list(OrderEvent)
    lines = [
        "| state \\ event | " + " | ".join(events) + " |",
        "|---|" + "---|" * len(events),
    ]
    for state in OrderStatus:
        cells = []
        for event in events:
            target = TRANSITIONS.get((state, event))
            if target is None:
                cells.append("·")
            elif target is state:
                cells.append("=")
            elif target is S.OPEN and event is E.CANCEL_REJECTED:
                cells.append("open / partially_filled¹")
            else:
                cells.append(str(target))
        lines.append(f"| **{state}** | " + " | ".join(cells) + " |")
    lines += [
        "",
        "`=` accepted, state unchanged (late or duplicate report; fills are still accounted by "
        "the ledger). `·` illegal: `apply` returns `IllegalTransition` with a reason.",
        "",
        "¹ Any transition into `open` lands in `partially_filled` when the order already has "
        "fills (`apply(..., has_fills=True)`).",
    ]
    return "\n".join(lines) + "\n"
