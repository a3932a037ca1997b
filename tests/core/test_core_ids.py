"""Client order ids: Kraken's validity rule, uniqueness, and child derivation."""

from __future__ import annotations

import random
import string
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gal_exec.core.clock import ManualClock
from gal_exec.core.ids import child_client_order_id, is_valid_cl_ord_id, new_client_order_id

HEX = set(string.hexdigits)


def kraken_rule(value: str) -> bool:
    """FACTS.md §2.1, written independently of the implementation."""
    if len(value) == 36:
        parts = value.split("-")
        if [len(p) for p in parts] == [8, 4, 4, 4, 12] and all(set(p) <= HEX for p in parts):
            return True
    if len(value) == 32 and set(value) <= HEX:
        return True
    return 1 <= len(value) <= 18 and all(32 <= ord(ch) <= 126 for ch in value)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("d15708c1-dbb6-465d-b77d-47258319cc90", True),
        ("D15708C1-DBB6-465D-B77D-47258319CC90", True),
        ("d15708c1dbb6465db77d47258319cc90", True),
        ("b17c7bb34d000200", True),  # seen in a real executions capture
        ("a" * 18, True),
        ("a" * 19, False),
        ("", False),
        ("has space", True),  # free ASCII text; the engine never generates one
        ("tab\there", False),
        ("café", False),
        ("d15708c1-dbb6-465d-b77d-47258319cc9z", False),
        (12345, False),
    ],
)
def test_validity_examples(value: object, valid: bool) -> None:
    assert is_valid_cl_ord_id(value) is valid


@settings(derandomize=True, deadline=None)
@given(
    st.one_of(
        st.text(st.characters(max_codepoint=0x17F), max_size=40),
        st.text(st.sampled_from(string.hexdigits + "-"), min_size=30, max_size=38),
        st.uuids().map(str),
        st.uuids().map(lambda u: u.hex),
    )
)
def test_validity_matches_the_rule(value: str) -> None:
    assert is_valid_cl_ord_id(value) == kraken_rule(value)


def test_generated_ids_are_valid_and_unique() -> None:
    ids = {new_client_order_id() for _ in range(100_000)}
    assert len(ids) == 100_000
    assert all(len(i) == 18 and i.startswith("g") and is_valid_cl_ord_id(i) for i in ids)


def test_ids_with_a_clock_sort_by_time_and_stay_unique() -> None:
    clock = ManualClock()
    rng = random.Random(7)
    earlier = [new_client_order_id(clock=clock, rng=rng) for _ in range(1000)]
    clock.advance(0.002)
    later = new_client_order_id(clock=clock, rng=rng)
    assert len(set(earlier)) == 1000
    assert all(e[1:9] < later[1:9] for e in earlier)
    assert all(is_valid_cl_ord_id(i) for i in [*earlier, later])


def test_prefix_rules() -> None:
    assert new_client_order_id("ab12").startswith("ab12")
    assert len(new_client_order_id("")) == 18
    for bad in ("toolong", "a-b", "a b"):
        with pytest.raises(ValueError, match="prefix"):
            new_client_order_id(bad)


def test_children_are_valid_deterministic_and_distinct() -> None:
    rng = random.Random(1)
    parents = [new_client_order_id(rng=rng) for _ in range(2000)]
    parents += ["short", "x" * 15, "y" * 16, str(uuid.UUID(int=5)), uuid.UUID(int=9).hex]
    children = set()
    for parent in parents:
        sl, tp = child_client_order_id(parent, "sl"), child_client_order_id(parent, "tp")
        assert sl == child_client_order_id(parent, "sl")
        assert is_valid_cl_ord_id(sl) and is_valid_cl_ord_id(tp)
        assert len({parent, sl, tp}) == 3
        children |= {sl, tp}
    assert len(children) == 2 * len(parents)
    assert not children & set(parents)
    assert child_client_order_id("short", "tp") == "short-tp"
    assert len(child_client_order_id(str(uuid.UUID(int=5)), "sl")) == 36
    assert len(child_client_order_id(uuid.UUID(int=9).hex, "sl")) == 32


def test_child_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="role"):
        child_client_order_id("g123", "stop")
    with pytest.raises(ValueError, match="not a valid"):
        child_client_order_id("bad\tid", "sl")


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    """The id generator is seeded once per process: a fork reseeds it in the child."""
    import os

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent, then out
        os.write(write, new_client_order_id("c").encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent = new_client_order_id("c")
    assert len(child) == len(parent) == 18
    assert child[1:] != parent[1:]
