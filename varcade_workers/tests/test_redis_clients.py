"""The services' Redis client factory and the health probe, against a real Redis (db 4)."""

from __future__ import annotations

import asyncio
import time

import fakeredis
import pytest
import redis
import redis.asyncio
from varcade_workers.redis_clients import (
    CLIENT_DEFAULTS,
    async_redis_client,
    probe_client,
    redis_client,
)
from varcade_workers.testing import free_port


def test_defaults_decode_and_bound_the_retry(redis_base: str, data_redis: redis.Redis) -> None:
    client = redis_client(f"{redis_base}/4")
    kwargs = client.connection_pool.connection_kwargs
    for name, value in CLIENT_DEFAULTS.items():
        assert kwargs[name] == value
    assert kwargs["socket_timeout"] > 1.0  # above the stream worker's default blocking read
    assert kwargs["retry"].get_retries() == 1
    client.set("k", "v")
    assert client.get("k") == "v"  # decoded
    raw = redis_client(f"{redis_base}/4", decode_responses=False, socket_timeout=9)
    assert raw.get("k") == b"v"
    assert raw.connection_pool.connection_kwargs["socket_timeout"] == 9
    client.close()
    raw.close()


def test_unreachable_redis_fails_after_one_quick_retry() -> None:
    client = redis_client(f"redis://127.0.0.1:{free_port()}/0")
    started = time.perf_counter()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    print(f"factory client: ConnectionError after {time.perf_counter() - started:.3f} s")


def test_probe_client_same_server_and_db_no_retry(redis_base: str, data_redis: redis.Redis) -> None:
    data_redis.set("probe", "here")
    service = redis.Redis.from_url(f"{redis_base}/4", decode_responses=True)
    probe = probe_client(service)
    assert probe.get("probe") == "here"  # same database
    assert probe.connection_pool is not service.connection_pool
    kwargs = probe.connection_pool.connection_kwargs
    assert kwargs["retry"].get_retries() == 0
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 1.0
    dead = probe_client(redis.Redis(port=free_port()))  # redis-py's default: 3 retries
    started = time.perf_counter()
    with pytest.raises(redis.ConnectionError):
        dead.ping()
    print(f"probe: ConnectionError after {time.perf_counter() - started:.3f} s")
    probe.close()
    service.close()


def test_probe_client_of_fakeredis_sees_its_data() -> None:
    fake = fakeredis.FakeRedis(decode_responses=True)
    fake.set("x", "1")
    assert probe_client(fake).get("x") == "1"


def test_async_client_and_probe(redis_base: str, data_redis: redis.Redis) -> None:
    data_redis.set("k", "v")

    async def scenario() -> tuple[bytes | None, bool]:
        client = async_redis_client(f"{redis_base}/4", decode_responses=False)
        probe = probe_client(client)
        assert isinstance(probe, redis.asyncio.Redis)
        try:
            value = await client.get("k")
            dead = probe_client(async_redis_client(f"redis://127.0.0.1:{free_port()}/0"))
            try:
                await dead.ping()
                failed = False
            except redis.ConnectionError:
                failed = True
            await dead.aclose()
            assert await probe.ping()
            return value, failed
        finally:
            await client.aclose()
            await probe.aclose()

    assert asyncio.run(scenario()) == (b"v", True)
