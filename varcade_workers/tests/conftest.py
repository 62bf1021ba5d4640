"""Fixtures for the library's tests. The library owns Redis databases 3 (streams) and 4 (data) in
tests."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
import redis
from varcade_workers.testing import redis_base_url, redis_db

STREAM_DB = 3
DATA_DB = 4


@pytest.fixture(scope="session")
def redis_base() -> str:
    """URL of a real Redis without a database number (a private one is started if none answers)."""
    return redis_base_url()


@pytest.fixture
def stream_redis() -> Iterator[redis.Redis]:
    """A decoded client of real Redis db 3, empty before and after the test."""
    with redis_db(STREAM_DB) as client:
        yield client


@pytest.fixture
def data_redis() -> Iterator[redis.Redis]:
    """A decoded client of real Redis db 4, empty before and after the test."""
    with redis_db(DATA_DB) as client:
        yield client


@pytest.fixture
def fake_redis() -> Iterator[fakeredis.FakeRedis]:
    """An in-memory fakeredis client (decoded), private to the test."""
    client = fakeredis.FakeRedis(decode_responses=True)
    try:
        yield client
    finally:
        client.close()
