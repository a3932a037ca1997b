"""Signals as JSON lines: bytes in, one inbound message or one rejection reason per line out.

Pure: no threads, no clock. The input is read as bytes in bounded chunks and split on LF only (a
bare CR is JSON whitespace, never a line end), so line numbers match what an editor shows. Each
line is judged alone and a bad one never stops the rest:

- a UTF-8 byte-order mark at the start of line 1 is dropped; a CR before the LF is accepted;
- a line longer than :data:`MAX_LINE_BYTES` is skipped without being held in memory;
- a NUL byte, invalid UTF-8 or nesting deeper than :data:`MAX_NESTING` is refused before the
  JSON decoder sees the line (deep nesting would exhaust a small thread stack);
- an id, pair or reason longer than its bound (gal_exec.core.numbers) is refused, so nothing
  downstream repeats an unbounded name in every report and log line;
- every reason is one line of bounded length that quotes at most an excerpt of the input.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import NamedTuple

import msgspec

from gal_exec.core.numbers import MAX_ID_CHARS, MAX_PAIR_CHARS, length_problem
from gal_exec.core.text import MESSAGE_CHARS, bounded
from gal_exec.messages import (
    BatchSubmit,
    CancelSignal,
    Halt,
    InboundMessage,
    MessageDecodeError,
    TradeSignalApproved,
    decode_inbound,
)

__all__ = [
    "MAX_LINE_BYTES",
    "MAX_NESTING",
    "MAX_SIGNAL_ID_CHARS",
    "Line",
    "RawLine",
    "decode_line",
    "nesting_exceeds",
    "split_lines",
]

MAX_LINE_BYTES = 1 << 20
"""The longest signal line read (1 MiB); a longer one is skipped and rejected."""

MAX_NESTING = 64
"""The deepest JSON nesting accepted on a line (a BatchSubmit needs 3)."""

MAX_SIGNAL_ID_CHARS = MAX_ID_CHARS
"""The longest signal_id a rejection of an undecodable line carries back."""

CHUNK_BYTES = 64 * 1024
_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n"
# A JSON string (skipped whole, escapes included) or one bracket.
_STRUCTURE = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_OPENERS = frozenset(b"[{")
_CLOSERS = frozenset(b"]}")


class RawLine(NamedTuple):
    """One line as read: its 1-based number and bytes without the LF; ``length`` counts every
    byte of it, and ``data`` is empty when the line was longer than the cap and skipped."""

    number: int
    data: bytes
    length: int

    @property
    def skipped(self) -> bool:
        return len(self.data) < self.length


class Line(NamedTuple):
    """A judged line: a message to submit, or the reason it was refused (None for a blank one).
    ``signal_id`` is the refused line's signal_id when one could be read."""

    number: int
    message: InboundMessage | None = None
    problem: str | None = None
    signal_id: str = ""


def split_lines(
    read: Callable[[int], bytes], *, max_bytes: int = MAX_LINE_BYTES, chunk: int = CHUNK_BYTES
) -> Iterator[RawLine]:
    """Lines from ``read(n)`` (which returns b"" at the end), split on LF only.

    At most ``max_bytes`` of one line and one chunk are held at a time: the rest of an
    over-long line is counted and dropped as it streams past. OSError from ``read`` propagates.
    """
    buffer = bytearray()
    length = 0
    number = 0
    while True:
        data = read(chunk)
        if not data:
            break
        start = 0
        while True:
            newline = data.find(b"\n", start)
            end = len(data) if newline < 0 else newline
            length += end - start
            if length <= max_bytes:
                buffer += data[start:end]
            elif buffer:
                buffer = bytearray()  # over the cap: let the memory go, keep counting
            if newline < 0:
                break
            number += 1
            yield RawLine(number, bytes(buffer), length)
            buffer.clear()
            length = 0
            start = newline + 1
    if length:
        yield RawLine(number + 1, bytes(buffer), length)


def nesting_exceeds(data: bytes, limit: int = MAX_NESTING) -> bool:
    """True if brackets nest deeper than ``limit`` outside strings: a scan, no recursion."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    depth = 0
    for match in _STRUCTURE.finditer(data):
        first = match.group()[0]
        if first in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif first in _CLOSERS:
            depth -= 1
    return False


def decode_line(raw: RawLine) -> Line:
    """Judge one line: a message, a reason it is refused, or neither for a blank line."""
    number = raw.number
    if raw.skipped:
        return Line(
            number,
            problem=f"line longer than {MAX_LINE_BYTES} bytes ({raw.length} bytes); skipped",
        )
    data = raw.data
    if number == 1 and data.startswith(_BOM):
        data = data[len(_BOM) :]
    nul = data.find(b"\0")
    if nul >= 0:
        return Line(number, problem=f"contains a NUL byte (at byte {nul + 1})")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Line(
            number,
            problem=f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at byte {exc.start + 1})",
        )
    data = data.strip(_WHITESPACE)
    if not data:
        return Line(number)
    if nesting_exceeds(data):
        return Line(number, problem=f"nesting deeper than {MAX_NESTING}")
    try:
        message = decode_inbound(data)
    except MessageDecodeError as exc:
        return Line(number, problem=bounded(str(exc)), signal_id=_signal_id(data))
    too_long = _length_problem(message)
    if too_long is not None:
        return Line(number, problem=too_long)
    return Line(number, message=message)


def _length_problem(message: InboundMessage) -> str | None:
    """An id, name or reason longer than its bound (it would be repeated in every report and
    log line about the message), checked before the message goes anywhere."""
    fields: list[tuple[str, object, int]] = []
    if isinstance(message, BatchSubmit):
        fields.append(("batch_id", message.batch_id, MAX_ID_CHARS))
        for member in message.signals:
            fields += [("signal_id", member.signal_id, MAX_ID_CHARS)]
            fields += [("pair", member.pair, MAX_PAIR_CHARS)]
    elif isinstance(message, TradeSignalApproved):
        fields += [("signal_id", message.signal_id, MAX_ID_CHARS)]
        fields += [("pair", message.pair, MAX_PAIR_CHARS)]
    elif isinstance(message, CancelSignal):
        fields.append(("signal_id", message.signal_id, MAX_ID_CHARS))
    elif isinstance(message, Halt):
        fields.append(("reason", message.reason, MESSAGE_CHARS))
    for name, value, maximum in fields:
        problem = length_problem(name, value, maximum)
        if problem is not None:
            return problem
    return None


class _Named(msgspec.Struct):
    signal_id: str = ""


_named = msgspec.json.Decoder(_Named)


def _signal_id(data: bytes) -> str:
    """The line's signal_id if it is a JSON object with a reasonable string one, else ""."""
    try:
        signal_id = _named.decode(data).signal_id
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ""
    return signal_id if len(signal_id) <= MAX_SIGNAL_ID_CHARS else ""
