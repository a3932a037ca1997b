"""Fencing arithmetic for one engine per account: the epoch's cl_ord_id prefix and lease deadlines.

An account is owned by one engine at a time through a lease with an increasing *epoch* (the
fencing token). The epoch is written into every client order id the owner creates, as the prefix
``e`` + three base-36 digits (gal_exec.core.ids takes a prefix of up to four letters or digits),
so an order placed by an older owner is recognisable on the exchange and in the journal.

A lease granted for ``ttl`` at a moment the owner measured *before* asking (``asked_at``, on its
monotonic clock) cannot have outlived ``asked_at + ttl`` on the broker's side, whatever happened
to the reply; the owner trusts it until ``asked_at + ttl - margin``, so it stops acting before any
other engine can be granted the lease, even if it was paused in between.
"""

from __future__ import annotations

__all__ = [
    "EPOCH_DIGITS",
    "EPOCH_MODULUS",
    "LeaseClock",
    "epoch_of",
    "epoch_prefix",
]

EPOCH_DIGITS = 3
EPOCH_MODULUS = 36**EPOCH_DIGITS
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_MARK = "e"


def epoch_prefix(epoch: int) -> str:
    """The cl_ord_id prefix of an epoch: ``e`` and three base-36 digits (it wraps after 46,655)."""
    if epoch < 1:
        raise ValueError(f"epoch must be at least 1, got {epoch}")
    number = epoch % EPOCH_MODULUS
    digits = []
    for _ in range(EPOCH_DIGITS):
        number, digit = divmod(number, 36)
        digits.append(_ALPHABET[digit])
    return _MARK + "".join(reversed(digits))


def epoch_of(cl_ord_id: str) -> int | None:
    """The epoch (modulo 46,656) written in a cl_ord_id by `epoch_prefix`, or None if it has none.

    A child's id (``<parent>-sl``) keeps its parent's first characters, so it carries the same
    epoch.
    """
    head = cl_ord_id[: 1 + EPOCH_DIGITS]
    if len(head) != 1 + EPOCH_DIGITS or head[0] != _MARK:
        return None
    number = 0
    for char in head[1:]:
        value = _ALPHABET.find(char)
        if value < 0:
            return None
        number = number * 36 + value
    return number


class LeaseClock:
    """How long the owner may still act on its lease, on its own monotonic clock (pure).

    ``granted(asked_at, ttl_s)`` records a successful grant or renewal asked for at ``asked_at``;
    ``valid(now)`` is True while ``now < asked_at + ttl_s - margin_s``; ``lose()`` ends it at once
    (the broker said the lease is someone else's).
    """

    def __init__(self, margin_s: float) -> None:
        if margin_s < 0:
            raise ValueError(f"margin_s must not be negative, got {margin_s}")
        self.margin_s = margin_s
        self._until: float | None = None

    def granted(self, asked_at: float, ttl_s: float) -> None:
        until = asked_at + ttl_s - self.margin_s
        if self._until is None or until > self._until:
            self._until = until

    def lose(self) -> None:
        self._until = None

    def valid(self, now: float) -> bool:
        return self._until is not None and now < self._until

    def remaining(self, now: float) -> float:
        """Seconds left (0 when expired or lost)."""
        return 0.0 if self._until is None else max(0.0, self._until - now)
