"""The Redis side: connections, and the Lua scripts that act only while a lease token is current.

Every write an owner makes on behalf of its account (acknowledging a signal, dead-lettering a
poison message, publishing reports) runs in one script that first checks the lease key still
holds the owner's token, so an engine that lost its lease (paused, partitioned) cannot act even
if its own clock has not told it yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

__all__ = ["FENCED", "Broker", "connect"]

FENCED = -1
"""What a fenced script returns when the lease is no longer the caller's."""

_ACQUIRE = """
local current = redis.call('GET', KEYS[1])
if current then return {0, current, redis.call('PTTL', KEYS[1])} end
local had = redis.call('EXISTS', KEYS[2])
local epoch = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[3])
if epoch < floor then
  epoch = floor
  redis.call('SET', KEYS[2], epoch)
end
local token = string.format('%d', epoch) .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return {1, token, had}
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

_ACK = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
return redis.call('XACK', KEYS[2], ARGV[2], unpack(ARGV, 3))
"""

_DEAD_LETTER = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*',
  'msg', ARGV[6], 'entry_id', ARGV[4], 'reason', ARGV[5], 'stream', KEYS[2])
return redis.call('XACK', KEYS[2], ARGV[2], ARGV[4])
"""

_PUBLISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
for i = 4, #ARGV do
  if ARGV[2] == '' then
    redis.call('XADD', KEYS[2], '*', 'msg', ARGV[i])
  else
    redis.call('XADD', KEYS[2], ARGV[2], '~', ARGV[3], '*', 'msg', ARGV[i])
  end
end
return #ARGV - 3
"""

_ACK_CHUNK = 1000


def connect(url: str, *, socket_timeout: float | None = 2.0) -> redis.Redis:
    """A client for `url` (bytes in and out); ``socket_timeout`` None for blocking reads."""
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=min(socket_timeout or 2.0, 2.0),
        health_check_interval=0,
    )


class Broker:
    """The fenced scripts on one connection (one per thread: redis-py clients pool, but a
    blocking read holds its connection)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._ack = client.register_script(_ACK)
        self._dead = client.register_script(_DEAD_LETTER)
        self._publish = client.register_script(_PUBLISH)

    def acquire(
        self, lease: str, epoch: str, owner: str, ttl_ms: int, floor: int
    ) -> tuple[bool, str, int]:
        """(granted, token, detail): the new token and whether the epoch counter existed, or the
        holder's token and the lease's remaining milliseconds."""
        granted, token, detail = self._acquire(keys=[lease, epoch], args=[owner, ttl_ms, floor])
        return bool(granted), _text(token), int(detail)

    def renew(self, lease: str, token: str, ttl_ms: int) -> bool:
        return bool(self._renew(keys=[lease], args=[token, ttl_ms]))

    def release(self, lease: str, token: str) -> bool:
        return bool(self._release(keys=[lease], args=[token]))

    def holder(self, lease: str) -> str | None:
        value = self.client.get(lease)
        return None if value is None else _text(value)

    def ack(self, lease: str, token: str, stream: str, group: str, ids: Sequence[str]) -> int:
        """XACK `ids` if `token` holds the lease: the number acknowledged, or FENCED."""
        done = 0
        for start in range(0, len(ids), _ACK_CHUNK):
            chunk = list(ids[start : start + _ACK_CHUNK])
            result = int(self._ack(keys=[lease, stream], args=[token, group, *chunk]))
            if result == FENCED:
                return FENCED
            done += result
        return done

    def dead_letter(
        self,
        lease: str,
        token: str,
        stream: str,
        group: str,
        dead: str,
        *,
        maxlen: int,
        entry_id: str,
        reason: str,
        raw: bytes,
    ) -> int:
        """Move one poison entry to the dead-letter stream and acknowledge it, or FENCED."""
        return int(
            self._dead(
                keys=[lease, stream, dead], args=[token, group, maxlen, entry_id, reason, raw]
            )
        )

    def publish(
        self, lease: str, token: str, stream: str, bodies: Sequence[bytes], trim: tuple[str, str]
    ) -> int:
        """XADD each body (field ``msg``) with the trim (``("MAXLEN", n)``, ``("MINID", id)`` or
        ``("", "")``) if `token` holds the lease: the number added, or FENCED."""
        kind, argument = trim
        return int(self._publish(keys=[lease, stream], args=[token, kind, argument, *bodies]))

    def run_id(self) -> str:
        """The server's run id: it changes when Redis restarts (and, here, forgets everything)."""
        info: Any = self.client.info("server")
        return str(info.get("run_id", ""))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
