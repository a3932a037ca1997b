"""Protection generations: a pair closed while the entry keeps filling is succeeded."""

from __future__ import annotations

from decimal import Decimal

from gal_exec.core.bracket import BracketBook, Forward, Spawn
from gal_exec.core.ids import generation_tag
from gal_exec.core.vocabulary import Role

D = Decimal


def test_first_fill_spawns_the_first_generation_then_growth_is_forwarded():
    book = BracketBook()
    assert book.position("e", D("1"), False) == Spawn(
        parent="e", generation=1, position=D("1"), final=False
    )
    book.spawned("e", 1, ["e-sl", "e-tp"])
    assert book.position("e", D("2"), False) == Forward(
        parent="e", children=("e-sl", "e-tp"), position=D("2"), final=False
    )


def test_a_generation_that_closed_part_of_a_growing_position_is_succeeded():
    book = BracketBook()
    book.position("e", D("1"), False)
    book.spawned("e", 1, ["sl", "tp"])
    assert book.finished("e", "sl", D("1")) is None  # tp still live: it is told, not replaced
    assert book.position("e", D("2.7"), True) == Forward(
        parent="e", children=("tp",), position=D("2.7"), final=True
    )
    # the take-profit is cancelled by the OCO (it saw its sibling close the first part)
    assert book.finished("e", "tp", D("0")) == Spawn(
        parent="e", generation=2, position=D("1.7"), final=True
    )
    book.spawned("e", 2, ["sl2", "tp2"])
    assert book.position("e", D("2.7"), True) == Forward(
        parent="e", children=("sl2", "tp2"), position=D("1.7"), final=True
    )
    assert book.finished("e", "tp2", D("1.7")) is None
    assert book.finished("e", "sl2", D("0")) is None  # the whole position is closed


def test_cancelled_protection_is_not_placed_again():
    book = BracketBook()
    book.position("e", D("1"), False)
    book.spawned("e", 1, ["sl", "tp"])
    book.cancel("e")
    book.finished("e", "sl", D("0"))
    assert book.finished("e", "tp", D("0")) is None
    assert book.position("e", D("2"), True) is None


def test_a_generation_that_closed_nothing_is_not_repeated():
    book = BracketBook()
    book.position("e", D("0.00001"), True)
    book.spawned("e", 1, ["sl", "tp"])
    book.finished("e", "sl", D("0"))  # e.g. rejected below the pair's minimum
    assert book.finished("e", "tp", D("0")) is None


def test_restart_restores_a_live_child_and_a_finished_generation():
    book = BracketBook()
    book.restored("e", 2, "tp2", closed_before=D("1"), sibling_closed=D("0.5"))
    assert book.position("e", D("3"), True) == Forward(
        parent="e", children=("tp2",), position=D("2"), final=True
    )
    assert book.finished("e", "tp2", D("0")) == Spawn(
        parent="e", generation=3, position=D("1.5"), final=True
    )
    other = BracketBook()
    other.load("f", 1, D("1"))
    assert other.position("f", D("2.5"), True) == Spawn(
        parent="f", generation=2, position=D("1.5"), final=True
    )


def test_generation_tags():
    assert [generation_tag(Role.STOP_LOSS, n) for n in (1, 2, 9)] == ["sl", "sl2", "sl9"]
