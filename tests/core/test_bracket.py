"""Protection generations: a pair closed while the entry keeps filling is succeeded; the book
records what happened and ``due`` says what protection should exist now."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gal_exec.core.bracket import BracketBook, Forward, Spawn
from gal_exec.core.ids import generation_tag
from gal_exec.core.vocabulary import MAX_GENERATIONS, Role

D = Decimal
SL, TP = Role.STOP_LOSS, Role.TAKE_PROFIT
BOTH = (SL, TP)


def book_with(parent: str = "e", roles: tuple[Role, ...] = BOTH) -> BracketBook:
    book = BracketBook()
    book.open(parent, roles)
    return book


def start(book: BracketBook, generation: int, sl: str, tp: str, parent: str = "e") -> None:
    book.started(parent, generation, SL, sl)
    book.started(parent, generation, TP, tp)


def finish(book: BracketBook, child: str, filled: str, parent: str = "e") -> None:
    book.filled(parent, child, D(filled), final=True)


def test_first_fill_makes_the_first_generation_due_then_growth_is_forwarded():
    book = book_with()
    assert book.due("e") is None  # nothing filled, nothing to protect
    assert book.position("e", D("1"), False) is None
    assert book.due("e") == Spawn(
        parent="e", generation=1, roles=BOTH, position=D("1"), final=False
    )
    start(book, 1, "e-sl", "e-tp")
    assert book.due("e") is None
    assert book.position("e", D("2"), False) == Forward(
        parent="e", children=("e-sl", "e-tp"), position=D("2"), final=False
    )


def test_a_generation_that_closed_part_of_a_growing_position_is_succeeded():
    book = book_with()
    book.position("e", D("1"), False)
    start(book, 1, "sl", "tp")
    finish(book, "sl", "1")
    assert book.due("e") is None  # tp still live: it is told, not replaced
    assert book.position("e", D("2.7"), True) == Forward(
        parent="e", children=("tp",), position=D("2.7"), final=True
    )
    # the take-profit is cancelled by the OCO (it saw its sibling close the first part)
    finish(book, "tp", "0")
    assert book.due("e") == Spawn(
        parent="e", generation=2, roles=BOTH, position=D("1.7"), final=True
    )
    start(book, 2, "sl2", "tp2")
    assert book.position("e", D("2.7"), True) == Forward(
        parent="e", children=("sl2", "tp2"), position=D("1.7"), final=True
    )
    finish(book, "tp2", "1.7")
    finish(book, "sl2", "0")
    assert book.due("e") is None  # the whole position is closed
    assert book.settled("e")


def test_cancelled_protection_is_not_placed_again():
    book = book_with()
    book.position("e", D("1"), False)
    start(book, 1, "sl", "tp")
    book.cancel("e")
    finish(book, "sl", "0")
    finish(book, "tp", "0")
    assert book.due("e") is None
    assert book.position("e", D("2"), True) is None
    assert book.due("e") is None


def test_a_generation_that_closed_nothing_is_not_repeated():
    book = book_with()
    book.position("e", D("0.00001"), True)
    start(book, 1, "sl", "tp")
    finish(book, "sl", "0")  # e.g. rejected below the pair's minimum
    finish(book, "tp", "0")
    assert book.due("e") is None


def test_a_generation_missing_a_child_is_completed():
    """A crash between the two children's intents: the journal has one of the pair."""
    book = book_with()
    book.position("e", D("2"), True)
    book.started("e", 1, SL, "sl")
    book.filled("e", "sl", D("0.5"), final=False)
    assert book.due("e") == Spawn(
        parent="e", generation=1, roles=(TP,), position=D("2"), final=True, sibling_filled=D("0.5")
    )


def test_a_restart_rebuilds_the_same_decisions_from_the_record():
    """The record a journal replay builds (child started, filled, finished; entry filled) gives
    the same answers as the live path."""
    book = book_with()
    book.position("e", D("1"), False)
    start(book, 1, "sl", "tp")
    finish(book, "sl", "0.5")
    finish(book, "tp", "0")
    book.started("e", 2, TP, "tp2")  # the newest generation, one child live
    book.started("e", 2, SL, "sl2")
    finish(book, "sl2", "0.5")
    assert book.position("e", D("3"), True) == Forward(
        parent="e", children=("tp2",), position=D("2.5"), final=True
    )
    finish(book, "tp2", "0")
    assert book.due("e") == Spawn(parent="e", generation=3, roles=BOTH, position=D("2"), final=True)


def test_only_the_roles_the_entry_asked_for_are_due():
    book = book_with(roles=(SL,))
    book.position("e", D("1"), True)
    assert book.due("e") == Spawn(
        parent="e", generation=1, roles=(SL,), position=D("1"), final=True
    )


def test_no_generation_past_the_limit():
    book = book_with()
    book.position("e", D("100"), True)
    for generation in range(1, MAX_GENERATIONS + 1):
        spawn = book.due("e")
        assert spawn is not None and spawn.generation == generation
        tag = f"g{generation}"
        start(book, generation, f"sl-{tag}", f"tp-{tag}")
        finish(book, f"sl-{tag}", "1")
        finish(book, f"tp-{tag}", "0")
    assert book.due("e") is None


@settings(derandomize=True, deadline=None, max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["entry", "sl", "tp"]),
            st.decimals(min_value=0, max_value=5, places=1, allow_nan=False),
        ),
        max_size=30,
    )
)
def test_protection_never_covers_more_than_the_entry_filled(steps) -> None:
    """Whatever the order of fills and endings: every generation due covers exactly the fills no
    generation closed yet, and what children closed never exceeds what the entry filled."""
    book = book_with()
    entry = D(0)
    live: dict[str, str] = {}
    for who, amount in steps:
        if who == "entry":
            entry = max(entry, amount)
            book.position("e", entry, False)
        elif who in live:
            child = live.pop(who)
            covered, _ = book.position_for("e", child)
            room = covered - book.sibling_filled("e", child)
            finish(book, child, str(max(D(0), min(amount, room))))
        closed = sum((g.closed for g in book._brackets["e"].generations), D(0))
        assert closed <= entry
        spawn = book.due("e")
        if spawn is not None and not live:
            assert spawn.position == entry - closed > 0
            live = {"sl": f"sl{spawn.generation}", "tp": f"tp{spawn.generation}"}
            start(book, spawn.generation, live["sl"], live["tp"])


def test_generation_tags():
    assert [generation_tag(Role.STOP_LOSS, n) for n in (1, 2, 9)] == ["sl", "sl2", "sl9"]
