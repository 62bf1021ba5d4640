"""The long-lived objects the API and the worker share, built once from the configuration."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from varcade_workers.redis_clients import redis_client

from matchmaker.config import Config
from matchmaker.game_servers import GameServerClient
from matchmaker.repository import GameRepository


@dataclass
class Services:
    config: Config
    redis: redis.Redis
    repository: GameRepository
    game_servers: GameServerClient
    clock: Callable[[], float] = field(default=time.time)


def build_services(config: Config, *, clock: Callable[[], float] = time.time) -> Services:
    client = redis_client(config.redis_url)
    return Services(
        config=config,
        redis=client,
        repository=GameRepository(client),
        game_servers=GameServerClient(config.game_server_token, timeout=config.game_server_timeout),
        clock=clock,
    )
