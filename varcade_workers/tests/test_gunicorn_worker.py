"""The shared gunicorn settings, really started: slow clients never hold a thread, late heads get a
408, gunicorn's own errors are JSON, keep-alive and bodies still work, BIND_HOST is honoured."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from varcade_workers.gunicorn_worker import MAX_HEAD_BYTES, json_error
from varcade_workers.testing import free_port, serving, slow_clients

APP = """
import os
from flask import Flask, jsonify, request


def create_app():
    app = Flask("slowtest")

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.post("/echo")
    def echo():
        return jsonify(request.get_json())

    return app
"""

CONF = """
import os

os.environ.setdefault("PORT", "1")
from varcade_workers.gunicorn_conf import *  # noqa: E402,F403
"""

PARTIAL_HEAD = b"GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Slow: "
SLOW_CLIENTS = 16  # twice the threads of two workers with four threads each


@contextmanager
def gunicorn(tmp_path: Path, **env: str) -> Iterator[int]:
    """The shared settings serving APP; yields the port."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "slowapp.py").write_text(textwrap.dedent(APP))
    (tmp_path / "gunicorn.conf.py").write_text(textwrap.dedent(CONF))
    port = free_port()
    settings = {"PORT": str(port), "WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "4", **env}
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "BIND_"))}
    environ["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prom")
    with serving(
        [sys.executable, "-m", "gunicorn", "slowapp:create_app()"],
        env={**environ, **settings},
        cwd=tmp_path,
        ready_url=f"http://127.0.0.1:{port}/healthz",
        start_wait=60,
        stop_wait=30,
    ):
        yield port


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP answer from the socket: status, headers (lowercase names), body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(":") for line in lines[1:])
    )
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def exchange(port: int, request: bytes, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        return read_answer(sock)


def test_healthz_answers_while_slow_clients_hold_partial_headers(tmp_path: Path) -> None:
    """Plain gthread gave each of these a thread that then waited for the rest of the head with
    no time limit: with eight of them, /healthz timed out."""
    with gunicorn(tmp_path) as port, slow_clients(port, PARTIAL_HEAD, SLOW_CLIENTS) as clients:
        for round_ in range(10):
            for client in clients:  # a byte now and then: still "sending"
                client.sendall(b"x")
            started = time.monotonic()
            answer = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            elapsed = time.monotonic() - started
            assert answer.json() == {"status": "ok"}, round_
            assert elapsed < 2.0, f"/healthz took {elapsed:.2f} s with slow clients"
        # The slow clients are still connected and can still finish their requests.
        for client in clients:
            client.sendall(b"1\r\n\r\n")
            status, _, body = read_answer(client)
            assert status == 200 and json.loads(body) == {"status": "ok"}


def test_a_late_head_gets_a_json_408_and_the_connection_closes(tmp_path: Path) -> None:
    with gunicorn(tmp_path, GUNICORN_REQUEST_READ_TIMEOUT="1") as port:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(PARTIAL_HEAD)
            status, headers, body = read_answer(sock)
            assert sock.recv(1) == b""  # closed
        assert status == 408
        assert headers["content-type"] == "application/json"
        assert "did not arrive within 1 s" in json.loads(body)["message"]
        assert 0.9 < time.monotonic() - started < 5
        # A connection that never sends anything is closed without an answer.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
            assert idle.recv(100) == b""


def test_gunicorns_own_errors_are_json(tmp_path: Path) -> None:
    with gunicorn(tmp_path) as port:
        cases = {
            414: b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            431: b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
            400: b"NONSENSE\r\n\r\n",
        }
        for expected, request in cases.items():
            status, headers, body = exchange(port, request)
            assert status == expected, body
            assert headers["content-type"] == "application/json"
            assert headers["connection"] == "close"
            assert json.loads(body)["message"]
        too_many = b"".join(b"X-H%d: v\r\n" % n for n in range(120))
        status, _, body = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n" + too_many + b"\r\n")
        assert status == 431 and json.loads(body)["message"]
        # Past MAX_HEAD_BYTES the worker stops collecting and answers 431 itself.
        fields = b"".join(b"X-F%d: %s\r\n" % (n, b"c" * 4000) for n in range(20))
        assert len(fields) > MAX_HEAD_BYTES
        status, headers, body = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n" + fields)
        assert status == 431 and headers["content-type"] == "application/json"
        assert str(MAX_HEAD_BYTES) in json.loads(body)["message"]
        # The app's own 404 is untouched (JSON or not is the app's business).
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok


def test_keep_alive_pipelining_and_bodies_still_work(tmp_path: Path) -> None:
    with gunicorn(tmp_path) as port:
        get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(get)
            assert read_answer(sock)[0] == 200
            # The next request on the kept-alive connection, its head in two parts.
            sock.sendall(get[:20])
            time.sleep(0.3)
            sock.sendall(get[20:])
            assert read_answer(sock)[0] == 200
            # Two requests in one packet (pipelined), then a body sent after its head.
            sock.sendall(get + get)
            assert read_answer(sock)[0] == 200
            assert read_answer(sock)[0] == 200
            body = b'{"a": [1, 2, 3]}'
            sock.sendall(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body)
            )
            time.sleep(0.3)
            sock.sendall(body)
            status, _, answer = read_answer(sock)
            assert status == 200 and json.loads(answer) == {"a": [1, 2, 3]}
        session = requests.Session()
        for _ in range(5):
            assert session.post(f"http://127.0.0.1:{port}/echo", json=[1], timeout=5).json() == [1]


def test_bind_host_is_loopback_unless_set(tmp_path: Path) -> None:
    with (
        gunicorn(tmp_path / "default", VARCADE_ENV="development") as port,
        pytest.raises(OSError),
    ):
        socket.create_connection(("127.0.0.2", port), timeout=2).close()
    with gunicorn(tmp_path / "open", VARCADE_ENV="development", BIND_HOST="0.0.0.0") as port:
        socket.create_connection(("127.0.0.2", port), timeout=2).close()


def test_json_error_is_a_whole_http_answer() -> None:
    answer = json_error(408, "Request Timeout", "x" * 1000)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"Content-Length: %d" % len(body) in head
    assert len(json.loads(body)["message"]) == 300


def test_a_bad_read_timeout_stops_gunicorn_naming_it(tmp_path: Path) -> None:
    (tmp_path / "slowapp.py").write_text(textwrap.dedent(APP))
    (tmp_path / "gunicorn.conf.py").write_text(textwrap.dedent(CONF))
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "slowapp:create_app()"],
        cwd=tmp_path,
        env={**os.environ, "PORT": str(free_port()), "GUNICORN_REQUEST_READ_TIMEOUT": "soon"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "GUNICORN_REQUEST_READ_TIMEOUT" in done.stdout + done.stderr
