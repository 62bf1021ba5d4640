"""The API under its real start command (`gunicorn 'stats_tracker.app:create_app()'`, the shared
settings) keeps answering while slow clients hold connections with half-sent headers, answers
gunicorn's own errors in JSON and listens on loopback by default; CORS takes exact origins only."""

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
from stats_tracker.config import Config
from varcade_workers.settings import ConfigError
from varcade_workers.testing import free_port, raw_request, redis_base_url, serving, slow_clients

SERVICE_DIR = Path(__file__).resolve().parents[1]
PARTIAL_HEAD = b"GET /leaderboards/top_ten/exrps HTTP/1.1\r\nHost: st\r\nAccept: appl"


@pytest.fixture
def api(data_redis, stream_redis, tmp_path) -> Iterator[int]:
    port = free_port()
    skip = ("GUNICORN_", "BIND_HOST", "WEB_CONCURRENCY", "CORS_ORIGINS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env |= {
        "VARCADE_ENV": "test",
        "PORT": str(port),
        "REDIS_URL": f"{redis_base_url()}/7",
        "EVENT_STREAM_URL": f"{redis_base_url()}/8",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    command = [sys.executable, "-m", "gunicorn", "stats_tracker.app:create_app()"]
    with serving(command, env=env, cwd=SERVICE_DIR, ready_url=f"http://127.0.0.1:{port}/healthz"):
        yield port


def test_the_api_answers_while_slow_clients_hold_connections(api):
    with slow_clients(api, PARTIAL_HEAD, 8):
        for attempt in range(5):
            started = time.monotonic()
            board = requests.get(f"http://127.0.0.1:{api}/leaderboards/top_ten/exrps", timeout=5)
            assert board.json() == [], attempt
            health = requests.get(f"http://127.0.0.1:{api}/healthz", timeout=5)
            assert health.status_code == 200
            assert time.monotonic() - started < 2.0


def test_a_too_long_request_line_is_a_json_414(api):
    head, body = raw_request(
        api, b"GET /stats/exrps/" + b"u" * 5000 + b" HTTP/1.1\r\nHost: st\r\n\r\n"
    )
    assert head.startswith(b"HTTP/1.1 414 ")
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["message"]


def test_the_api_listens_on_loopback_by_default(api):
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.2", api), timeout=2).close()


def test_cors_origins_are_exact_and_no_star_in_production(monkeypatch):
    for name in ("VARCADE_ENV", "CORS_ORIGINS", "STATS_PRODUCTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CORS_ORIGINS", "https://arcade.example.com, http://127.0.0.1:8090")
    assert Config.from_env().cors_origins == ("https://arcade.example.com", "http://127.0.0.1:8090")
    monkeypatch.setenv("CORS_ORIGINS", "https://*.example.com")
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        Config.from_env()
    monkeypatch.setenv("CORS_ORIGINS", "*")
    assert Config.from_env().cors_origins == ("*",)  # development: any origin
    monkeypatch.setenv("VARCADE_ENV", "production")
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        Config.from_env()
