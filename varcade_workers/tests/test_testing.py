"""testing: the test Redis helpers."""

from __future__ import annotations

import pytest
import redis
from varcade_workers.testing import RedisServer, find_redis_server, free_port, redis_base_url


def test_redis_base_url_answers(redis_base: str) -> None:
    assert redis_base == redis_base_url()
    assert not redis_base.endswith("/")
    client = redis.Redis.from_url(f"{redis_base}/3")
    try:
        assert client.ping()
    finally:
        client.close()


def test_free_port_and_binary() -> None:
    assert 0 < free_port() < 65536
    assert find_redis_server()


def test_restart_with_appendonly_keeps_data() -> None:
    with RedisServer(appendonly=True) as server:
        port = server.port
        client = server.client(0, decode_responses=True)
        client.set("kept", "yes")
        client.xadd("s", {"a": "1"})
        server.restart()
        assert server.port == port
        assert client.get("kept") == "yes"  # the client reconnects to the same port
        assert client.xlen("s") == 1
        server.kill()  # a crash: appendfsync always has written everything already
        assert not server.running
        server.start()
        assert client.get("kept") == "yes"
        client.close()
    assert not server.running


def test_restart_without_persistence_loses_data() -> None:
    with RedisServer() as server:
        client = server.client(0, decode_responses=True)
        client.set("lost", "yes")
        server.restart()
        assert client.get("lost") is None
        client.close()


def test_stopped_server_refuses_connections() -> None:
    server = RedisServer()
    server.start()
    client = server.client(0, socket_connect_timeout=1)
    assert client.ping()
    server.close()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    client.close()


def test_fixed_port_in_use_fails_clearly() -> None:
    with RedisServer() as first:
        second = RedisServer(port=first.port)
        try:
            with pytest.raises(RuntimeError, match="did not start"):
                second.start(timeout=5)
        finally:
            second.close()
