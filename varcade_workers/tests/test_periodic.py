"""PeriodicWorker timing with an injected clock (no sleeping, no timed assertions)."""

from __future__ import annotations

import pytest
from stream_helpers import FakeClock

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
