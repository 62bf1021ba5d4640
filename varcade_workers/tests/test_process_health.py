"""Readiness (/healthz) tells the truth; liveness (/livez) fails only for a stuck loop; lag."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import redis
from prometheus_client.parser import text_string_to_metric_families
from stream_helpers import FakeClock, Recorder, add_events
from varcade_workers.process import WorkerProcess
from varcade_workers.testing import RedisServer

STREAM = "health_stream"


def get(port: int, path: str) -> tuple[int, dict[str, object] | str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            text = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as error:
        text, status = error.read().decode(), error.code
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def test_redis_outage_fails_readiness_after_the_threshold_never_liveness() -> None:
    clock = FakeClock()
    with RedisServer() as server:
        client = server.client(decode_responses=True, socket_timeout=1, socket_connect_timeout=1)
        worker = Recorder(client, STREAM, "g", block_ms=10, clock=clock, sleep=lambda _: None)
        process = WorkerProcess(
            [worker], service="t", metrics_host="127.0.0.1", stall_seconds=60, clock=clock
        )
        port = process.start_http()
        try:
            process.turn()
            assert get(port, "/healthz")[0] == 200
            server.stop()
            process.turn()  # Redis away: the loop keeps turning, backing off
            clock.now += 20
            process.turn()
            assert get(port, "/healthz")[0] == 200  # a blip: still ready
            clock.now += 15
            process.turn()
            status, body = get(port, "/healthz")
            assert status == 503 and isinstance(body, dict)
            assert body["status"] == "unavailable"
            assert "Redis unreachable for 35" in str(body["reason"])
            assert get(port, "/livez")[0] == 200  # alive: restarting it would not help
            server.start()
            process.turn()
            process.turn()
            assert get(port, "/healthz")[0] == 200
        finally:
            process.close()
            client.close()


def test_a_worker_failing_every_turn_is_not_ready(stream_redis: redis.Redis) -> None:
    clock = FakeClock()

    class Wedged(Recorder):
        def _run_once(self) -> int:
            raise RuntimeError("cannot get past one entry")

    worker = Wedged(stream_redis, STREAM, "g", block_ms=10, clock=clock)
    process = WorkerProcess([worker], service="t", metrics_host="127.0.0.1", clock=clock)
    port = process.start_http()
    try:
        process.turn()  # the manager logs the error; the loop turns
        clock.now += 31
        process.turn()
        status, body = get(port, "/healthz")
        assert status == 503 and "no progress for 31" in str(body)
        assert get(port, "/livez")[0] == 200
    finally:
        process.close()


def test_livez_fails_only_when_the_loop_is_stuck(stream_redis: redis.Redis) -> None:
    clock = FakeClock()
    worker = Recorder(stream_redis, STREAM, "g", block_ms=10, clock=clock)
    process = WorkerProcess(
        [worker], service="t", metrics_host="127.0.0.1", stall_seconds=10, clock=clock
    )
    port = process.start_http()
    try:
        process.turn()
        clock.now += 11  # no turn since
        assert get(port, "/livez")[0] == 503
        status, body = get(port, "/healthz")
        assert status == 503 and isinstance(body, dict) and body["status"] == "stalled"
    finally:
        process.close()


def test_metrics_show_the_groups_lag_and_pending(stream_redis: redis.Redis) -> None:
    worker = Recorder(stream_redis, STREAM, "g", block_ms=10, batch_size=4)
    process = WorkerProcess([worker], service="t", metrics_host="127.0.0.1")
    port = process.start_http()
    try:
        process.turn()
        add_events(stream_redis, STREAM, 10)
        process.turn()
        status, text = get(port, "/metrics")
        assert status == 200
        samples = {
            s.name: s.value
            for family in text_string_to_metric_families(str(text))
            for s in family.samples
        }
        assert samples["varcade_worker_group_lag"] == 6
        assert "varcade_worker_pending_events" in samples
    finally:
        process.close()
