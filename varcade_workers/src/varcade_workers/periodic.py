"""A worker for jobs that run every N seconds (the matchmaker's curation) in the stream loop.

It never sleeps: the loop's blocking stream read is the wait, and `run()` only checks whether
the job is due. The clock is injectable so tests control time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from varcade_workers.metrics import WorkerStats
from varcade_workers.worker_manager import AsyncWorker

__all__ = ["PeriodicWorker"]


class PeriodicWorker(AsyncWorker):
    """Calls `run_periodic()` at most once per `interval_seconds`; the first call is due at once."""

    def __init__(
        self,
        interval_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        name: str | None = None,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        self.interval_seconds = float(interval_seconds)
        self._clock = clock
        self._name = name
        self._next_due = clock()
        self.stats = WorkerStats()

    def run_periodic(self) -> int:
        """The job; returns how many items it processed."""
        raise NotImplementedError("PeriodicWorker.run_periodic() must be implemented by a subclass")

    def get_name(self) -> str:
        return self._name or type(self).__name__

    def seconds_until_due(self) -> float:
        """How long the process loop may wait before this worker has work (0 when due)."""
        return max(0.0, self._next_due - self._clock())

    def run(self) -> int:
        now = self._clock()
        if now < self._next_due:
            return 0
        # Advance before running so a failing job is retried at the next interval, not every turn;
        # after a long stall, resume the cadence from now instead of catching up with a burst.
        self._next_due += self.interval_seconds
        if self._next_due <= now:
            self._next_due = now + self.interval_seconds
        try:
            count = self.run_periodic()
        except Exception:
            self.stats.failed += 1
            raise
        self.stats.processed += count
        return count
