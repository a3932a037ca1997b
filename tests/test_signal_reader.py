"""The signal reader thread: every line placed or rejected, failures of the input reported,
a small actor stack size never reaching it."""

from __future__ import annotations

import io
import logging
import threading
from typing import Any

import pytest

from gal_exec.core.clock import ManualClock
from gal_exec.messages import ExecutionReport, TradeSignalApproved
from gal_exec.signal_reader import SignalReader
from tests.signal_support import signal_json

WAIT_S = 10.0


signal = signal_json


class _Sink:
    def __init__(self) -> None:
        self.reports: list[ExecutionReport] = []

    def tell(self, report: ExecutionReport) -> None:
        self.reports.append(report)


class FakeEngine:
    """What the reader uses of an Engine: submit, report and the clock."""

    def __init__(self, *, failing: set[str] | None = None) -> None:
        self.submitted: list[Any] = []
        self.sink = _Sink()
        self.clock = ManualClock()
        self.failing = failing or set()

    def submit(self, message: Any) -> None:
        if getattr(message, "signal_id", None) in self.failing:
            raise RuntimeError("the supervisor is gone")
        self.submitted.append(message)

    def report(self, report: Any) -> None:
        self.sink.tell(report)


class FailingSource(io.RawIOBase):
    """Serves ``data`` then fails with EIO, as a disk or a network file system may."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1) -> bytes:
        if not self.data:
            raise OSError(5, "Input/output error")
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk


def read_all(source: Any, engine: FakeEngine, stop: threading.Event | None = None) -> SignalReader:
    reader = SignalReader(source)
    reader.start()
    reader.begin(engine, stop or threading.Event())  # type: ignore[arg-type]
    assert reader.done.wait(WAIT_S)
    return reader


def test_every_line_is_placed_or_rejected_with_its_number(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="gal_exec.signals")
    data = b"\n".join([signal("a"), b"\xff", signal("b"), b"[" * 900 + b"]" * 900, signal("c")])
    engine = FakeEngine()
    reader = read_all(io.BytesIO(data), engine)
    assert [m.signal_id for m in engine.submitted] == ["a", "b", "c"]
    reasons = [report.reason for report in engine.sink.reports]
    assert reasons == [
        "line 2: not valid UTF-8 (byte 0xff at byte 1)",
        "line 4: nesting deeper than 64",
    ]
    assert all(report.status == "rejected" for report in engine.sink.reports)
    warnings = [r.getMessage() for r in caplog.records if r.name == "gal_exec.signals"]
    assert warnings == [
        "signals line 2 rejected: not valid UTF-8 (byte 0xff at byte 1)",
        "signals line 4 rejected: nesting deeper than 64",
    ]
    result = reader.result()
    assert (result.lines, result.submitted, result.rejected, result.failed) == (5, 3, 2, False)


def test_a_line_that_fails_in_any_way_is_that_line_s_rejection(caplog) -> None:
    engine = FakeEngine(failing={"b"})
    data = b"\n".join([signal("a"), signal("b"), signal("c")])
    reader = read_all(io.BytesIO(data), engine)
    assert [m.signal_id for m in engine.submitted] == ["a", "c"]
    (report,) = engine.sink.reports
    assert report.reason == "line 2: cannot be processed (RuntimeError)"
    assert not reader.result().failed


def test_a_read_failure_mid_file_keeps_what_was_read_and_says_where(caplog) -> None:
    caplog.set_level(logging.ERROR, logger="gal_exec.signals")
    engine = FakeEngine()
    reader = read_all(FailingSource(signal("a") + b"\n" + signal("b") + b"\n"), engine)
    assert [m.signal_id for m in engine.submitted] == ["a", "b"]
    result = reader.result()
    assert result.failed and result.failure == "cannot read line 3: Input/output error"
    assert any("not read" in r.getMessage() for r in caplog.records)


def test_a_stop_ends_the_reading_and_is_said() -> None:
    stop = threading.Event()
    stop.set()
    engine = FakeEngine()
    reader = read_all(io.BytesIO(signal("a") + b"\n"), engine, stop)
    assert engine.submitted == [] and reader.result().interrupted


def test_the_reader_s_stack_is_its_own_whatever_the_actors_use() -> None:
    previous = threading.stack_size(256 * 1024)  # what the engine sets for its actors
    try:
        depth_64 = b'{"type":"BatchSubmit","batch_id":"b","signals":' + b"[" * 62 + b"]" * 62 + b"}"
        data = b"\n".join([depth_64, b"[" * 100_000, signal("after")])
        engine = FakeEngine()
        read_all(io.BytesIO(data), engine)
    finally:
        threading.stack_size(previous)
    assert [m.signal_id for m in engine.submitted] == ["after"]
    assert len(engine.sink.reports) == 2


def test_a_reader_released_without_an_engine_ends() -> None:
    reader = SignalReader(io.BytesIO(signal("a")))
    reader.start()
    reader.cancel()
    assert reader.done.wait(WAIT_S)
    assert reader.result().lines == 0


@pytest.mark.parametrize("count", [1, 50])
def test_signals_reach_the_engine_in_order(count: int) -> None:
    engine = FakeEngine()
    data = b"\n".join(signal(f"s-{i}") for i in range(count))
    read_all(io.BytesIO(data), engine)
    assert [m.signal_id for m in engine.submitted] == [f"s-{i}" for i in range(count)]
    assert all(isinstance(m, TradeSignalApproved) for m in engine.submitted)
