"""The services' Redis clients, configured once.

redis-py 8's defaults suit a batch job, not a service: a command to a Redis that is down is retried
3 times with an exponential backoff (about 4.5 s before the error), so a `/healthz` probe hangs
instead of answering 503, and a request waits seconds before failing. Here:

- ``decode_responses=True`` (services and handlers work with ``str``);
- ``socket_connect_timeout`` 2 s, ``socket_timeout`` 5 s (above the stream worker's 1 s blocking
  read, which `EventStreamWorker` clamps below it anyway);
- ``health_check_interval`` 30 s (a connection idle behind a NAT or load balancer is checked with a
  PING before use instead of failing the next command);
- one retry after 50 ms on a connection error or timeout: a dropped connection is transparently
  reopened, a Redis that is down fails fast. The stream worker has its own backoff loop on top.

:func:`probe_client` gives a health check its own client on the same server with no retry and a
1 s timeout, so ``/healthz`` answers 503 quickly when Redis is unreachable.

Example::

    from varcade_workers.redis_clients import redis_client

    data = redis_client(settings.redis_url("REDIS_URL", 2))
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ConstantBackoff, NoBackoff
from redis.retry import Retry

__all__ = [
    "CLIENT_DEFAULTS",
    "PROBE_TIMEOUT_SECONDS",
    "async_redis_client",
    "probe_client",
    "redis_client",
]

#: The keyword arguments :func:`redis_client` passes to ``redis.Redis.from_url`` (overridable).
CLIENT_DEFAULTS: Final[dict[str, Any]] = {
    "decode_responses": True,
    "socket_connect_timeout": 2.0,
    "socket_timeout": 5.0,
    "health_check_interval": 30,
}
_RETRIES: Final = 1
_RETRY_BACKOFF_SECONDS: Final = 0.05
PROBE_TIMEOUT_SECONDS: Final = 1.0

_Client = TypeVar("_Client", redis.Redis, redis.asyncio.Redis)


def redis_client(url: str, **overrides: Any) -> redis.Redis:
    """A sync client for ``url`` with the service defaults above; ``overrides`` win."""
    options = {
        **CLIENT_DEFAULTS,
        "retry": Retry(ConstantBackoff(_RETRY_BACKOFF_SECONDS), _RETRIES),
        **overrides,
    }
    return redis.Redis.from_url(url, **options)


def async_redis_client(url: str, **overrides: Any) -> redis.asyncio.Redis:
    """The asyncio variant of :func:`redis_client` (the game server's)."""
    options = {
        **CLIENT_DEFAULTS,
        "retry": AsyncRetry(ConstantBackoff(_RETRY_BACKOFF_SECONDS), _RETRIES),
        **overrides,
    }
    return redis.asyncio.Redis.from_url(url, **options)


def probe_client(client: _Client, timeout: float = PROBE_TIMEOUT_SECONDS) -> _Client:
    """A client of the same server as ``client`` for health checks: no retry, short timeouts.

    It has its own small connection pool, so a probe neither waits behind nor disturbs the service's
    connections. A client whose pool cannot be copied (a test double) is returned as it is.
    """
    pool = client.connection_pool
    kwargs = dict(getattr(pool, "connection_kwargs", None) or {})
    connection_class = getattr(pool, "connection_class", None)
    if connection_class is None:
        return client
    is_async = isinstance(client, redis.asyncio.Redis)
    kwargs.update(
        retry=AsyncRetry(NoBackoff(), 0) if is_async else Retry(NoBackoff(), 0),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    try:
        probe_pool = type(pool)(connection_class=connection_class, max_connections=4, **kwargs)
    except TypeError:
        return client
    return type(client)(connection_pool=probe_pool)
