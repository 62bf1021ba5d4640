"""A real worker process that SIGKILLs itself at a fixed point (started by test_crash_order.py).

    python tests/chaos/crashing_worker.py matchmaker|stats --batch 3 --handled 250

It builds the service's workers with the service's own builder (`matchmaker.worker` or
`stats_tracker.worker`, from the environment, default settings) and runs them with
`run_worker_process`, as `python -m <service>.worker` does, except that the stream worker's
`handle_batch` is wrapped: batch number `--batch` gets only its first `--handled` entries handed to
the real handler (all of them with `--handled 0`), and once that returns the process SIGKILLs
itself, before the worker can acknowledge anything. So the first entries of that batch are applied
and unacknowledged, the rest delivered and never handled: what a crash leaves behind.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from varcade_workers.process import run_worker_process  # noqa: E402
from varcade_workers.worker_manager import AsyncWorker  # noqa: E402

import tools.chaos  # noqa: E402,F401  (the services' folders on sys.path)
from varcade_workers import EventStreamWorker  # noqa: E402

Batch = list[tuple[str, dict[str, str]]]


def crash_after(worker: EventStreamWorker, batch_number: int, handled: int) -> None:
    """Wrap the worker's handler: SIGKILL after handling part of batch `batch_number`."""
    real: Callable[[Batch], dict[str, Exception]] = worker.handle_batch
    seen = 0

    def handle_batch(batch: Batch) -> dict[str, Exception]:
        nonlocal seen
        seen += 1
        if seen == batch_number:
            real(batch[:handled] if handled else batch)
            sys.stderr.write(f"crashing_worker: SIGKILL after batch {seen} ({len(batch)})\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return real(batch)

    worker.handle_batch = handle_batch  # type: ignore[method-assign]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("service", choices=("matchmaker", "stats"))
    parser.add_argument("--batch", type=int, default=3)
    parser.add_argument("--handled", type=int, default=0)
    args = parser.parse_args(argv)
    if args.service == "matchmaker":
        from matchmaker.worker import build_workers
    else:
        from stats_tracker.worker import build_workers  # type: ignore[no-redef]

    def build() -> list[AsyncWorker]:
        workers = list(build_workers())
        streams = [w for w in workers if isinstance(w, EventStreamWorker)]
        for worker in streams:
            crash_after(worker, args.batch, args.handled)
        return workers

    run_worker_process(build, service=f"{args.service}-crashing", metrics_port=0)


if __name__ == "__main__":
    main()
