"""The old worker contract (spec "Workers"): a manager running each registered worker once a turn.

Both services' worker processes were written against these two classes, so their behaviour is kept
exactly: duplicate names are warned about and skipped; one failing worker never stops the others.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

__all__ = ["AsyncWorker", "WorkerManager"]


class AsyncWorker:
    """One unit of background work; `run()` is called once per manager turn."""

    def run(self) -> int:
        """Do one unit of work and return how many events it processed."""
        raise NotImplementedError("AsyncWorker.run() must be implemented by a subclass")

    def get_name(self) -> str:
        """A name unique within a manager (a second worker with the same name is refused)."""
        raise NotImplementedError("AsyncWorker.get_name() must be implemented by a subclass")


class WorkerManager:
    """Runs registered workers in registration order; a failure in one is logged, not propagated."""

    def __init__(self) -> None:
        self._workers: list[AsyncWorker] = []
        self.active_workers: set[str] = set()

    @property
    def workers(self) -> list[AsyncWorker]:
        """The registered workers, in registration order (a copy)."""
        return list(self._workers)

    def register_worker(self, worker: AsyncWorker) -> WorkerManager:
        """Add a worker; returns the manager so registrations chain."""
        if not isinstance(worker, AsyncWorker):
            raise ValueError(f"expected an AsyncWorker, got {type(worker).__name__}")
        name = worker.get_name()
        if name in self.active_workers:
            logger.warning("event=worker_duplicate worker=%s action=not_added", name)
            return self
        self._workers.append(worker)
        self.active_workers.add(name)
        return self

    def run_workers(self) -> int:
        """Run every worker once and return the sum of their counts."""
        total = 0
        for worker in self._workers:
            try:
                total += worker.run()
            except Exception as exc:
                logger.exception(
                    "event=worker_failed worker=%s error=%s", _safe_name(worker), type(exc).__name__
                )
        return total


def _safe_name(worker: AsyncWorker) -> str:
    try:
        return worker.get_name()
    except Exception:
        return type(worker).__name__
