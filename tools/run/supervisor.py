"""A small process supervisor: start a set of commands, prefix their logs, stop them all together.

Why not honcho: the same code must run the arcade in the foreground (`make run`) and in the
background of a test (start, wait until healthy, play, stop, even on failure). honcho's Manager
owns the signal handling and blocks in its loop, and it sets `PORT` for every process, which our
services read as their own port.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from varcade_workers.process import SignalStop

_COLORS = ("36", "33", "32", "35", "34", "91", "92", "93")
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcessSpec:
    """One supervised process: command, folder, environment, and the URLs that say it is up."""

    name: str
    argv: Sequence[str]
    cwd: Path
    env: dict[str, str]
    health_urls: Sequence[str] = field(default_factory=tuple)

    @property
    def command_line(self) -> str:
        """The command as a person would type it (for logs and the README)."""
        parts = [Path(self.argv[0]).name, *self.argv[1:]]
        return " ".join(f"'{p}'" if any(c in p for c in " ()'\"") else p for p in parts)


class ProcessFailed(RuntimeError):
    """A supervised process exited on its own, or did not become healthy in time."""


def _die_with_parent() -> None:
    """In the child before exec: if the supervisor dies (even SIGKILLed), the child gets SIGTERM."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def spawn(
    argv: Sequence[str], *, cwd: Path | None, env: dict[str, str], **kwargs: object
) -> subprocess.Popen:
    """Start a child in its own session (so a terminal Ctrl-C reaches only us) that dies with us."""
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    return subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=env,
        start_new_session=True,
        preexec_fn=preexec,
        **kwargs,
    )


def stop_process(proc: subprocess.Popen, grace_seconds: float) -> None:
    """SIGTERM the child's whole process group, then SIGKILL what is left after the grace period."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace_seconds)
    # The group may outlive its leader (e.g. gunicorn workers): kill stragglers either way.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """True when `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False


class Supervisor:
    """Runs ProcessSpecs together; one failing or Ctrl-C stops all of them."""

    def __init__(
        self,
        specs: Iterable[ProcessSpec],
        *,
        output: TextIO | None = None,
        color: bool | None = None,
        grace_seconds: float = 10.0,
    ) -> None:
        self.specs = list(specs)
        self.output = output if output is not None else sys.stdout
        self.color = self.output.isatty() if color is None else color
        self.grace_seconds = grace_seconds
        self.procs: dict[str, subprocess.Popen] = {}
        self._pumps: list[threading.Thread] = []
        self._write_lock = threading.Lock()
        self._width = max((len(s.name) for s in self.specs), default=0)
        self._stopping = SignalStop()  # set from a signal handler: no lock (see SignalStop)

    # -- logs
    def log(self, name: str, line: str) -> None:
        """Write one line prefixed by the process name (coloured on a terminal)."""
        prefix = f"{time.strftime('%H:%M:%S')} {name:<{self._width}} | "
        if self.color:
            names = [s.name for s in self.specs]
            index = names.index(name) if name in names else -1
            code = _COLORS[index % len(_COLORS)] if index >= 0 else "1"
            prefix = f"\033[{code}m{prefix}\033[0m"
        with self._write_lock:
            self.output.write(prefix + line.rstrip("\n") + "\n")
            self.output.flush()

    def _pump(self, name: str, stream: TextIO) -> None:
        for line in stream:
            self.log(name, line)
        stream.close()

    # -- lifecycle
    def start(self) -> None:
        """Start every process in order; their output (stdout and stderr) goes to `output`."""
        for spec in self.specs:
            self.log("runner", f"starting {spec.name}: {spec.command_line} (in {spec.cwd})")
            proc = spawn(
                spec.argv,
                cwd=spec.cwd,
                env=spec.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                errors="replace",
            )
            self.procs[spec.name] = proc
            assert proc.stdout is not None
            pump = threading.Thread(target=self._pump, args=(spec.name, proc.stdout), daemon=True)
            pump.start()
            self._pumps.append(pump)

    def exited(self) -> dict[str, int]:
        """The processes that have exited, with their return codes."""
        return {name: p.returncode for name, p in self.procs.items() if p.poll() is not None}

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Block until each health URL answers 200; ProcessFailed if one dies or time is up."""
        pending = [(s.name, url) for s in self.specs for url in s.health_urls]
        deadline = time.monotonic() + timeout
        while pending:
            if self._stopping.is_set():
                raise ProcessFailed("stop requested")
            dead = self.exited()
            if dead:
                raise ProcessFailed(f"exited before becoming healthy: {dead}")
            pending = [(name, url) for name, url in pending if not http_ok(url)]
            if not pending:
                break
            if time.monotonic() > deadline:
                raise ProcessFailed(f"not healthy after {timeout:.0f}s: {pending}")
            time.sleep(0.2)

    def wait(self) -> str | None:
        """Block until a process exits (its name is returned) or request_stop() is called (None)."""
        while not self._stopping.is_set():
            dead = self.exited()
            if dead:
                return next(iter(dead))
            self._stopping.wait(0.3)
        return None

    def request_stop(self) -> None:
        """Make wait() return (safe to call from a signal handler: SignalStop takes no lock)."""
        self._stopping.set()

    def stop(self) -> None:
        """Stop every process, last started first, and wait for their output to drain."""
        self._stopping.set()
        for spec in reversed(self.specs):
            proc = self.procs.get(spec.name)
            if proc is None:
                continue
            running = proc.poll() is None
            stop_process(proc, self.grace_seconds)
            if running:
                self.log("runner", f"stopped {spec.name} (exit {proc.returncode})")
        for pump in self._pumps:
            pump.join(timeout=5)

    def __enter__(self) -> Supervisor:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
