"""The worker process's /metrics, /healthz and /livez listen on METRICS_HOST: loopback unless told
otherwise outside production, so a developer's worker is not reachable from the network."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from stream_helpers import assert_one_line_refusal
from varcade_workers.process import WorkerProcess
from varcade_workers.testing import Serving, free_port, serving

from varcade_workers import AsyncWorker

CHILD = """
import sys
from varcade_workers import AsyncWorker
from varcade_workers.process import run_worker_process


class Idle(AsyncWorker):
    def run(self):
        return 0

    def get_name(self):
        return "idle"


run_worker_process([Idle()], service="hosttest", metrics_port=int(sys.argv[1]))
"""


class Idle(AsyncWorker):
    def run(self) -> int:
        return 0

    def get_name(self) -> str:
        return "idle"


def connects(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@contextmanager
def child(port: int, **env: str) -> Iterator[Serving]:
    """The worker process, ready when its /livez answers on 127.0.0.1 (every test binds there or
    on all interfaces); stopped with SIGTERM, then SIGKILL (its output kept in a log file, never a
    pipe nobody drains)."""
    base = {k: v for k, v in os.environ.items() if k not in ("VARCADE_ENV", "METRICS_HOST")}
    with serving(
        [sys.executable, "-c", CHILD, str(port)],
        env={**base, **env},
        ready_url=f"http://127.0.0.1:{port}/livez",
    ) as process:
        yield process


def test_worker_process_listens_on_loopback_by_default() -> None:
    process = WorkerProcess([Idle()], service="hosttest")
    try:
        assert process._http.server_address[0] == "127.0.0.1"
    finally:
        process.close()


@pytest.mark.parametrize("environment", ["development", "test"])
def test_run_worker_process_is_loopback_only_outside_production(environment: str) -> None:
    """127.0.0.2 is this machine too, but not the address 127.0.0.1 listens on: a server bound
    to all interfaces answers there, a loopback-only one refuses."""
    port = free_port()
    with child(port, VARCADE_ENV=environment):
        assert connects("127.0.0.1", port)
        assert not connects("127.0.0.2", port)


def test_metrics_host_opens_the_worker_to_other_interfaces() -> None:
    port = free_port()
    with child(port, VARCADE_ENV="development", METRICS_HOST="0.0.0.0"):
        assert connects("127.0.0.2", port)


def test_production_listens_on_every_interface_unless_told() -> None:
    port = free_port()
    with child(port, VARCADE_ENV="production"):
        assert connects("127.0.0.2", port)
    port = free_port()
    with child(port, VARCADE_ENV="production", METRICS_HOST="127.0.0.1"):
        assert not connects("127.0.0.2", port)


def test_an_ipv6_metrics_host() -> None:
    if not socket.has_ipv6 or not connects_ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    process = WorkerProcess([Idle()], service="hosttest", metrics_host="::1")
    try:
        process.start_http()
        assert connects("::1", process.port)
    finally:
        process.close()


def connects_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_a_bad_metrics_host_is_one_log_line_and_exit_2() -> None:
    env = {**os.environ, "METRICS_HOST": "0.0.0.0:5051", "LOG_LEVEL": "INFO"}
    assert_one_line_refusal(CHILD, ["0"], env, "METRICS_HOST")
