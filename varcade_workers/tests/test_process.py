"""The worker process: loop, stop, /healthz, /metrics, and SIGTERM on a real process."""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.request
from pathlib import Path

import fakeredis
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from stream_helpers import (
    FakeClock,
    Recorder,
    add_events,
    assert_one_line_refusal,
    running_child,
    stop_child,
    wait_until,
)
from varcade_workers.process import LoopDurations, WorkerProcess, _metrics_port, serve
from varcade_workers.settings import ConfigError
from varcade_workers.testing import free_port

from varcade_workers import PeriodicWorker, WorkerManager

STREAM = "test_stream"


class Tick(PeriodicWorker):
    def run_periodic(self) -> int:
        return 1


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_healthz_turns_503_when_the_loop_stalls(fake_redis: fakeredis.FakeRedis) -> None:
    clock = FakeClock()
    worker = Recorder(fake_redis, STREAM, "g", block_ms=0)
    process = WorkerProcess(
        [worker],
        service="t",
        metrics_port=0,
        metrics_host="127.0.0.1",
        stall_seconds=10,
        clock=clock,
    )
    port = process.start_http()
    try:
        assert get(port, "/healthz")[0] == 200
        clock.now += 10.5  # the loop has not turned for longer than stall_seconds
        status, body = get(port, "/healthz")
        assert status == 503 and "stalled" in body
        process.turn()
        assert get(port, "/healthz")[0] == 200
        assert get(port, "/nope")[0] == 404
    finally:
        process.close()


def test_metrics_count_processed_failed_and_dead_letters(fake_redis: fakeredis.FakeRedis) -> None:
    add_events(fake_redis, STREAM, 3)
    fake_redis.xadd(STREAM, {"fail": "1"})
    fake_redis.xadd(STREAM, {"dead": "1"})
    worker = Recorder(fake_redis, STREAM, "g", block_ms=0)
    process = WorkerProcess([worker], service="svc", metrics_port=0, metrics_host="127.0.0.1")
    port = process.start_http()
    try:
        process.turn()
        status, text = get(port, "/metrics")
        assert status == 200
        labels = f'service="svc",worker="g:{STREAM}"'
        assert f"varcade_worker_events_processed_total{{{labels}}} 3.0" in text
        assert f"varcade_worker_events_failed_total{{{labels}}} 1.0" in text
        assert f"varcade_worker_events_dead_lettered_total{{{labels}}} 1.0" in text
        assert f"varcade_worker_pending_events{{{labels}}}" in text
        assert 'varcade_worker_loop_duration_seconds_count{service="svc"} 1.0' in text
    finally:
        process.close()


def test_serve_runs_until_stopped_and_acks_the_batch_in_hand(stream_redis: redis.Redis) -> None:
    ids = add_events(stream_redis, STREAM, 1500)
    worker = Recorder(stream_redis, STREAM, "g", batch_size=500, block_ms=20)
    stop = threading.Event()
    ready: list[WorkerProcess] = []
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            serve([worker], stop, service="t", metrics_port=0, on_ready=ready.append)
        )
    )
    thread.start()
    wait_until(lambda: len(worker.handled) == len(ids), what="backlog handled")
    assert get(ready[0].port, "/healthz")[0] == 200
    stop.set()
    thread.join(10)
    assert result == [0]
    assert int(stream_redis.xpending(STREAM, "g")["pending"]) == 0


def test_idle_wait_only_when_no_worker_blocks(fake_redis: fakeredis.FakeRedis) -> None:
    clock = FakeClock()
    tick = Tick(0.25, clock=clock, name="tick")
    only_periodic = WorkerProcess([tick], service="t", metrics_host="127.0.0.1")
    try:
        only_periodic.turn()
        assert only_periodic.idle_wait() == pytest.approx(0.25)
        clock.now += 0.2
        assert only_periodic.idle_wait() == pytest.approx(0.05)
    finally:
        only_periodic.close()
    slow = WorkerProcess(
        [Tick(3600, clock=clock, name="slow")], service="t", metrics_host="127.0.0.1"
    )
    try:
        assert slow.idle_wait() <= 1.0  # bounded, so a stop request is noticed
    finally:
        slow.close()
    manager = WorkerManager().register_worker(Tick(5, clock=clock, name="tick"))
    manager.register_worker(Recorder(fake_redis, STREAM, "g", block_ms=100))
    mixed = WorkerProcess(manager, service="t", metrics_host="127.0.0.1")
    try:
        assert mixed.idle_wait() == 0  # the stream read is the wait
    finally:
        mixed.close()


def test_metrics_port_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METRICS_PORT", raising=False)
    assert _metrics_port(5051) == 5051
    monkeypatch.setenv("METRICS_PORT", "6000")
    assert _metrics_port(5051) == 6000
    monkeypatch.setenv("METRICS_PORT", "abc")
    with pytest.raises(ConfigError, match="METRICS_PORT"):
        _metrics_port(5051)


def test_sigterm_finishes_the_batch_in_hand_and_exits_0(
    stream_redis: redis.Redis, data_redis: redis.Redis
) -> None:
    ids = add_events(stream_redis, STREAM, 60)
    with running_child(STREAM, "g", batch_size=20, delay=0.05) as child:
        wait_until(lambda: data_redis.llen("handled") >= 3, what="child handling a batch")
        stderr = stop_child(child)
    assert child.returncode == 0, stderr.decode()
    handled = data_redis.lrange("handled", 0, -1)
    assert len(handled) >= 20 and len(handled) % 20 == 0  # whole batches only
    assert handled == ids[: len(handled)]
    assert int(stream_redis.xpending(STREAM, "g")["pending"]) == 0  # and acked
    assert b"event=stop_requested" in stderr


def test_loop_durations_are_a_cumulative_histogram() -> None:
    durations = LoopDurations((0.01, 0.1, 1.0))
    for seconds in (0.005, 0.01, 0.05, 0.5, 7.0):
        durations.observe(seconds)
    family = durations.metric("svc")
    samples = {
        (s.name, s.labels.get("le")): s.value
        for s in family.samples
        if s.labels["service"] == "svc"
    }
    bucket = "varcade_worker_loop_duration_seconds_bucket"
    assert samples[bucket, "0.01"] == 2  # an observation on a bound falls in that bucket
    assert samples[bucket, "0.1"] == 3
    assert samples[bucket, "1.0"] == 4
    assert samples[bucket, "+Inf"] == 5
    assert samples["varcade_worker_loop_duration_seconds_count", None] == 5
    assert samples["varcade_worker_loop_duration_seconds_sum", None] == pytest.approx(7.565)


def test_worker_process_ignores_a_missing_prometheus_multiproc_dir(
    stream_redis: redis.Redis, data_redis: redis.Redis, tmp_path: Path
) -> None:
    """A PROMETHEUS_MULTIPROC_DIR meant for gunicorn (here: not created) must not break a worker,
    which serves its own /metrics in one process and writes no files there."""
    missing = tmp_path / "not-created-yet"
    port = free_port()
    add_events(stream_redis, STREAM, 5)
    env = {"PROMETHEUS_MULTIPROC_DIR": str(missing), "METRICS_PORT": str(port)}
    with running_child(STREAM, "g", env=env) as child:
        wait_until(lambda: data_redis.llen("handled") == 5, what="child handling the events")

        def answers() -> bool:
            try:
                return get(port, "/healthz")[0] == 200
            except OSError:
                return False

        wait_until(answers, what="/healthz")
        status, text = get(port, "/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(text)}
        processed = families["varcade_worker_events_processed"].samples
        assert [s.value for s in processed if s.name.endswith("_total")] == [5.0]
        assert "varcade_worker_loop_duration_seconds" in families
        stderr = stop_child(child)
    assert child.returncode == 0, stderr.decode()
    assert not missing.exists()


BAD_CONFIG_MAIN = """
from varcade_workers import settings
from varcade_workers.process import run_worker_process

def build():
    settings.env_int("STREAM_BATCH_SIZE", 500, minimum=1)
    raise AssertionError("not reached")

run_worker_process(build, service="badconf", metrics_port=0)
"""


def test_a_bad_variable_is_one_log_line_and_exit_2() -> None:
    env = {**os.environ, "STREAM_BATCH_SIZE": "lots", "LOG_LEVEL": "INFO"}
    assert_one_line_refusal(BAD_CONFIG_MAIN, [], env, "STREAM_BATCH_SIZE")


def test_signal_stop_is_set_from_a_signal_handler_during_wait() -> None:
    """run_worker_process's stop flag: set by SIGTERM's handler while the main thread waits. (A
    threading.Event set there can deadlock on the lock its own wait() holds: a worker that ignored
    SIGTERM on a loaded CI machine.)"""
    import signal as signals

    from varcade_workers.process import SignalStop

    stop = SignalStop()
    previous = signals.signal(signals.SIGALRM, lambda *_: stop.set())
    try:
        signals.setitimer(signals.ITIMER_REAL, 0.2)
        assert stop.wait(5.0) is True
        assert stop.is_set()
    finally:
        signals.setitimer(signals.ITIMER_REAL, 0)
        signals.signal(signals.SIGALRM, previous)
    assert SignalStop().wait(0.05) is False
