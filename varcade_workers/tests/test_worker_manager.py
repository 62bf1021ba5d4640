"""The old unit tests' behaviour of AsyncWorker / WorkerManager (spec "Workers")."""

from __future__ import annotations

import logging

import pytest

from varcade_workers import AsyncWorker, WorkerManager
from varcade_workers import worker_manager as worker_manager_module


class Counting(AsyncWorker):
    def __init__(self, name: str, count: int, calls: list[str] | None = None) -> None:
        self.name = name
        self.count = count
        self.calls = calls if calls is not None else []

    def run(self) -> int:
        self.calls.append(self.name)
        return self.count

    def get_name(self) -> str:
        return self.name


class Failing(Counting):
    def run(self) -> int:
        self.calls.append(self.name)
        raise RuntimeError("boom")


def test_importable_from_module_and_package() -> None:
    assert worker_manager_module.AsyncWorker is AsyncWorker
    assert worker_manager_module.WorkerManager is WorkerManager


def test_base_class_run_and_get_name_raise() -> None:
    worker = AsyncWorker()
    with pytest.raises(NotImplementedError):
        worker.run()
    with pytest.raises(NotImplementedError):
        worker.get_name()


def test_register_chains_and_records_names() -> None:
    manager = WorkerManager()
    returned = manager.register_worker(Counting("a", 1)).register_worker(Counting("b", 2))
    assert returned is manager
    assert manager.active_workers == {"a", "b"}


@pytest.mark.parametrize("not_a_worker", [object(), "worker", None, 3])
def test_register_rejects_non_workers(not_a_worker: object) -> None:
    with pytest.raises(ValueError):
        WorkerManager().register_worker(not_a_worker)  # type: ignore[arg-type]


def test_duplicate_name_is_warned_and_not_added(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []
    manager = WorkerManager()
    manager.register_worker(Counting("a", 1, calls))
    with caplog.at_level(logging.WARNING, logger="varcade_workers.worker_manager"):
        manager.register_worker(Counting("a", 10, calls))
    assert any("a" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    assert manager.active_workers == {"a"}
    assert manager.run_workers() == 1
    assert calls == ["a"]


def test_run_workers_runs_in_order_and_sums() -> None:
    calls: list[str] = []
    manager = WorkerManager()
    for name, count in [("c", 3), ("a", 1), ("b", 5)]:
        manager.register_worker(Counting(name, count, calls))
    assert manager.run_workers() == 9
    assert calls == ["c", "a", "b"]


def test_run_workers_with_no_workers_returns_zero() -> None:
    assert WorkerManager().run_workers() == 0


def test_exception_is_logged_with_traceback_and_others_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []
    manager = WorkerManager()
    manager.register_worker(Counting("first", 2, calls))
    manager.register_worker(Failing("bad", 100, calls))
    manager.register_worker(Counting("last", 3, calls))
    with caplog.at_level(logging.ERROR, logger="varcade_workers.worker_manager"):
        assert manager.run_workers() == 5
    assert calls == ["first", "bad", "last"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "bad" in errors[0].getMessage()
    assert errors[0].exc_info is not None and isinstance(errors[0].exc_info[1], RuntimeError)
