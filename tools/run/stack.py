"""The arcade as a set of processes: which commands, from which folders, with which environment.

One definition for `make run` (development ports, Redis databases 0/1/2) and for the end-to-end
tests (free ports, their own databases, short ticks): the tests exercise what a developer runs.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from varcade_workers.settings import DEV_GAME_SERVER_TOKEN, DEV_JWT_SECRET

from tools.run.supervisor import ProcessSpec

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_ID = "exrps"


@dataclass(frozen=True)
class Ports:
    """Every port of the arcade (defaults: the spec's)."""

    matchmaker: int = 5050
    matchmaker_metrics: int = 5051
    stats: int = 5000
    stats_metrics: int = 5002
    game_control: int = 8080
    game_socket: int = 8085
    game_page: int = 8090

    @classmethod
    def free(cls, host: str = "127.0.0.1") -> Ports:
        """Ports the OS says are free now (all sockets held together so they are distinct)."""
        socks = []
        try:
            for _ in fields(cls):
                sock = socket.socket()
                sock.bind((host, 0))
                socks.append(sock)
            return cls(*(int(s.getsockname()[1]) for s in socks))
        finally:
            for sock in socks:
                sock.close()

    def busy(self, host: str = "127.0.0.1") -> list[tuple[str, int]]:
        """The ports someone already listens on (e.g. another `make run`)."""
        taken = []
        for f in fields(self):
            port = getattr(self, f.name)
            with socket.socket() as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    taken.append((f.name, port))
        return taken


@dataclass(frozen=True)
class StackConfig:
    """Everything that differs between `make run` and a test run."""

    redis: str  # base URL, no database number
    ports: Ports = field(default_factory=Ports)
    matchmaker_db: int = 0
    stream_db: int = 1
    stats_db: int = 2
    environment: str = "development"
    host: str = "127.0.0.1"
    run_dir: Path = ROOT / ".run"
    venv_bin: Path = Path(sys.prefix) / "bin"
    # Variables for every process; the caller's environment (os.environ) is the base.
    extra_env: Mapping[str, str] = field(default_factory=dict)

    # Addresses, for people and for tests.
    @property
    def page_url(self) -> str:
        return f"http://{self.host}:{self.ports.game_page}"

    @property
    def matchmaker_url(self) -> str:
        return f"http://{self.host}:{self.ports.matchmaker}"

    @property
    def stats_url(self) -> str:
        return f"http://{self.host}:{self.ports.stats}"

    @property
    def game_control_url(self) -> str:
        return f"http://{self.host}:{self.ports.game_control}"

    @property
    def game_socket_address(self) -> str:
        return f"{self.host}:{self.ports.game_socket}"

    def redis_db(self, db: int) -> str:
        return f"{self.redis.rstrip('/')}/{db}"


# Variables one service sets for itself: never inherited from the caller's shell.
_PER_PROCESS = ("PORT", "METRICS_PORT", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR")


def common_env(config: StackConfig, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every process shares; the caller's own settings win where they make sense."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _PER_PROCESS}
    ports = config.ports
    page_origins = f"http://127.0.0.1:{ports.game_page},http://localhost:{ports.game_page}"
    if config.host not in ("127.0.0.1", "localhost"):
        page_origins += f",{config.page_url}"
    game_servers = [
        {
            "product_id": PRODUCT_ID,
            "game_server_url": config.game_control_url,
            "game_socket_url": config.game_socket_address,
            "settings": {"num_players": 2},
        }
    ]
    defaults = {
        "JWT_SECRET": DEV_JWT_SECRET,
        "GAME_SERVER_TOKEN": DEV_GAME_SERVER_TOKEN,
        "LOG_LEVEL": "INFO",
        "TICK_SECONDS": "1.0",
        "STATS_PRODUCTS": json.dumps({PRODUCT_ID: "wins"}),
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    # What the runner decides: the stack only works when these agree with each other.
    env.update(
        {
            "VARCADE_ENV": config.environment,
            "VARCADE_REDIS": config.redis,
            "EVENT_STREAM_URL": config.redis_db(config.stream_db),
            "GAME_SERVERS": json.dumps(game_servers),
            "CORS_ORIGINS": page_origins,
            "MATCHMAKER_URL": config.matchmaker_url,
            "STATS_TRACKER_URL": config.stats_url,
            "CONTROL_PORT": str(ports.game_control),
            "WS_PORT": str(ports.game_socket),
            "CLIENT_PORT": str(ports.game_page),
            "PATH": f"{config.venv_bin}{os.pathsep}{env.get('PATH', os.defpath)}",
            "VIRTUAL_ENV": str(config.venv_bin.parent),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(config.extra_env)
    return env


def stack_specs(
    config: StackConfig, base_env: Mapping[str, str] | None = None
) -> list[ProcessSpec]:
    """The five processes of the arcade, with the start commands of CONVENTIONS.md."""
    env = common_env(config, base_env)
    ports = config.ports
    local = "http://127.0.0.1:{}/healthz"
    gunicorn = str(config.venv_bin / "gunicorn")
    python = str(config.venv_bin / "python")

    def metrics_dir(name: str) -> str:
        path = config.run_dir / "prometheus" / name
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return str(path)

    def api_and_worker(
        name: str, package: str, db: int, port: int, metrics_port: int
    ) -> list[ProcessSpec]:
        """A Flask API under gunicorn and its stream worker: one folder, one Redis database."""
        service_env = {**env, "REDIS_URL": config.redis_db(db)}
        return [
            ProcessSpec(
                name,
                [gunicorn, f"{package}.app:create_app()"],
                ROOT / package,
                {**service_env, "PORT": str(port), "PROMETHEUS_MULTIPROC_DIR": metrics_dir(name)},
                (local.format(port),),
            ),
            ProcessSpec(
                f"{name}-worker",
                [python, "-m", f"{package}.worker"],
                ROOT / package,
                {**service_env, "METRICS_PORT": str(metrics_port)},
                (local.format(metrics_port),),
            ),
        ]

    return [
        *api_and_worker(
            "matchmaker",
            "matchmaker",
            config.matchmaker_db,
            ports.matchmaker,
            ports.matchmaker_metrics,
        ),
        *api_and_worker(
            "stats", "stats_tracker", config.stats_db, ports.stats, ports.stats_metrics
        ),
        ProcessSpec(
            "game-rps",
            [python, "-m", "game_rps.server"],
            ROOT / "game_rps",
            env,
            (local.format(ports.game_control), local.format(ports.game_page)),
        ),
    ]
