"""Where an account's streams and lease live in Redis, and the ``redis://...?account=`` address.

Every key of an account carries the account in braces, a Redis Cluster hash tag, so all of them
hash to one slot and one Lua script may touch the lease and a stream together::

    <prefix>:{<account>}:signals        signals and control messages in (field "msg": one JSON line)
    <prefix>:{<account>}:signals:dead   poison messages (fields msg, entry_id, reason)
    <prefix>:{<account>}:reports        every ExecutionReport out (field "msg": one JSON object)
    <prefix>:{<account>}:lease          "<epoch>:<owner>" while an engine owns the account (PX TTL)
    <prefix>:{<account>}:epoch          the last epoch granted (INCR)
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit, urlunsplit

import msgspec

__all__ = ["MESSAGE_FIELD", "AccountKeys", "BrokerAddress", "parse_address"]

MESSAGE_FIELD = "msg"
"""The stream field holding one message (the JSON-lines format of ``gal-exec run --signals``)."""

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class AccountKeys(msgspec.Struct, frozen=True, kw_only=True):
    """The keys of one account under one prefix."""

    prefix: str
    account: str

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.account):
            raise ValueError(
                f"account must be 1..64 letters, digits, '_', '.' or '-'; got {self.account!r}"
            )

    def _key(self, name: str) -> str:
        return f"{self.prefix}:{{{self.account}}}:{name}"

    @property
    def signals(self) -> str:
        return self._key("signals")

    @property
    def dead_letters(self) -> str:
        return self._key("signals:dead")

    @property
    def reports(self) -> str:
        return self._key("reports")

    @property
    def lease(self) -> str:
        return self._key("lease")

    @property
    def epoch(self) -> str:
        return self._key("epoch")

    def all(self) -> list[str]:
        return [self.signals, self.dead_letters, self.reports, self.lease, self.epoch]


class BrokerAddress(msgspec.Struct, frozen=True, kw_only=True):
    """A Redis URL without gal_exec's own query parameters, and the account it names (if any)."""

    url: str
    account: str | None = None


def parse_address(text: str) -> BrokerAddress:
    """Split ``redis://host:port/db?account=NAME`` into the Redis URL and the account.

    ValueError (one line) for anything but a redis:// or rediss:// URL or a bad account name.
    """
    parts = urlsplit(text)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"expected a redis://host:port/db URL, got {text!r}")
    query = parse_qs(parts.query, keep_blank_values=True)
    accounts = query.pop("account", [])
    if len(accounts) > 1:
        raise ValueError(f"{text}: account given {len(accounts)} times")
    account = accounts[0] if accounts else None
    if account is not None and not _NAME.fullmatch(account):
        raise ValueError(
            f"{text}: account must be 1..64 letters, digits, '_', '.' or '-'; got {account!r}"
        )
    rest = "&".join(f"{key}={value}" for key, values in query.items() for value in values)
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, ""))
    return BrokerAddress(url=url, account=account)
