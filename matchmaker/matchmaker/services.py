"""The long-lived objects the API and the worker share, built once from the configuration."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from varcade_workers.ratelimit import RateLimiter
from varcade_workers.redis_clients import redis_client

from matchmaker.config import Config
from matchmaker.game_servers import GameServerClient
from matchmaker.repository import GameRepository

#: Prefix of the per-player rate counters in the matchmaker's Redis.
RATE_PREFIX = "matchmaker:rate"


@dataclass
class Services:
    """Built once per process and shared by its threads: the redis-py client (a connection pool)
    and the limiters are thread-safe, the repository makes a pipeline per change."""

    config: Config
    redis: redis.Redis
    repository: GameRepository
    game_servers: GameServerClient
    create_limiter: RateLimiter
    join_limiter: RateLimiter
    clock: Callable[[], float] = field(default=time.time)


def build_services(config: Config, *, clock: Callable[[], float] = time.time) -> Services:
    client = redis_client(config.redis_url)
    return Services(
        config=config,
        redis=client,
        repository=GameRepository(client),
        game_servers=GameServerClient(config.game_server_token, timeout=config.game_server_timeout),
        create_limiter=_per_minute(client, "create_game", config.create_rate_per_minute, clock),
        join_limiter=_per_minute(client, "join_game", config.join_rate_per_minute, clock),
        clock=clock,
    )


def _per_minute(
    client: redis.Redis, action: str, limit: int, clock: Callable[[], float]
) -> RateLimiter:
    return RateLimiter(client, action, limit, 60.0, prefix=RATE_PREFIX, clock=clock)
