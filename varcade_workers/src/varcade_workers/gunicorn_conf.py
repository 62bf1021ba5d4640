"""Shared gunicorn settings for the HTTP services; a service's ``gunicorn.conf.py`` is::

    import os

    os.environ.setdefault("PORT", "5050")          # the service's default port
    from varcade_workers.gunicorn_conf import *   # noqa: E402,F403

Settings (environment): bind ``0.0.0.0:$PORT``; ``WEB_CONCURRENCY`` workers (default 2);
``GUNICORN_TIMEOUT`` seconds (default 30); access log on stdout, one key=value line per request.

Metrics across workers: each gunicorn worker is a process with its own counters, so a plain
``/metrics`` would report whichever worker answered. prometheus_client's multiprocess mode keeps
every worker's values in files under ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds them up
(:func:`varcade_workers.web.metrics_payload`). This module, loaded by the gunicorn master before any
worker forks (and before the app is imported), defaults that variable to a fresh temporary
directory, or wipes the one given (stale files from a previous run would add old counts). It must be
set before prometheus_client creates any metric value: the library chooses its in-memory or
file-backed values when it is imported, from this variable, so it is set here, first, and
prometheus_client is only imported lazily in the hooks. ``child_exit`` marks a dead worker's files
so its gauges disappear.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from varcade_workers.settings import env_int

__all__ = [
    "access_log_format",
    "accesslog",
    "bind",
    "child_exit",
    "control_socket_disable",
    "errorlog",
    "graceful_timeout",
    "on_exit",
    "timeout",
    "workers",
]


def _multiproc_dir() -> tuple[str, bool]:
    """The metrics directory, emptied, and whether we created it (then we remove it at exit)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        path = tempfile.mkdtemp(prefix="varcade-prometheus-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        return path, True
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))
    return path, False


_PROMETHEUS_DIR, _CREATED_DIR = _multiproc_dir()

bind = [f"0.0.0.0:{env_int('PORT', 8000, minimum=1)}"]
workers = env_int("WEB_CONCURRENCY", 2, minimum=1)
timeout = env_int("GUNICORN_TIMEOUT", 30, minimum=1)
graceful_timeout = env_int("GUNICORN_GRACEFUL_TIMEOUT", 20, minimum=1)
# gunicorn 25+ opens a control socket at one per-user path ($HOME/.gunicorn/gunicorn.ctl), so every
# API on a machine (both services, tests, `make run`) would overwrite the others'. Nothing uses it.
control_socket_disable = True
accesslog = "-"
errorlog = "-"
access_log_format = (
    'remote=%(h)s method=%(m)s path="%(U)s" query="%(q)s" status=%(s)s bytes=%(B)s '
    'duration_ms=%(M)s agent="%(a)s"'
)


def child_exit(server: Any, worker: Any) -> None:
    """A worker ended: let prometheus_client drop its live gauges (counters stay summed)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """The master stops: remove the metrics directory if it was ours."""
    if _CREATED_DIR:
        shutil.rmtree(_PROMETHEUS_DIR, ignore_errors=True)
