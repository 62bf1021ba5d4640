"""The arcade's processes under chaos: start, signal, kill and restart them one by one.

The supervisor of `make run` (tools/run/supervisor.py) stops everything when one process dies;
here a process is killed on purpose and started again at once, as a process manager (systemd,
Kubernetes, Docker's restart policy) would. The processes are the `ProcessSpec`s of
`tools.run.stack.stack_specs`, started with the supervisor's own `spawn` (own session, dies with
us); each one's output goes to `<log_dir>/<name>.log`, appended across restarts.

Start and restart processes from the main thread only: `spawn` asks Linux to SIGTERM the child
when its parent dies (PR_SET_PDEATHSIG), and Linux means the parent *thread*, so a child started
by a short-lived thread is terminated when that thread ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from tools.run.supervisor import ProcessSpec, http_ok, spawn, stop_process


class FleetError(RuntimeError):
    """A process did not become healthy, or exited when it should not have."""


def replica(spec: ProcessSpec, index: int, metrics_port: int) -> ProcessSpec:
    """A second copy of a worker's spec: its own name and metrics port, the same everything else."""
    env = {**spec.env, "METRICS_PORT": str(metrics_port)}
    health = (f"http://127.0.0.1:{metrics_port}/healthz",)
    return dataclasses.replace(spec, name=f"{spec.name}-{index}", env=env, health_urls=health)


@dataclasses.dataclass
class _Member:
    spec: ProcessSpec
    log: IO[bytes]
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0


class Fleet:
    """Named processes, each started, killed and restarted on request."""

    def __init__(self, specs: Iterable[ProcessSpec], log_dir: Path) -> None:
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self._members: dict[str, _Member] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: ProcessSpec) -> None:
        log = (self.log_dir / f"{spec.name}.log").open("ab")
        self._members[spec.name] = _Member(spec, log)

    @property
    def names(self) -> list[str]:
        return list(self._members)

    def spec(self, name: str) -> ProcessSpec:
        return self._members[name].spec

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, name: str) -> int:
        """Start `name` (it must not be running); returns its pid."""
        member = self._members[name]
        if threading.current_thread() is not threading.main_thread():
            raise FleetError(
                "start processes from the main thread (PR_SET_PDEATHSIG is per thread)"
            )
        if member.proc is not None and member.proc.poll() is None:
            raise FleetError(f"{name} is already running (pid {member.proc.pid})")
        member.starts += 1
        stamp = time.strftime("%H:%M:%S")
        member.log.write(f"--- chaos: start #{member.starts} of {name} at {stamp}\n".encode())
        member.log.flush()
        member.proc = spawn(
            member.spec.argv,
            cwd=member.spec.cwd,
            env=member.spec.env,
            stdin=subprocess.DEVNULL,
            stdout=member.log,
            stderr=subprocess.STDOUT,
        )
        return member.proc.pid

    def start_all(self, names: Iterable[str] | None = None) -> None:
        for name in self.names if names is None else names:
            self.start(name)

    def pid(self, name: str) -> int | None:
        proc = self._members[name].proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def alive(self, name: str) -> bool:
        return self.pid(name) is not None

    def send(self, name: str, sig: signal.Signals) -> int:
        """Send `sig` to the process (not its group); returns the pid signalled."""
        proc = self._members[name].proc
        if proc is None or proc.poll() is not None:
            raise FleetError(f"{name} is not running")
        os.kill(proc.pid, sig)
        return proc.pid

    def kill(self, name: str) -> int:
        """SIGKILL the process and reap it; returns its pid."""
        proc = self._members[name].proc
        if proc is None or proc.poll() is not None:
            raise FleetError(f"{name} is not running")
        pid = proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        proc.wait(10)
        member = self._members[name]
        member.log.write(f"--- chaos: SIGKILLed {name} pid {pid}\n".encode())
        member.log.flush()
        return pid

    def restart(self, name: str) -> int:
        """Start again at once, as a supervisor would after a crash; returns the new pid."""
        return self.start(name)

    def healthy(self, name: str) -> bool:
        return self.alive(name) and all(http_ok(u) for u in self._members[name].spec.health_urls)

    def wait_healthy(self, names: Iterable[str] | None = None, timeout: float = 60.0) -> float:
        """Wait until each process answers its health URLs; returns the seconds waited."""
        wanted = list(self.names if names is None else names)
        started = time.monotonic()
        while True:
            for name in wanted:
                proc = self._members[name].proc
                if proc is None or proc.poll() is not None:
                    code = None if proc is None else proc.returncode
                    raise FleetError(
                        f"{name} is not running (exit {code}); see {self.log_path(name)}"
                    )
            pending = [n for n in wanted if not self.healthy(n)]
            if not pending:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise FleetError(f"not healthy after {timeout:.0f}s: {', '.join(pending)}")
            time.sleep(0.1)

    def exited(self) -> dict[str, int]:
        """Processes that were started and are no longer running, with their exit codes."""
        out: dict[str, int] = {}
        for name, member in self._members.items():
            if member.proc is not None and member.proc.poll() is not None:
                out[name] = member.proc.returncode
        return out

    def check_running(self) -> None:
        """FleetError naming any process that exited on its own."""
        dead = self.exited()
        if dead:
            logs = ", ".join(f"{n} (exit {c}, log {self.log_path(n)})" for n, c in dead.items())
            raise FleetError(f"exited unexpectedly: {logs}")

    def stop(self, name: str, grace_seconds: float = 10.0) -> None:
        member = self._members[name]
        if member.proc is not None:
            stop_process(member.proc, grace_seconds)
            member.proc = None

    def stop_all(self) -> None:
        """SIGTERM (then SIGKILL) every process, last added first, and close the logs."""
        for name in reversed(self.names):
            with contextlib.suppress(Exception):
                self.stop(name)
        for member in self._members.values():
            with contextlib.suppress(Exception):
                member.log.close()
