"""Request rate limits per subject (a user id, an API key...), counted in Redis, so that every
process and replica of a service shares them.

A fixed-window counter: at most ``limit`` hits per subject in each window of ``window_seconds``
(windows are aligned to the epoch, so every process counts in the same one). One check is one
round trip, a MULTI/EXEC pipeline: ``INCR`` the subject's counter of the current window and
``EXPIRE`` it shortly after the window ends, so counters never pile up::

    limiter = RateLimiter(redis_client, "create_game", limit=10, window_seconds=60)  # thread-safe
    decision = limiter.hit(player.user_id)
    if not decision.allowed:
        ...  # 429, with Retry-After: decision.retry_after

Refused hits are counted too: a client that keeps trying stays refused until its window ends. A
fixed window lets a client make up to ``2 * limit`` hits around a window boundary (the end of one
window and the start of the next); for the arcade's per-minute limits that is acceptable and costs
one key per active subject. ``limit=0`` disables the limiter (every hit is allowed, Redis is not
asked), for benchmarks and load tests.

Keys: ``<prefix>:<name>:<subject>:<window number>`` (``prefix`` defaults to ``ratelimit``). A Redis
error is raised to the caller (the services answer 503, as for any other Redis outage).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

__all__ = ["RateDecision", "RateLimiter"]


@dataclass(frozen=True)
class RateDecision:
    """The outcome of one hit."""

    allowed: bool
    limit: int
    #: Hits of this subject in the current window, this one included (0 when disabled).
    count: int
    #: Whole seconds until the window ends and hits are allowed again; 0 when allowed.
    retry_after: int

    @property
    def remaining(self) -> int:
        """Hits still allowed in this window."""
        return max(0, self.limit - self.count)


class RateLimiter:
    """At most ``limit`` hits per subject per ``window_seconds``, counted in ``client``'s
    database."""

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        limit: int,
        window_seconds: float = 60.0,
        *,
        prefix: str = "ratelimit",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not name:
            raise ValueError("a rate limiter needs a name")
        if limit < 0:
            raise ValueError(f"limit must be 0 (disabled) or more, got {limit}")
        if not window_seconds > 0:
            raise ValueError(f"window_seconds must be positive, got {window_seconds}")
        self.redis = client
        self.name = name
        self.limit = limit
        self.window_seconds = float(window_seconds)
        self.prefix = prefix
        self.clock = clock

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def key(self, subject: str, window: int) -> str:
        return f"{self.prefix}:{self.name}:{subject}:{window}"

    def hit(self, subject: str) -> RateDecision:
        """Count one hit of ``subject`` now; allowed while the window's count is within the
        limit."""
        if not self.enabled:
            return RateDecision(allowed=True, limit=0, count=0, retry_after=0)
        now = self.clock()
        window = math.floor(now / self.window_seconds)
        left = (window + 1) * self.window_seconds - now  # seconds until this window ends
        key = self.key(subject, window)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            # Relative to Redis's own clock, one second past the window's end: the counter
            # outlives its window whatever the clocks of the processes say, then disappears.
            pipe.expire(key, math.ceil(left) + 1)
            count, _ = pipe.execute()
        count = int(count)
        if count <= self.limit:
            return RateDecision(allowed=True, limit=self.limit, count=count, retry_after=0)
        return RateDecision(
            allowed=False, limit=self.limit, count=count, retry_after=max(1, math.ceil(left))
        )
