"""The thread that reads signal lines and hands each to the engine (or rejects it).

Every line either reaches the supervisor or becomes one rejected report plus one warning naming
its number and the problem; no line's failure, whatever it is, ends the reading. A failure of the
input itself (an OSError) or an interruption ends it, and says so: the run's exit status reflects
it. The thread has its own generous stack, whatever ``threading.stack_size`` the actors use.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, BinaryIO

import msgspec

from gal_exec.core.ids import new_client_order_id
from gal_exec.core.text import bounded
from gal_exec.messages import ExecutionReport, OrderStatus
from gal_exec.signal_lines import Line, decode_line, split_lines

if TYPE_CHECKING:
    from gal_exec.engine import Engine

__all__ = ["ReadResult", "SignalReader"]

log = logging.getLogger("gal_exec.signals")

READER_STACK_BYTES = 8 * 1024 * 1024


class ReadResult(msgspec.Struct, frozen=True, kw_only=True):
    """How reading the signals went: lines seen, submitted and rejected, and why it ended early
    (``failure``: the input failed; ``interrupted``: a stop came first)."""

    lines: int = 0
    submitted: int = 0
    rejected: int = 0
    failure: str | None = None
    interrupted: bool = False

    @property
    def failed(self) -> bool:
        return self.failure is not None


class SignalReader:
    """Reads a binary stream of JSON lines on its own thread once :meth:`begin` is called."""

    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self.done = threading.Event()
        self._go = threading.Event()
        self._cancelled = False
        self._engine: Engine | None = None
        self._stop: threading.Event | None = None
        self._lines = 0
        self._submitted = 0
        self._rejected = 0
        self._failure: str | None = None
        self._interrupted = False
        self._thread = threading.Thread(target=self._run, name="signals", daemon=True)

    def start(self) -> None:
        """Start the thread (it waits for :meth:`begin`) with a stack of its own size."""
        previous = threading.stack_size(READER_STACK_BYTES)
        try:
            self._thread.start()
        finally:
            threading.stack_size(previous)

    def begin(self, engine: Engine, stop: threading.Event) -> None:
        """Feed ``engine`` until the input ends or ``stop`` is set."""
        self._engine = engine
        self._stop = stop
        self._go.set()

    def cancel(self) -> None:
        """Release a thread still waiting for :meth:`begin` (the engine did not start)."""
        self._cancelled = True
        self._go.set()

    def result(self) -> ReadResult:
        """The figures so far; a reader still blocked on its input after a stop was interrupted."""
        stopped = self._stop is not None and self._stop.is_set()
        return ReadResult(
            lines=self._lines,
            submitted=self._submitted,
            rejected=self._rejected,
            failure=self._failure,
            interrupted=self._interrupted or (stopped and not self.done.is_set()),
        )

    def _run(self) -> None:
        try:
            self._go.wait()
            if not self._cancelled:
                self._read()
        finally:
            self.done.set()

    def _read(self) -> None:
        assert self._engine is not None and self._stop is not None
        read = getattr(self.source, "read1", None) or self.source.read
        try:
            for raw in split_lines(read):
                self._lines = raw.number
                if self._stop.is_set():
                    self._interrupted = True
                    log.warning("stopped reading signals before line %d: stopping", raw.number)
                    return
                try:
                    self._handle(decode_line(raw))
                except Exception as exc:  # a line's failure is that line's rejection, never the end
                    log.debug("signals line %d", raw.number, exc_info=True)
                    self._reject(
                        Line(raw.number, problem=f"cannot be processed ({exc.__class__.__name__})")
                    )
        except OSError as exc:
            self._failure = f"cannot read line {self._lines + 1}: {exc.strerror or exc}"
        except Exception as exc:
            problem = bounded(f"{exc.__class__.__name__}: {exc}")
            self._failure = f"reading stopped at line {self._lines + 1}: {problem}"
        if self._failure is not None:
            log.error("signals: %s; the rest of the input was not read", self._failure)

    def _handle(self, line: Line) -> None:
        assert self._engine is not None
        if line.message is not None:
            self._engine.submit(line.message)
            self._submitted += 1
        elif line.problem is not None:
            self._reject(line)

    def _reject(self, line: Line) -> None:
        assert self._engine is not None
        self._rejected += 1
        log.warning("signals line %d rejected: %s", line.number, line.problem)
        self._engine.report(
            ExecutionReport(
                signal_id=line.signal_id,
                client_order_id=new_client_order_id(clock=self._engine.clock),
                status=OrderStatus.REJECTED,
                reason=f"line {line.number}: {line.problem}",
                engine_time=self._engine.clock.time(),
                sequence=1,
            )
        )
