"""Fixtures: real Redis databases 7 (stats data) and 8 (event stream), flushed before and after."""

from __future__ import annotations

import pytest
import redis
from stats_tracker.config import Config
from stats_tracker.products import build_products
from varcade_workers.testing import redis_base_url, redis_db_fixture

DATA_DB = 7
STREAM_DB = 8
#: exrps keeps the default scoring; `rated` is a product scored with Elo.
TEST_PRODUCTS = {"exrps": "wins", "rated": "elo"}
ORIGIN = "http://127.0.0.1:8090"


data_redis = redis_db_fixture(DATA_DB)
stream_redis = redis_db_fixture(STREAM_DB)


@pytest.fixture
def config(data_redis: redis.Redis, stream_redis: redis.Redis) -> Config:
    return Config(
        redis_url=f"{redis_base_url()}/{DATA_DB}",
        event_stream_url=f"{redis_base_url()}/{STREAM_DB}",
        products=build_products(TEST_PRODUCTS),
        cors_origins=(ORIGIN,),
    )


@pytest.fixture
def origin() -> str:
    """The web page origin the test app allows (CORS)."""
    return ORIGIN
