"""Bounded, printable text for messages that quote untrusted input.

A rejection reason or a log line may quote what a user sent, but never all of it: a 1 MB id or a
number with a billion digits becomes a short excerpt with an ellipsis, and control characters
(a terminal escape, a carriage return) are shown as escapes instead of acting on the console.
"""

from __future__ import annotations

import re

__all__ = ["EXCERPT_CHARS", "MESSAGE_CHARS", "bounded", "excerpt", "printable"]

EXCERPT_CHARS = 64
"""The most characters of one untrusted value a message quotes."""

MESSAGE_CHARS = 1000
"""The most characters of a whole message built around untrusted values."""

_ELLIPSIS = "…"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# A quoted span in a message: 'value' or `value` (the quoting msgspec uses).
_LONG = EXCERPT_CHARS + 1
_QUOTED = re.compile(rf"'[^'\n]{{{_LONG},}}'|`[^`\n]{{{_LONG},}}`")


def printable(text: str) -> str:
    """``text`` with control characters shown as escapes (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode(), text)


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """At most ``limit`` printable characters of ``str(value)``, with an ellipsis if cut.

    Only a bounded head of the value is ever converted, so a huge input costs no more than
    ``limit`` characters of work once it is a string.
    """
    text = value if isinstance(value, str) else str(value)
    cut = len(text) > limit
    shown = printable(text[:limit])
    if len(shown) > limit:  # escapes made it longer
        shown, cut = shown[:limit], True
    return shown + _ELLIPSIS if cut else shown


def bounded(message: str, *, limit: int = MESSAGE_CHARS) -> str:
    """A message made safe to show: long quoted values cut to excerpts, control characters
    escaped, the whole at most ``limit`` characters."""
    message = _QUOTED.sub(lambda m: m.group()[0] + excerpt(m.group()[1:-1]) + m.group()[0], message)
    return excerpt(message, limit)
