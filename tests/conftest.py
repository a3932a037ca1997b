"""Suite-wide fixtures: the Redis server the scale-out tests use (real, on loopback).

``GAL_TEST_REDIS_URL`` names it (scripts/test sets it when it starts a throwaway server); the
default is redis://127.0.0.1:6379/0. Without a server the Redis tests are skipped, except in CI
(``CI=true``), where the run stops with one line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.exit(f"Redis is required in CI: {reason}", returncode=1)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a Redis server that answers PING (skips, or stops the run in CI, if none)."""
    url = os.environ.get("GAL_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    try:
        import redis
    except ImportError:
        _missing("redis-py is not installed (pip install -e '.[test]')")
        raise
    try:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        _missing(f"no Redis server answers at {url} ({exc})")
    return url


@pytest.fixture
def redis_prefix(redis_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    import secrets

    import redis

    prefix = f"galtest-{secrets.token_hex(4)}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
