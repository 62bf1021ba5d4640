"""A worker for jobs that run every N seconds (the matchmaker's curation) in the stream loop.

It never sleeps: the loop's blocking stream read is the wait, and `run()` only checks whether
the job is due. The clock is injectable so tests control time.

An outage is not a bug: when the job fails because Redis cannot be reached (`outage_errors`), the
worker logs one warning line with the error (no traceback) when the outage starts, stays quiet while
it lasts (the job is still tried at every interval), and logs one info line at the first run that
succeeds again. Any other exception is raised to the `WorkerManager`, which logs it with its
traceback, as before. `failing_since` / `failing_for()` tell a health check whether the last run
failed and since when.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import ClassVar

import redis

from varcade_workers.metrics import WorkerStats
from varcade_workers.worker_manager import AsyncWorker

logger = logging.getLogger(__name__)

__all__ = ["OUTAGE_ERRORS", "PeriodicWorker"]

#: What `PeriodicWorker` takes for an outage of its Redis: cannot connect, connection lost, no
#: answer in time (redis-py's BusyLoadingError, Redis still loading its data, is a ConnectionError).
OUTAGE_ERRORS: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)


class PeriodicWorker(AsyncWorker):
    """Calls `run_periodic()` at most once per `interval_seconds`; the first call is due at once.

    Health, for a `/healthz` or a metric: `failing_since` is the clock time (the `clock` given,
    monotonic by default) of the first failed run of the current streak of failures, None when the
    last run succeeded; `failed_runs` counts that streak; `last_error` is its latest exception as
    text, ``"<type>: <message>"`` (None when the last run succeeded).
    """

    #: Exceptions that mean "a dependency is unreachable": one warning per outage, not raised.
    #: A subclass whose job has other dependencies can extend it.
    outage_errors: ClassVar[tuple[type[Exception], ...]] = OUTAGE_ERRORS

    def __init__(
        self,
        interval_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        name: str | None = None,
        unhealthy_after_s: float = 30.0,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        self.interval_seconds = float(interval_seconds)
        self.unhealthy_after_s = unhealthy_after_s
        self._clock = clock
        self._name = name
        self._next_due = clock()
        self.stats = WorkerStats()
        self.failing_since: float | None = None
        self.failed_runs = 0
        self.last_error: str | None = None
        self._outage_logged = False

    def run_periodic(self) -> int:
        """The job; returns how many items it processed."""
        raise NotImplementedError("PeriodicWorker.run_periodic() must be implemented by a subclass")

    def get_name(self) -> str:
        return self._name or type(self).__name__

    def seconds_until_due(self) -> float:
        """How long the process loop may wait before this worker has work (0 when due)."""
        return max(0.0, self._next_due - self._clock())

    @property
    def failing(self) -> bool:
        """Whether the last run failed."""
        return self.failing_since is not None

    def failing_for(self) -> float | None:
        """Seconds since the current streak of failed runs began; None when the last run
        succeeded."""
        if self.failing_since is None:
            return None
        return max(0.0, self._clock() - self.failing_since)

    def health_problem(self) -> str | None:
        """Why this worker is not ready (its runs have failed for `unhealthy_after_s`), or None."""
        failing = self.failing_for()
        if failing is None or failing <= self.unhealthy_after_s:
            return None
        return f"failing for {failing:.1f} s ({self.failed_runs} runs): {self.last_error}"

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
        except self.outage_errors as exc:
            self._failed(exc, now)
            if not self._outage_logged:
                self._outage_logged = True
                logger.warning(
                    "event=periodic_unavailable worker=%s error=%r retry_every=%.1fs",
                    self.get_name(),
                    self.last_error,
                    self.interval_seconds,
                )
            return 0
        except Exception as exc:
            self._failed(exc, now)
            raise
        if self.failing_since is not None:
            logger.info(
                "event=periodic_recovered worker=%s failed_runs=%d failing_for=%.1fs",
                self.get_name(),
                self.failed_runs,
                self._clock() - self.failing_since,
            )
            self.failing_since = None
            self.failed_runs = 0
            self.last_error = None
            self._outage_logged = False
        self.stats.processed += count
        return count

    def _failed(self, exc: Exception, now: float) -> None:
        self.stats.failed += 1
        self.failed_runs += 1
        # Text, not the exception (its traceback would keep frames alive); not repr() either:
        # redis-py 8's leaves the message out.
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self.failing_since is None:
            self.failing_since = now
