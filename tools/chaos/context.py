"""What every step gets: the options, a seeded random source, and a private arcade of its own.

`ChaosRun` holds the run directory (printed at start; logs go there, not to the terminal) and the
options. `ChaosRun.arcade(step, names)` starts a private Redis and the named processes of
`stack_specs` (the `make run` definitions: free ports, Redis databases 0/1/2 of that private
server), waits until they are healthy and stops everything when the step is done.

Settings: the services run with their defaults. Variables that would change them (STREAM_*,
GAME_SERVER_TIMEOUT_SECONDS, CURATION_*) are not passed on from the caller's environment; the only
variables set are the product list of the stats tracker (one product scored by wins, one by Elo),
secrets of the run, and TICK_SECONDS (short, so live games go fast).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
from matchmaker.games import Game, Product
from matchmaker.repository import GameRepository
from varcade_workers.redis_clients import redis_client
from varcade_workers.testing import free_port

from tools.chaos import lobby_model
from tools.chaos.fleet import Fleet, replica
from tools.chaos.redis_node import PrivateRedis
from tools.run.stack import Ports, StackConfig, stack_specs

#: The stats products of every step: one scored by wins (the arcade's game), one by Elo.
STATS_PRODUCTS = {"exrps": "wins", "elorps": "elo"}
ELO_PRODUCT = "elorps"
WINS_PRODUCT = "exrps"
#: Caller variables that would move a service off its defaults: never inherited.
_NOT_INHERITED_PREFIXES = ("STREAM_", "CURATION_", "GAME_SERVER_TIMEOUT", "OPEN_GAMES_")

# Process names of stack_specs.
MATCHMAKER_API = "matchmaker"
MATCHMAKER_WORKER = "matchmaker-worker"
STATS_API = "stats"
STATS_WORKER = "stats-worker"
GAME_SERVER = "game-rps"
ALL_PROCESSES = (MATCHMAKER_API, MATCHMAKER_WORKER, STATS_API, STATS_WORKER, GAME_SERVER)


@dataclass
class Options:
    games: int = 600
    events: int = 10_000
    kills: int = 15
    seed: int = 1
    fsync: str = "always"
    tick_seconds: float = 0.05


@dataclass
class ChaosRun:
    """One `python -m tools.chaos` run."""

    options: Options
    run_dir: Path
    rng: random.Random = field(init=False)
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.options.seed)

    def say(self, step: str, text: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:6.1f}s] {step}: {text}", flush=True)

    def sayer(self, step: str) -> Callable[[str], None]:
        """`say` for one step: `sayer(step)(text)` is `say(step, text)`."""
        return functools.partial(self.say, step)

    def step_rng(self, step: str) -> random.Random:
        """A random source of its own per step, so --steps does not change the other steps."""
        return random.Random(f"{self.options.seed}:{step}")

    @contextlib.contextmanager
    def arcade(
        self,
        step: str,
        names: Iterable[str],
        *,
        replicas: dict[str, int] | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> Iterator[Arcade]:
        """A private Redis and the named processes (plus `replicas` extra copies of workers)."""
        step_dir = self.run_dir / step
        node = PrivateRedis(step_dir / "redis", fsync=self.options.fsync)
        node.start()
        config = StackConfig(
            redis=node.url,
            ports=Ports.free(),
            run_dir=step_dir,
            extra_env={
                "STATS_PRODUCTS": json.dumps(STATS_PRODUCTS),
                "TICK_SECONDS": str(self.options.tick_seconds),
                "LOG_LEVEL": "INFO",
                "JWT_SECRET": secrets.token_hex(24),
                "GAME_SERVER_TOKEN": secrets.token_hex(24),
                **(extra_env or {}),
            },
        )
        base_env = {
            k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED_PREFIXES)
        }
        specs = {spec.name: spec for spec in stack_specs(config, base_env)}
        fleet = Fleet([], step_dir / "logs")
        for name in names:
            fleet.add(specs[name])
            for index in range(2, 2 + (replicas or {}).get(name, 0)):
                fleet.add(replica(specs[name], index, free_port()))
        arcade = Arcade(config, node, fleet)
        self.say(step, f"Redis: {node.describe()}; logs in {fleet.log_dir}")
        try:
            fleet.start_all()
            waited = fleet.wait_healthy(timeout=90)
            self.say(step, f"started {', '.join(fleet.names)} (healthy after {waited:.1f}s)")
            yield arcade
        finally:
            fleet.stop_all()
            node.stop()
            arcade.close()


@dataclass
class Arcade:
    """A step's private Redis and processes, with clients of its three databases."""

    config: StackConfig
    node: PrivateRedis
    fleet: Fleet
    _clients: dict[int, redis.Redis] = field(default_factory=dict)

    def client(self, db: int) -> redis.Redis:
        """A decoded client of database `db` (one per database, shared by the step's threads)."""
        client = self._clients.get(db)
        if client is None:
            client = self._clients[db] = redis_client(self.config.redis_db(db), socket_timeout=30)
        return client

    @property
    def stream(self) -> redis.Redis:
        return self.client(self.config.stream_db)

    @property
    def matchmaker_data(self) -> redis.Redis:
        return self.client(self.config.matchmaker_db)

    @property
    def stats_data(self) -> redis.Redis:
        return self.client(self.config.stats_db)

    def store_lobby_games(
        self, scripts: Iterable[lobby_model.GameScript], now: float
    ) -> tuple[GameRepository, dict[str, Game]]:
        """The scripts' games stored in the matchmaker's repository as after the guest joined
        (lobby_model.initial_game); answers the repository and those games by id."""
        repository = lobby_model.repository_for(self.matchmaker_data)
        product = Product(
            lobby_model.PRODUCT_ID,
            self.config.game_control_url,
            self.config.game_socket_address,
            {"num_players": 2},
        )
        return repository, lobby_model.store_initial_games(repository, scripts, product, now)

    def close(self) -> None:
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                client.close()
