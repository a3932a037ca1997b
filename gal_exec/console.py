"""What ``gal-exec run`` says to a person: log records, a live status line, notices, the summary.

On a terminal a one-line status is redrawn in place; every log record or notice first clears it
and redraws it after, so the two never share a line. In JSON mode (``--log-json`` or
``logging.json``) every notice, the summary included, is one JSON log record, so the stream holds
nothing but JSON objects.
"""

from __future__ import annotations

import logging
import shutil
import threading
from typing import Any, TextIO

__all__ = ["Console", "ConsoleHandler"]

log = logging.getLogger("gal_exec.run")
_CLEAR_LINE = "\r\x1b[K"


class Console:
    """One output stream shared by log records, notices and (on a terminal) the status line."""

    def __init__(
        self, stream: TextIO, *, json_lines: bool = False, tty: bool | None = None
    ) -> None:
        self.stream = stream
        self.json_lines = json_lines
        if tty is None:
            try:
                tty = stream.isatty()
            except (AttributeError, ValueError):
                tty = False
        self.tty = bool(tty) and not json_lines
        self._lock = threading.RLock()
        self._status = ""

    # ---- the status line (a terminal only) -------------------------------------------------

    def status(self, line: str) -> None:
        """Show ``line`` as the live status (cut to the terminal's width so it never wraps)."""
        if not self.tty:
            return
        width = max(20, shutil.get_terminal_size((100, 24)).columns - 1)
        with self._lock:
            self._status = line[:width]
            self._write(_CLEAR_LINE + self._status)

    def clear_status(self) -> None:
        with self._lock:
            if self._status:
                self._write(_CLEAR_LINE)
                self._status = ""

    # ---- lines ------------------------------------------------------------------------------

    def write_line(self, text: str) -> None:
        """Write whole line(s) of text, keeping the status line below them."""
        with self._lock:
            if self._status:
                self._write(_CLEAR_LINE)
            self._write(text + "\n")
            if self._status:
                self._write(self._status)

    def notice(
        self, text: str, *, level: int = logging.INFO, fields: dict[str, Any] | None = None
    ) -> None:
        """Tell the person something: a plain line, or one JSON log record in JSON mode."""
        if self.json_lines:
            log.log(level, text, extra={"fields": fields or {}})
        else:
            self.write_line(text)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken console must not stop the engine


class ConsoleHandler(logging.Handler):
    """A logging handler that writes through a Console, so records and the status line never
    collide."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.console.write_line(text)
