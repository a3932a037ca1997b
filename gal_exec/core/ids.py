"""Client order ids (`cl_ord_id`) that Kraken accepts and that stay unique across restarts.

Kraken accepts a long UUID (36 chars with dashes), a short UUID (32 hex digits) or free ASCII
text of up to 18 characters, unique among the client's open orders (FACTS.md §2.1, §4.4). We
generate the free-text form: a short prefix, the creation time in base 36 (when a clock is
given) and random base-36 digits, 18 characters in all. No state is persisted: randomness
(at least 31 bits per millisecond, 88 bits without a clock) makes a repeat after a restart
vanishingly unlikely.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import uuid

from gal_exec.core.clock import Clock
from gal_exec.core.vocabulary import (
    CHILD_ROLES,
    MAX_FREE_TEXT_ID,
    MAX_GENERATIONS,
    Role,
    is_long_uuid,
    is_short_uuid,
    is_valid_cl_ord_id,
)

__all__ = [
    "child_client_order_id",
    "child_generation",
    "generation_tag",
    "is_valid_cl_ord_id",
    "new_client_order_id",
]

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_TIME_DIGITS = 8  # milliseconds since the epoch fit in 8 base-36 digits until 2059
_MAX_PREFIX = 4
_PREFIX_PATTERN = re.compile(r"[0-9A-Za-z]{0,4}")
_TAGS = frozenset(
    tag if generation == 1 else f"{tag}{generation}"
    for tag in CHILD_ROLES.values()
    for generation in range(1, MAX_GENERATIONS + 1)
)


def _seeded() -> random.Random:
    return random.Random(int.from_bytes(os.urandom(32), "big"))


# Seeded from the OS entropy source once (and again in a forked child, which must not repeat its
# parent's ids): drawing from the OS for every id was a system call or two on each signal's path.
_random = _seeded()


def _reseed() -> None:
    global _random
    _random = _seeded()


os.register_at_fork(after_in_child=_reseed)


def new_client_order_id(
    prefix: str = "g", *, clock: Clock | None = None, rng: random.Random | None = None
) -> str:
    """A fresh 18-character cl_ord_id: `prefix` + base-36 time (if `clock`) + random digits.

    `prefix` is 0..4 letters or digits. Pass the engine's clock to make ids sort by creation
    time; pass `rng` only in tests (the default is a generator seeded from the OS entropy source).
    """
    if not _PREFIX_PATTERN.fullmatch(prefix):
        raise ValueError(
            f"cl_ord_id prefix must be 0..{_MAX_PREFIX} letters or digits, got {prefix!r}"
        )
    source = rng if rng is not None else _random
    time_part = ""
    if clock is not None:
        milliseconds = int(clock.time() * 1000) % 36**_TIME_DIGITS
        time_part = _base36(milliseconds, _TIME_DIGITS)
    random_digits = MAX_FREE_TEXT_ID - len(prefix) - len(time_part)
    return prefix + time_part + _base36(source.randrange(36**random_digits), random_digits)


def child_client_order_id(parent: str, role: str) -> str:
    """The cl_ord_id of `parent`'s stop-loss ("sl") or take-profit ("tp") child, deterministic.

    Later generations of protection (see gal_exec.core.bracket) use "sl2".."sl9", "tp2".."tp9".

    Recovery recomputes it to find the children. A UUID parent gets a name-based UUID of the same
    form; a free-text parent of up to 15 characters gets "-sl"/"-tp" appended; a longer one keeps
    its first 7 characters, the role, and 8 base-36 digits of a hash of the whole parent.
    Generated parents never contain "-", so a child never equals a generated parent id.
    """
    if role not in _TAGS:
        raise ValueError(f"child role must be one of {sorted(_TAGS)}, got {role!r}")
    if not is_valid_cl_ord_id(parent):
        raise ValueError(f"parent {parent!r} is not a valid cl_ord_id")
    if is_long_uuid(parent):
        return str(uuid.uuid5(uuid.UUID(parent), role))
    if is_short_uuid(parent):
        return uuid.uuid5(uuid.UUID(hex=parent), role).hex
    suffix = "-" + role
    if len(parent) + len(suffix) <= MAX_FREE_TEXT_ID:
        return parent + suffix
    digest = int.from_bytes(hashlib.sha256(parent.encode("ascii")).digest()[:8], "big")
    head = MAX_FREE_TEXT_ID - len(suffix) - 8
    return parent[:head] + suffix + _base36(digest % 36**8, 8)


def generation_tag(role: Role, generation: int) -> str:
    """The id tag of a protective child: "sl"/"tp" for the first generation, "sl2"... after."""
    tag = CHILD_ROLES[role]
    return tag if generation == 1 else f"{tag}{generation}"


def child_generation(parent: str, child: str) -> tuple[Role, int] | None:
    """The role and generation of ``parent``'s protective child ``child``; None if it is not one."""
    if not is_valid_cl_ord_id(parent):
        return None
    for generation in range(1, MAX_GENERATIONS + 1):
        for role in CHILD_ROLES:
            if child_client_order_id(parent, generation_tag(role, generation)) == child:
                return role, generation
    return None


def _base36(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 36)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))
