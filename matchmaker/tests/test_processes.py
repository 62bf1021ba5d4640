"""The start commands of CONVENTIONS, really started: gunicorn for the API, the worker process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import auth, process_env
from matchmaker.games import Game, Product
from matchmaker.repository import GameRepository
from varcade_workers.events import EventProducer
from varcade_workers.testing import free_port, serving

from varcade_workers import events

SERVICE_DIR = Path(__file__).resolve().parents[1]
START_WAIT = 30.0  # seconds a process may take to answer (a loaded CI machine)


@pytest.fixture
def env(redis_base, game_server, data_redis, stream_redis, tmp_path) -> dict[str, str]:
    return {
        **os.environ,
        **process_env(redis_base, game_server, tmp_path),
        "WEB_CONCURRENCY": "2",
    }


@pytest.fixture
def gunicorn(env) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "matchmaker.app:create_app()"]
    url = f"http://127.0.0.1:{port}"
    with serving(
        command, env={**env, "PORT": str(port)}, cwd=SERVICE_DIR, ready_url=f"{url}/healthz"
    ):
        yield url


def test_gunicorn_serves_the_api(gunicorn, game_server):
    assert requests.get(f"{gunicorn}/healthz", timeout=5).json() == {"status": "ok"}
    url = f"{gunicorn}/game_lobby/exrps/create_game"
    created = requests.post(url, headers=auth("c1"), timeout=5)
    assert created.status_code == 200
    assert game_server.paths() == ["/create_game"]
    listed = requests.get(f"{gunicorn}/game_lobby/exrps/open_games", timeout=5)
    assert listed.status_code == 200 and listed.json() == []
    # Counters from every gunicorn worker end up in /metrics (multiprocess mode).
    for _ in range(6):
        requests.get(f"{gunicorn}/game_lobby/exrps/open_games", timeout=5)
    metrics = requests.get(f"{gunicorn}/metrics", timeout=5).text
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith("http_requests_total") and 'endpoint="lobby.open_games"' in line
    )
    assert float(line.rsplit(" ", 1)[1]) == 7


def test_production_refuses_to_start_with_default_secrets(env):
    prod = {**env, "VARCADE_ENV": "production", "PORT": str(free_port())}
    del prod["JWT_SECRET"]
    command = [sys.executable, "-m", "gunicorn", "matchmaker.app:create_app()"]
    with serving(command, env=prod, cwd=SERVICE_DIR) as server:
        try:
            server.process.wait(START_WAIT)
        except subprocess.TimeoutExpired:
            pytest.fail("gunicorn started in production without JWT_SECRET")
        assert server.process.returncode != 0
        assert "JWT_SECRET" in server.output()


def test_worker_refuses_production_defaults_in_one_log_line(env):
    # The worker uses GAME_SERVER_TOKEN (curation calls the game servers), not JWT_SECRET.
    prod = {**env, "VARCADE_ENV": "production", "METRICS_PORT": str(free_port())}
    prod.pop("JWT_SECRET", None)
    prod.pop("GAME_SERVER_TOKEN", None)
    done = subprocess.run(
        [sys.executable, "-m", "matchmaker.worker"],
        env=prod,
        capture_output=True,
        text=True,
        timeout=START_WAIT,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "event=bad_configuration" in output and "GAME_SERVER_TOKEN" in output
    assert "JWT_SECRET" not in output
    assert "Traceback" not in output


def test_worker_process_applies_events_and_answers_healthz(env, data_redis, stream_redis):
    port = free_port()
    product = Product("exrps", "http://gs", "gs:8085", {"num_players": 2})
    repo = GameRepository(data_redis)
    repo.create(Game.new(product, creator_id="c1", creator_name="C", token="t", now=time.time(),
                         game_id="g1"))  # fmt: skip
    EventProducer(stream_redis).publish(
        events.StateChange("exrps", "g1", new_state=events.CREATOR_JOINED)
    )
    worker_env = {**env, "METRICS_PORT": str(port)}
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "matchmaker.worker"]
    with serving(
        command, env=worker_env, cwd=SERVICE_DIR, ready_url=f"{url}/healthz", start_wait=START_WAIT
    ) as worker:
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
        deadline = time.monotonic() + START_WAIT
        while repo.get("exrps", "g1").state != events.CREATOR_JOINED:
            assert time.monotonic() < deadline, "the worker did not apply the event"
            time.sleep(0.05)
        metrics = requests.get(f"{url}/metrics", timeout=5).text
        assert "varcade_worker_events_processed" in metrics
        status = worker.stop()
        output = worker.output()
    assert status == 0, output[-3000:]
