"""Fixtures for the scale-out tests: a Redis client and brokers under the test's own prefix."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

redis = pytest.importorskip("redis")


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Any]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()
