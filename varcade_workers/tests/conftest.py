"""Fixtures for the library's tests. The library owns Redis databases 3 (streams) and 4 (data) in
tests."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
import redis
from varcade_workers.testing import redis_base_url

STREAM_DB = 3
DATA_DB = 4


@pytest.fixture(scope="session")
def redis_base() -> str:
    """URL of a real Redis without a database number (a private one is started if none answers)."""
    return redis_base_url()


def _flushed_client(base: str, db: int) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(f"{base}/{db}", decode_responses=True)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def stream_redis(redis_base: str) -> Iterator[redis.Redis]:
    """A decoded client of real Redis db 3, empty before and after the test."""
    yield from _flushed_client(redis_base, STREAM_DB)


@pytest.fixture
def data_redis(redis_base: str) -> Iterator[redis.Redis]:
    """A decoded client of real Redis db 4, empty before and after the test."""
    yield from _flushed_client(redis_base, DATA_DB)


@pytest.fixture
def fake_redis() -> Iterator[fakeredis.FakeRedis]:
    """An in-memory fakeredis client (decoded), private to the test."""
    client = fakeredis.FakeRedis(decode_responses=True)
    try:
        yield client
    finally:
        client.close()
