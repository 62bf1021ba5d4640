"""Fixtures for the library's tests. The library owns Redis databases 3 (streams) and 4 (data) in
tests."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
from varcade_workers.testing import redis_base_url, redis_db_fixture

STREAM_DB = 3
DATA_DB = 4


@pytest.fixture(scope="session")
def redis_base() -> str:
    """URL of a real Redis without a database number (a private one is started if none answers)."""
    return redis_base_url()


stream_redis = redis_db_fixture(STREAM_DB)
data_redis = redis_db_fixture(DATA_DB)


@pytest.fixture
def fake_redis() -> Iterator[fakeredis.FakeRedis]:
    """An in-memory fakeredis client (decoded), private to the test."""
    client = fakeredis.FakeRedis(decode_responses=True)
    try:
        yield client
    finally:
        client.close()
