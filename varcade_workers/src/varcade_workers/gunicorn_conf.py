"""Shared gunicorn settings for the HTTP services; a service's ``gunicorn.conf.py`` is::

    import os

    os.environ.setdefault("PORT", "5050")          # the service's default port
    from varcade_workers.gunicorn_conf import *   # noqa: E402,F403

Settings (environment): bind ``$BIND_HOST:$PORT`` (``BIND_HOST``: 127.0.0.1 in development and
test, 0.0.0.0 in production, see :func:`varcade_workers.settings.bind_host`); ``WEB_CONCURRENCY``
worker processes (default 2), each a threaded worker with ``GUNICORN_THREADS`` threads (default 4;
:class:`varcade_workers.gunicorn_worker.ThreadWorker`: gthread that gives a request a thread only
once its line and headers have arrived, within ``GUNICORN_REQUEST_READ_TIMEOUT`` seconds, default
10, and answers its own errors in JSON); kept-alive connections wait ``GUNICORN_KEEPALIVE`` seconds
(default 5; 0: no keep-alive) for their next request in the worker's poller, not in a thread;
``GUNICORN_TIMEOUT`` seconds (default 30) before a silent worker is restarted; access log on stdout,
one key=value line per request.

Threads share the app, so what a request touches must be thread-safe: the services' redis-py
clients are (a connection pool; a pipeline is made per use), request state lives in Flask's ``g``.

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

from varcade_workers.gunicorn_worker import request_read_timeout
from varcade_workers.settings import bind_host, env_int

__all__ = [
    "access_log_format",
    "accesslog",
    "bind",
    "child_exit",
    "control_socket_disable",
    "errorlog",
    "graceful_timeout",
    "keepalive",
    "on_exit",
    "threads",
    "timeout",
    "worker_class",
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


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


bind = [_address(bind_host("BIND_HOST"), env_int("PORT", 8000, minimum=1))]
workers = env_int("WEB_CONCURRENCY", 2, minimum=1)
# gthread, but a request gets a thread only once its head has arrived (slow clients wait in the
# worker's poller, not in a thread), and gunicorn's own 400/414/431 answers are JSON.
worker_class = "varcade_workers.gunicorn_worker.ThreadWorker"
threads = env_int("GUNICORN_THREADS", 4, minimum=1)
keepalive = env_int("GUNICORN_KEEPALIVE", 5, minimum=0)
request_read_timeout()  # read here too, so that a bad value stops the master, not every worker
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
