"""Fixtures: a real Redis (databases 5 and 6 only), a fake game server over real HTTP, the app."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from matchmaker.auth import issue_player_token
from matchmaker.config import Config
from matchmaker.games import Product
from matchmaker.services import Services, build_services
from varcade_workers.testing import free_port, redis_base_url, redis_db_fixture

DATA_DB = 5
STREAM_DB = 6
JWT_SECRET = "matchmaker-test-jwt-secret-of-a-decent-length"
GAME_SERVER_TOKEN = "matchmaker-test-game-server-token"
CLIENT_TIMEOUT = 0.3  # the game-server client's timeout in tests: a "slow" server exceeds it


class Clock:
    """Wall-clock stand-in the tests move by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeGameServer:
    """A game server's control API, just enough of it: real HTTP on a free port, with recorded calls
    and per-path failures or delays switched on by the test."""

    def __init__(self, token: str = GAME_SERVER_TOKEN) -> None:
        self.token = token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.games: dict[str, dict[str, Any]] = {}
        self.fail: dict[str, tuple[int, Any]] = {}  # path -> (status, JSON body)
        self.delay: dict[str, float] = {}  # path -> seconds before answering
        self._release = threading.Event()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> FakeGameServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def paths(self) -> list[str]:
        return [path for path, _ in self.calls]

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            self.calls.append((path, body))
            if path in self.fail:
                return self.fail[path]
            game_id, user_id = body.get("gameId"), body.get("userId")
            if path == "/create_game":
                if game_id in self.games:
                    return 400, {"message": "Game already exists."}
                token, seat = uuid.uuid4().hex, uuid.uuid4().hex
                seats = {user_id: seat}
                self.games[game_id] = {"token": token, "players": [user_id], "seats": seats}
                return 200, {"gameToken": token, "seatToken": seat}
            game = self.games.get(game_id)
            if path == "/join_game":
                if game is None or len(game["players"]) >= 2:
                    return 400, {"message": "Cannot join this game."}
                game["players"].append(user_id)
                seat = game.setdefault("seats", {})[user_id] = uuid.uuid4().hex
                return 200, {"gameToken": game["token"], "seatToken": seat}
            if path == "/remove_game":
                return 200, None if self.games.pop(game_id, None) is None else {"removed": True}
            if path == "/remove_player":
                if game is None:
                    return 400, {"message": "Unknown game."}
                if user_id == game["players"][0]:
                    return 400, {"message": "Cannot remove the host."}
                if user_id not in game["players"]:
                    return 404, {"message": "Player not in game."}
                game["players"].remove(user_id)
                return 200, {"playerRemoved": True, "connectionRemoved": False}
            return 404, {"message": "no such path"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._send(401, {"message": "Unauthorized"})
                delay = fake.delay.get(self.path)
                if delay:
                    fake._release.wait(delay)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    return self._send(400, {"message": "Malformed JSON"})
                self._send(*fake.answer(self.path, body))

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture(scope="session")
def redis_base() -> str:
    return redis_base_url()


data_redis = redis_db_fixture(DATA_DB)
stream_redis = redis_db_fixture(STREAM_DB)


@pytest.fixture
def game_server() -> Iterator[FakeGameServer]:
    server = FakeGameServer().start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def config(redis_base: str, game_server: FakeGameServer) -> Config:
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    products = {
        "exrps": Product("exrps", game_server.url, "127.0.0.1:8085", {"num_players": 2}),
        "downrps": Product("downrps", down, "127.0.0.1:9999", {"num_players": 2}),
    }
    return Config(
        environment="test",
        redis_url=f"{redis_base}/{DATA_DB}",
        event_stream_url=f"{redis_base}/{STREAM_DB}",
        jwt_secret=JWT_SECRET,
        game_server_token=GAME_SERVER_TOKEN,
        products=products,
        game_server_timeout=CLIENT_TIMEOUT,
    )


@pytest.fixture
def services(config: Config, clock: Clock, data_redis: redis.Redis) -> Iterator[Services]:
    built = build_services(config, clock=clock)
    yield built
    built.redis.close()


def process_env(redis_base: str, game_server: FakeGameServer, tmp_path: Path) -> dict[str, str]:
    """The variables a real matchmaker process (gunicorn or the worker) gets in tests: the test
    databases, secrets, the fake game server, a Prometheus multiprocess directory."""
    servers = [
        {
            "product_id": "exrps",
            "game_server_url": game_server.url,
            "game_socket_url": "127.0.0.1:8085",
            "settings": {"num_players": 2},
        }
    ]
    return {
        "VARCADE_ENV": "test",
        "REDIS_URL": f"{redis_base}/{DATA_DB}",
        "EVENT_STREAM_URL": f"{redis_base}/{STREAM_DB}",
        "JWT_SECRET": JWT_SECRET,
        "GAME_SERVER_TOKEN": GAME_SERVER_TOKEN,
        "GAME_SERVERS": json.dumps(servers),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }


def token_for(user_id: str, username: str | None = None) -> str:
    return issue_player_token(user_id, username or f"name-{user_id}", JWT_SECRET)


def auth(user_id: str, username: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(user_id, username)}"}
