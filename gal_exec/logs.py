"""Logging: a human format on a terminal or JSON lines, the pykka logger wired in, secrets redacted."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gal_exec.console import Console

__all__ = ["LOG_MESSAGE_CHARS", "LengthFilter", "RedactionFilter", "setup_logging"]

_REDACTED = "<redacted>"


class RedactionFilter(logging.Filter):
    """Replaces every occurrence of a secret (API key, API secret, token) in a record's text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        for secret in secrets:
            if secret and len(secret) >= 6 and secret not in self.secrets:
                self.secrets.append(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        cleaned = self._clean(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        return text


LOG_MESSAGE_CHARS = 4000
"""The longest message a log record carries; a longer one (a value a user sent, quoted whole
somewhere) is cut, saying how long it was."""


class LengthFilter(logging.Filter):
    """Cuts a record's message to LOG_MESSAGE_CHARS: no input, however long, floods a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if len(message) > LOG_MESSAGE_CHARS:
            record.msg = f"{message[:LOG_MESSAGE_CHARS]}… ({len(message)} characters)"
            record.args = None
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": round(record.created, 6),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                entry.setdefault(key, value)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _HumanFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s.%(msecs)03dZ %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"
        )
        self.converter = time.gmtime


def setup_logging(
    *,
    level: str = "INFO",
    json_lines: bool = False,
    file: str = "",
    secrets: Iterable[str] = (),
    console: Console | None = None,
) -> RedactionFilter:
    """Configure the root logger once; returns the redaction filter so secrets can be added.

    Records go to ``file``, else through ``console`` (which keeps a terminal's status line apart
    from them), else to standard error. A record's ``fields`` (``extra={"fields": {...}}``)
    become keys of its JSON object.
    """
    handler: logging.Handler
    if file:
        handler = logging.FileHandler(file, encoding="utf-8")
    elif console is not None:
        from gal_exec.console import ConsoleHandler

        handler = ConsoleHandler(console)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if json_lines else _HumanFormatter())
    redaction = RedactionFilter(secrets)
    handler.addFilter(redaction)  # first: a secret is redacted before any cut could split it
    handler.addFilter(LengthFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # Pykka logs an actor's crash on its own logger; never let that be silent.
    logging.getLogger("pykka").setLevel(logging.INFO if level != "DEBUG" else logging.DEBUG)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.getLogger("gal_exec.sim.ws_server.websockets").setLevel(logging.WARNING)
    return redaction
