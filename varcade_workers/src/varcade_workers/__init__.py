"""Shared worker library of the Varcade Games arcade."""

from varcade_workers.__about__ import __version__
from varcade_workers.errors import DeadLetter, Defer
from varcade_workers.exactly_once import ExactlyOnce
from varcade_workers.periodic import PeriodicWorker
from varcade_workers.stream_worker import EventStreamWorker
from varcade_workers.worker_manager import AsyncWorker, WorkerManager

__all__ = [
    "AsyncWorker",
    "DeadLetter",
    "Defer",
    "EventStreamWorker",
    "ExactlyOnce",
    "PeriodicWorker",
    "WorkerManager",
    "__version__",
]
