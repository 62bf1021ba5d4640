"""Helpers shared by the stream worker, process and dead-letter tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis
from varcade_workers.testing import redis_base_url

from varcade_workers import DeadLetter, EventStreamWorker

CHILD = Path(__file__).with_name("worker_child.py")


def assert_one_line_refusal(code: str, args: list[str], env: dict[str, str], name: str) -> None:
    """`python -c code *args` under `env` exits 2 with one `event=bad_configuration` line naming
    the setting `name`, and no traceback."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "event=bad_configuration" in output and name in output
    assert "Traceback" not in output


def wait_until(
    condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition"
) -> None:
    """Poll until `condition()` holds; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Recorder(EventStreamWorker):
    """Records what it handled; fails for entries with `fail=1`, dead-letters `dead=1`."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.handled: list[tuple[str, dict[str, str]]] = []
        self.attempts: dict[str, int] = {}

    def handle_event(self, event_id: str, fields: dict[str, str]) -> None:
        self.attempts[event_id] = self.attempts.get(event_id, 0) + 1
        if fields.get("dead") == "1":
            raise DeadLetter("cannot be handled")
        if fields.get("fail") == "1":
            raise RuntimeError("handler failed")
        self.handled.append((event_id, fields))


def add_events(client: redis.Redis, stream: str, count: int, start: int = 0) -> list[str]:
    pipe = client.pipeline(transaction=False)
    for n in range(start, start + count):
        pipe.xadd(stream, {"product_id": "exrps", "game_id": f"g{n}", "n": str(n)})
    return [str(i) for i in pipe.execute()]


def drain(worker: EventStreamWorker, expected: int, timeout: float = 20.0) -> None:
    """Run the worker until `expected` events in total were handled by it."""
    stats = worker.stats
    wait_until(lambda: worker.run() >= 0 and stats.processed >= expected, timeout, "drain")


class FakeClock:
    """A clock the test moves by hand (``clock.now += seconds``)."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@contextlib.contextmanager
def running_child(
    stream: str,
    group: str,
    *,
    claim_idle_ms: int = 200,
    batch_size: int = 20,
    delay: float = 0.0,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process (worker_child.py) reading `stream` in db 3 and recording into db 4; killed
    at exit if the test has not stopped it (see `stop_child`)."""
    base = redis_base_url()
    env = {**os.environ, "METRICS_PORT": "0", "LOG_LEVEL": "INFO", **(env or {})}
    child = subprocess.Popen(
        [
            sys.executable,
            str(CHILD),
            f"{base}/3",
            f"{base}/4",
            stream,
            group,
            str(claim_idle_ms),
            str(batch_size),
            str(delay),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()


def stop_child(child: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> bytes:
    """Send `sig` and wait for the child to exit; returns its stderr."""
    child.send_signal(sig)
    _, stderr = child.communicate(timeout=30)
    return stderr
