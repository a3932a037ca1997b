"""NonceSequencer: microsecond nonces that only go up, across clock steps, threads and restarts."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gal_exec.core.clock import ManualClock
from gal_exec.kraken.nonce import NonceGate, NonceSequencer, NonceStateError


def test_nonce_is_microsecond_epoch() -> None:
    clock = ManualClock(start=1_700_000_000.25)
    assert NonceSequencer(clock).next() == 1_700_000_000_250_000


def test_nonces_strictly_increase_when_clock_stands_still_or_steps_back() -> None:
    clock = ManualClock(start=1_700_000_000.0)
    sequencer = NonceSequencer(clock)
    first = sequencer.next()
    second = sequencer.next()
    clock.set(1_699_999_000.0)  # wall clock jumps back 1000 s
    third = sequencer.next()
    assert first < second < third
    assert sequencer.last == third


def test_nonces_follow_the_clock_when_it_moves_ahead() -> None:
    clock = ManualClock(start=1_700_000_000.0)
    sequencer = NonceSequencer(clock)
    sequencer.next()
    clock.advance(2.0)
    assert sequencer.next() == 1_700_000_002_000_000


def test_nonces_unique_and_increasing_across_threads() -> None:
    sequencer = NonceSequencer(ManualClock())
    results: list[list[int]] = [[] for _ in range(8)]
    barrier = threading.Barrier(8)

    def worker(out: list[int]) -> None:
        barrier.wait(timeout=10)
        out.extend(sequencer.next() for _ in range(500))

    threads = [threading.Thread(target=worker, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    everything = [nonce for out in results for nonce in out]
    assert len(set(everything)) == 4000
    for out in results:
        assert out == sorted(out)


def test_restart_continues_above_every_issued_nonce(tmp_path: Path) -> None:
    state = tmp_path / "nonce" / "key.state"
    clock = ManualClock(start=1_700_000_000.0)
    first = NonceSequencer(clock, state, reserve=1_000)
    issued = [first.next() for _ in range(2_500)]  # crosses several reserved blocks
    clock.set(1_600_000_000.0)  # the restarted process has a clock far behind
    second = NonceSequencer(clock, state, reserve=1_000)
    assert second.next() > max(issued)


def test_high_water_mark_written_ahead_in_blocks(tmp_path: Path) -> None:
    state = tmp_path / "key.state"
    clock = ManualClock(start=1_700_000_000.0)
    sequencer = NonceSequencer(clock, state, reserve=1_000)
    first = sequencer.next()
    assert int(state.read_text()) == first + 1_000
    before = state.stat().st_mtime_ns, state.read_text()
    for _ in range(1_000):
        sequencer.next()  # up to and including the mark itself: no write
    assert (state.stat().st_mtime_ns, state.read_text()) == before
    beyond = sequencer.next()
    assert int(state.read_text()) == beyond + 1_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_corrupt_state_file_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "key.state"
    state.write_text("garbage")
    with pytest.raises(NonceStateError, match=str(state)):
        NonceSequencer(ManualClock(), state)


def test_gate_is_shared_per_sequencer_and_window_is_fixed() -> None:
    sequencer = NonceSequencer(ManualClock())
    gate = sequencer.gate(0)
    assert sequencer.gate(0) is gate
    with pytest.raises(ValueError, match="window 0"):
        sequencer.gate(5_000)


def test_gate_without_window_holds_other_callers_out() -> None:
    gate = NonceGate(NonceSequencer(ManualClock()))
    inside = threading.Event()
    release = threading.Event()
    second_entered = threading.Event()
    nonces: list[int] = []

    def first() -> None:
        with gate.issue() as nonce:
            nonces.append(nonce)
            inside.set()
            release.wait(timeout=10)

    def second() -> None:
        with gate.issue() as nonce:
            nonces.append(nonce)
            second_entered.set()

    one = threading.Thread(target=first)
    one.start()
    assert inside.wait(timeout=5)
    two = threading.Thread(target=second)
    two.start()
    assert not second_entered.wait(timeout=0.2)  # blocked while the first is "sending"
    release.set()
    assert second_entered.wait(timeout=5)
    one.join(timeout=5)
    two.join(timeout=5)
    assert nonces[0] < nonces[1]


def test_gate_with_window_lets_callers_overlap() -> None:
    gate = NonceGate(NonceSequencer(ManualClock()), window=5_000_000)
    inside = threading.Event()
    release = threading.Event()

    def first() -> None:
        with gate.issue():
            inside.set()
            release.wait(timeout=10)

    one = threading.Thread(target=first)
    one.start()
    assert inside.wait(timeout=5)
    with gate.issue() as nonce:  # does not block although the first is still inside
        assert nonce > 0
    release.set()
    one.join(timeout=5)


def test_gate_rejects_negative_window() -> None:
    with pytest.raises(ValueError):
        NonceGate(NonceSequencer(ManualClock()), window=-1)
