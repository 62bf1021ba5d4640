"""PeriodicWorker timing with an injected clock (no sleeping, no timed assertions), and how it
reports a Redis outage: one warning when it starts, one info line when it ends, no tracebacks."""

from __future__ import annotations

import logging

import pytest
import redis
from stream_helpers import FakeClock
from varcade_workers.periodic import OUTAGE_ERRORS
from varcade_workers.redis_clients import redis_client
from varcade_workers.testing import RedisServer

from varcade_workers import PeriodicWorker, WorkerManager


class Job(PeriodicWorker):
    def __init__(self, clock: FakeClock, interval: float = 10.0, fail: bool = False) -> None:
        super().__init__(interval, clock=clock, name="job")
        self.runs: list[float] = []
        self.clock = clock
        self.fail = fail

    def run_periodic(self) -> int:
        self.runs.append(self.clock.now)
        if self.fail:
            raise RuntimeError("job failed")
        return 7


def test_due_at_once_then_every_interval() -> None:
    clock = FakeClock(1000.0)
    job = Job(clock)
    assert job.run() == 7
    assert job.run() == 0
    clock.now += 9.999
    assert job.run() == 0
    assert job.seconds_until_due() == pytest.approx(0.001)
    clock.now += 0.001
    assert job.run() == 7
    assert job.runs == [1000.0, 1010.0]


def test_keeps_cadence_when_run_late() -> None:
    clock = FakeClock(1000.0)
    job = Job(clock)
    job.run()
    clock.now = 1013.0  # 3 s late
    assert job.run() == 7
    clock.now = 1019.9
    assert job.run() == 0
    clock.now = 1020.0  # next due on the original grid, not at 1023
    assert job.run() == 7


def test_long_stall_does_not_cause_a_burst() -> None:
    clock = FakeClock(1000.0)
    job = Job(clock)
    job.run()
    clock.now = 1100.0  # ten intervals missed
    assert job.run() == 7
    assert job.run() == 0
    assert job.seconds_until_due() == pytest.approx(10.0)


def test_failing_job_waits_for_next_interval() -> None:
    clock = FakeClock(1000.0)
    job = Job(clock, fail=True)
    manager = WorkerManager().register_worker(job)
    assert manager.run_workers() == 0
    assert manager.run_workers() == 0
    assert len(job.runs) == 1
    clock.now += 10
    manager.run_workers()
    assert len(job.runs) == 2


def test_base_class_and_validation() -> None:
    with pytest.raises(ValueError):
        PeriodicWorker(0)
    worker = PeriodicWorker(5, clock=FakeClock(1000.0))
    assert worker.get_name() == "PeriodicWorker"
    with pytest.raises(NotImplementedError):
        worker.run()


def records(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if f"event={event} " in r.getMessage()]


class Flaky(PeriodicWorker):
    """Raises each exception of `errors` in turn (None: succeeds)."""

    def __init__(self, clock: FakeClock, errors: list[Exception | None]) -> None:
        super().__init__(5.0, clock=clock, name="flaky")
        self.clock = clock
        self.errors = errors

    def run_periodic(self) -> int:
        error = self.errors.pop(0)
        if error is not None:
            raise error
        return 1


def turns(manager: WorkerManager, clock: FakeClock, count: int) -> list[int]:
    """`count` manager turns, each when the job is due."""
    done = []
    for _ in range(count):
        done.append(manager.run_workers())
        clock.now += 5.0
    return done


def test_an_outage_is_one_warning_and_one_info_line_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(1000.0)
    down = redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    job = Flaky(clock, [None, down, down, redis.TimeoutError("Timeout reading"), down, None, None])
    manager = WorkerManager().register_worker(job)
    caplog.set_level(logging.INFO)
    assert turns(manager, clock, 1) == [1]
    assert not job.failing and job.failing_since is None and job.failing_for() is None
    assert turns(manager, clock, 4) == [0, 0, 0, 0]
    assert job.failing and job.failing_since == 1005.0 and job.failed_runs == 4
    assert job.failing_for() == 20.0  # the clock is at 1025 now
    assert job.last_error is not None and "Connection refused" in job.last_error
    [warning] = records(caplog, "periodic_unavailable")
    assert warning.levelno == logging.WARNING and warning.exc_info is None
    assert "worker=flaky" in warning.getMessage() and "Connection refused" in warning.getMessage()
    assert records(caplog, "periodic_recovered") == []
    assert turns(manager, clock, 2) == [1, 1]
    [info] = records(caplog, "periodic_recovered")
    assert info.levelno == logging.INFO
    assert "failed_runs=4" in info.getMessage() and "failing_for=20.0s" in info.getMessage()
    assert not job.failing and job.failed_runs == 0 and job.last_error is None
    assert job.stats.failed == 4 and job.stats.processed == 3
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
    assert len(records(caplog, "periodic_unavailable")) == 1  # nothing more was logged


def test_a_second_outage_is_warned_about_again(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(1000.0)
    down = redis.ConnectionError("down")
    manager = WorkerManager().register_worker(Flaky(clock, [down, None, down, down, None]))
    caplog.set_level(logging.INFO)
    turns(manager, clock, 5)
    assert len(records(caplog, "periodic_unavailable")) == 2
    assert len(records(caplog, "periodic_recovered")) == 2


def test_other_errors_still_reach_the_manager_with_their_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(1000.0)
    job = Flaky(clock, [KeyError("bug"), None])
    manager = WorkerManager().register_worker(job)
    caplog.set_level(logging.INFO)
    assert turns(manager, clock, 1) == [0]
    [failed] = [r for r in caplog.records if "event=worker_failed" in r.getMessage()]
    assert failed.exc_info is not None  # a bug keeps its traceback
    assert job.failing and job.failing_since == 1000.0 and "KeyError" in (job.last_error or "")
    assert records(caplog, "periodic_unavailable") == []
    turns(manager, clock, 1)
    assert not job.failing and len(records(caplog, "periodic_recovered")) == 1


def test_a_subclass_can_name_its_own_outage_errors(caplog: pytest.LogCaptureFixture) -> None:
    class HttpJob(Flaky):
        outage_errors = (*OUTAGE_ERRORS, ConnectionRefusedError)

    clock = FakeClock(1000.0)
    job = HttpJob(clock, [ConnectionRefusedError("game server down"), None])
    caplog.set_level(logging.INFO)
    assert turns(WorkerManager().register_worker(job), clock, 2) == [0, 1]
    assert len(records(caplog, "periodic_unavailable")) == 1
    assert len(records(caplog, "periodic_recovered")) == 1


class Counter(PeriodicWorker):
    """Increments a counter in Redis each run."""

    def __init__(self, client: redis.Redis, clock: FakeClock) -> None:
        super().__init__(5.0, clock=clock, name="counter")
        self.client = client

    def run_periodic(self) -> int:
        self.client.incr("runs")
        return 1


def test_a_real_redis_stopped_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with RedisServer() as server:
        client = redis_client(f"{server.url}/0")  # the services' client: one retry, 2 s timeouts
        clock = FakeClock(1000.0)
        job = Counter(client, clock)
        manager = WorkerManager().register_worker(job)
        assert turns(manager, clock, 2) == [1, 1]
        server.stop()
        assert turns(manager, clock, 5) == [0] * 5  # five runs during the outage
        assert job.failing and job.failing_since == 1010.0 and job.failed_runs == 5
        server.start()  # same port; no persistence, so the counter starts again
        assert turns(manager, clock, 2) == [1, 1]
        assert client.get("runs") == "2" and not job.failing
        client.close()
    [warning] = records(caplog, "periodic_unavailable")
    assert warning.levelno == logging.WARNING and "ConnectionError" in warning.getMessage()
    [info] = records(caplog, "periodic_recovered")
    assert "failed_runs=5" in info.getMessage()
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


def test_health_problem_only_after_failing_past_the_threshold() -> None:
    clock = FakeClock(1000.0)
    down = redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    job = Flaky(clock, [down] * 10 + [None])
    manager = WorkerManager().register_worker(job)
    turns(manager, clock, 2)
    assert job.health_problem() is None  # a blip
    turns(manager, clock, 6)
    problem = job.health_problem() or ""
    assert problem.startswith("failing for 40.0 s (8 runs)") and "Connection refused" in problem
    turns(manager, clock, 3)
    assert job.health_problem() is None  # recovered
