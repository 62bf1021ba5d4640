"""The API under its real start command (`gunicorn 'matchmaker.app:create_app()'`, the shared
settings): slow clients holding connections with half-sent headers do not stop /healthz or the
lobby, gunicorn's own 414/431 answers are JSON, and it listens on loopback by default."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import auth, process_env
from varcade_workers.testing import free_port, raw_request, serving, slow_clients

SERVICE_DIR = Path(__file__).resolve().parents[1]
SLOW_CLIENTS = 8
PARTIAL_HEAD = b"POST /game_lobby/exrps/create_game HTTP/1.1\r\nHost: mm\r\nAuthorization: Bea"


@pytest.fixture
def api(redis_base, game_server, data_redis, stream_redis, tmp_path) -> Iterator[int]:
    """gunicorn with the service's gunicorn.conf.py: 2 workers of 4 threads (the defaults)."""
    port = free_port()
    skip = ("GUNICORN_", "BIND_HOST", "WEB_CONCURRENCY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env |= {**process_env(redis_base, game_server, tmp_path), "PORT": str(port)}
    command = [sys.executable, "-m", "gunicorn", "matchmaker.app:create_app()"]
    with serving(command, env=env, cwd=SERVICE_DIR, ready_url=f"http://127.0.0.1:{port}/healthz"):
        yield port


def test_healthz_and_the_lobby_answer_while_slow_clients_hold_connections(api, game_server):
    """With sync workers, two connections sending partial headers made /healthz time out; plain
    gthread (4 threads x 2 workers) still gave each such connection a thread until it finished."""
    with slow_clients(api, PARTIAL_HEAD, SLOW_CLIENTS) as clients:
        for attempt in range(10):
            for client in clients:
                client.sendall(b"r")  # still sending, a byte at a time
            started = time.monotonic()
            health = requests.get(f"http://127.0.0.1:{api}/healthz", timeout=5)
            assert health.json() == {"status": "ok"}, attempt
            assert time.monotonic() - started < 2.0, f"/healthz slow with {SLOW_CLIENTS} clients"
        url = f"http://127.0.0.1:{api}/game_lobby/exrps/create_game"
        assert requests.post(url, headers=auth("host"), timeout=5).status_code == 200
        listed = requests.get(f"http://127.0.0.1:{api}/game_lobby/exrps/open_games", timeout=5)
        assert listed.status_code == 200


def test_gunicorns_own_answers_are_json(api):
    for status, request in (
        (414, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: mm\r\n\r\n"),
        (431, b"GET /healthz HTTP/1.1\r\nHost: mm\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"),
    ):
        head, body = raw_request(api, request)
        assert head.startswith(b"HTTP/1.1 %d " % status), head
        assert b"Content-Type: application/json" in head
        assert json.loads(body)["message"]


def test_the_api_listens_on_loopback_by_default(api):
    """127.0.0.2 is this machine too, but not the address BIND_HOST's default names."""
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.2", api), timeout=2).close()
