"""The order state machine: table shape, races, and illegal events as values."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gal_exec.core.order_state import (
    TRANSITIONS,
    IllegalTransition,
    OrderEvent,
    Transition,
    allowed_events,
    apply,
    transition_table_markdown,
)
from gal_exec.core.vocabulary import LIVE_STATUSES, TERMINAL_STATUSES, OrderStatus

S = OrderStatus
E = OrderEvent


def run(events: list[OrderEvent], start: OrderStatus = S.PENDING_SUBMIT) -> OrderStatus:
    state = start
    for event in events:
        result = apply(state, event)
        assert isinstance(result, Transition), result
        state = result.state
    return state


def test_values_are_the_lower_case_names() -> None:
    assert [s.value for s in OrderStatus] == [
        "pending_submit",
        "submitted",
        "submit_unknown",
        "open",
        "partially_filled",
        "pending_cancel",
        "filled",
        "canceled",
        "expired",
        "rejected",
        "validated",
    ]
    assert {S.FILLED, S.CANCELED, S.EXPIRED, S.REJECTED, S.VALIDATED} == TERMINAL_STATUSES
    assert not TERMINAL_STATUSES & LIVE_STATUSES


@pytest.mark.parametrize(
    ("state", "event", "has_fills"),
    list(itertools.product(OrderStatus, OrderEvent, [False, True])),
)
def test_apply_never_raises_and_matches_the_table(
    state: OrderStatus, event: OrderEvent, has_fills: bool
) -> None:
    result = apply(state, event, has_fills=has_fills)
    if (state, event) in TRANSITIONS:
        assert isinstance(result, Transition)
        assert result.legal
        assert result.previous is state and result.event is event
        assert result.changed == (result.state is not state)
    else:
        assert isinstance(result, IllegalTransition)
        assert not result.legal
        assert result.state is state and result.event is event
        assert result.reason


def test_terminal_states_are_never_left() -> None:
    for (state, _event), target in TRANSITIONS.items():
        if state in TERMINAL_STATUSES:
            assert target is state


def test_every_state_can_reach_a_terminal_state() -> None:
    for start in OrderStatus:
        seen, frontier = {start}, [start]
        while frontier:
            state = frontier.pop()
            for event in allowed_events(state):
                target = TRANSITIONS[(state, event)]
                if target not in seen:
                    seen.add(target)
                    frontier.append(target)
        assert seen & TERMINAL_STATUSES, start


def test_happy_path() -> None:
    assert (
        run([E.SUBMIT_SENT, E.SUBMIT_ACKED, E.PARTIAL_FILL, E.PARTIAL_FILL, E.FULL_FILL])
        is S.FILLED
    )


def test_submission_is_never_resent_blind() -> None:
    for state in (S.SUBMITTED, S.SUBMIT_UNKNOWN):
        result = apply(state, E.SUBMIT_SENT)
        assert isinstance(result, IllegalTransition)
        assert "never re-sent" in result.reason or "resolve" in result.reason
    # Only after resolution found nothing may it be sent once more.
    assert run([E.SUBMIT_SENT, E.SUBMIT_TIMED_OUT, E.RESOLVED_ABSENT, E.SUBMIT_SENT]) is (
        S.SUBMITTED
    )


@pytest.mark.parametrize("start", [S.SUBMITTED, S.SUBMIT_UNKNOWN])
def test_fill_before_ack(start: OrderStatus) -> None:
    assert run([E.PARTIAL_FILL, E.SUBMIT_ACKED], start) is S.PARTIALLY_FILLED
    assert run([E.FULL_FILL, E.SUBMIT_ACKED], start) is S.FILLED


@pytest.mark.parametrize("start", [S.SUBMITTED, S.SUBMIT_UNKNOWN])
@pytest.mark.parametrize("event", [E.CANCELED, E.EXPIRED])
def test_canceled_or_expired_before_ack(start: OrderStatus, event: OrderEvent) -> None:
    assert run([event, E.SUBMIT_ACKED], start) is OrderStatus(event.value)


def test_fills_while_pending_cancel_and_cancel_losing_the_race() -> None:
    events = [E.SUBMIT_SENT, E.SUBMIT_ACKED, E.CANCEL_REQUESTED, E.PARTIAL_FILL, E.PARTIAL_FILL]
    assert run(events) is S.PENDING_CANCEL
    assert run([*events, E.FULL_FILL, E.CANCEL_REJECTED]) is S.FILLED


def test_cancel_rejected_returns_to_open_or_partially_filled() -> None:
    first = apply(S.PENDING_CANCEL, E.CANCEL_REJECTED)
    assert isinstance(first, Transition) and first.state is S.OPEN
    second = apply(S.PENDING_CANCEL, E.CANCEL_REJECTED, has_fills=True)
    assert isinstance(second, Transition) and second.state is S.PARTIALLY_FILLED


def test_has_fills_only_changes_transitions_into_open() -> None:
    for (state, event), target in TRANSITIONS.items():
        with_fills = apply(state, event, has_fills=True)
        assert isinstance(with_fills, Transition)
        expected = S.PARTIALLY_FILLED if target is S.OPEN else target
        assert with_fills.state is expected


@pytest.mark.parametrize("terminal", [S.CANCELED, S.EXPIRED])
def test_late_fill_after_terminal_is_accepted_unchanged(terminal: OrderStatus) -> None:
    for event in (E.PARTIAL_FILL, E.FULL_FILL):
        result = apply(terminal, event)
        assert isinstance(result, Transition)
        assert result.state is terminal and not result.changed


def test_cancel_is_held_until_acknowledged() -> None:
    for state in (S.SUBMITTED, S.SUBMIT_UNKNOWN, S.PENDING_SUBMIT):
        result = apply(state, E.CANCEL_REQUESTED)
        assert isinstance(result, IllegalTransition)
    assert "already filled" in apply(S.FILLED, E.CANCEL_REQUESTED).reason  # type: ignore[union-attr]


def test_markdown_table_lists_every_state_and_event() -> None:
    table = transition_table_markdown()
    header = table.splitlines()[0]
    for event in OrderEvent:
        assert f" {event} " in header
    for state in OrderStatus:
        assert f"| **{state}** |" in table
    row = next(line for line in table.splitlines() if line.startswith("| **submitted** |"))
    assert "submit_unknown" in row  # submitted + submit_timed_out


# -- races: whatever the delivery order, we end where the exchange ends -----------------------


@dataclass
class Story:
    final: OrderStatus
    fills: list[int]
    order_quantity: int
    exchange_events: list[tuple[str, int]]  # ("ack"|"fill"|"final", fill size)


@st.composite
def stories(draw: st.DrawFn) -> Story:
    final = draw(st.sampled_from([S.FILLED, S.CANCELED, S.EXPIRED, S.REJECTED]))
    if final is S.REJECTED:
        acked = draw(st.booleans())
        events = [("ack", 0), ("final", 0)] if acked else [("final", 0)]
        return Story(final, [], 1, events)
    fills = draw(st.lists(st.integers(1, 5), min_size=1 if final is S.FILLED else 0, max_size=5))
    extra = 0 if final is S.FILLED else draw(st.integers(1, 5))
    events = [("ack", 0), *(("fill", q) for q in fills), ("final", 0)]
    if final is S.FILLED:
        events.pop()  # the fill that completes the ledger is the final word
    return Story(final, fills, sum(fills) + extra, events)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(data=st.data())
def test_every_interleaving_ends_in_the_exchange_final_state(data: st.DataObject) -> None:
    story = data.draw(stories())
    delivered = data.draw(st.permutations(story.exchange_events))
    # Our own events, placed among the exchange's deliveries.
    ours: list[tuple[int, str]] = []
    if story.final is not S.REJECTED and data.draw(st.booleans(), label="timeout"):
        position = data.draw(st.integers(0, len(delivered)))
        ours.append((position, "timeout"))
        if data.draw(st.booleans(), label="wrongly resolved absent"):
            ours.append((position, "absent"))
    if data.draw(st.booleans(), label="cancel"):
        position = data.draw(st.integers(0, len(delivered)))
        ours.append((position, "cancel"))
        if data.draw(st.booleans(), label="cancel rejected"):
            ours.append((data.draw(st.integers(position, len(delivered))), "cancel_rejected"))
    schedule: list[tuple[str, int]] = []
    for index, item in enumerate([*delivered, None]):
        schedule += [(kind, 0) for position, kind in ours if position == index]
        if item is not None:
            schedule.append(item)

    state = apply(S.PENDING_SUBMIT, E.SUBMIT_SENT).state  # type: ignore[union-attr]
    filled = 0
    cancel_sent = False
    for kind, size in schedule:
        if kind == "ack":
            event = E.SUBMIT_ACKED
        elif kind == "fill":
            filled += size
            event = E.FULL_FILL if filled >= story.order_quantity else E.PARTIAL_FILL
        elif kind == "final":
            event = {
                S.CANCELED: E.CANCELED,
                S.EXPIRED: E.EXPIRED,
                S.REJECTED: E.REJECTED,
            }[story.final]
            if story.final is S.REJECTED and ("ack", 0) not in story.exchange_events:
                event = E.SUBMIT_REJECTED
        elif kind == "timeout":
            event = E.SUBMIT_TIMED_OUT
        elif kind == "absent":
            if state is not S.SUBMIT_UNKNOWN:
                continue  # resolution only runs while the outcome is unknown
            event = E.RESOLVED_ABSENT
        elif kind == "cancel":
            # The actor asks the machine first and holds or drops a cancel it refuses.
            if not apply(state, E.CANCEL_REQUESTED).legal or state is S.PENDING_CANCEL:
                continue
            cancel_sent = True
            event = E.CANCEL_REQUESTED
        else:
            if not cancel_sent:
                continue
            event = E.CANCEL_REJECTED
        result = apply(state, event, has_fills=filled > 0)
        assert isinstance(result, Transition), (schedule, result)
        state = result.state
        if filled > 0:
            assert state is not S.OPEN
    assert state is story.final, schedule


def test_the_readme_shows_the_code_s_table() -> None:
    """The README's transition table is the code's, generated by transition_table_markdown."""
    import pathlib

    readme = pathlib.Path(__file__).resolve().parents[2] / "README.md"
    assert transition_table_markdown() in readme.read_text(encoding="utf-8")
