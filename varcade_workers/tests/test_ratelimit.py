"""ratelimit: fixed windows per subject in Redis (fakeredis for the rules, a real Redis for the
expiry, the round trips and concurrent processes' threads)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis
from varcade_workers.ratelimit import RateDecision, RateLimiter


class Clock:
    def __init__(self, now: float = 1_700_000_020.0) -> None:  # 40 s into a minute
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- rules (fakeredis) ----------------------------------------------------------------------------


def test_allows_the_limit_then_refuses_until_the_window_ends(fake_redis: Any) -> None:
    clock = Clock()
    limiter = RateLimiter(fake_redis, "create", limit=3, window_seconds=60, clock=clock)
    decisions = [limiter.hit("u1") for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, True]
    assert [d.remaining for d in decisions] == [2, 1, 0]
    refused = limiter.hit("u1")
    assert refused == RateDecision(allowed=False, limit=3, count=4, retry_after=20)
    clock.now += 19.5
    assert limiter.hit("u1").retry_after == 1  # never 0 while refused
    clock.now += 0.5  # the next minute
    assert limiter.hit("u1").allowed


def test_subjects_and_limiters_count_apart(fake_redis: Any) -> None:
    clock = Clock()
    create = RateLimiter(fake_redis, "create", limit=1, clock=clock)
    join = RateLimiter(fake_redis, "join", limit=1, clock=clock)
    assert create.hit("u1").allowed
    assert not create.hit("u1").allowed
    assert create.hit("u2").allowed
    assert join.hit("u1").allowed


def test_refused_hits_count_too(fake_redis: Any) -> None:
    limiter = RateLimiter(fake_redis, "create", limit=2, clock=Clock())
    counts = [limiter.hit("u1").count for _ in range(5)]
    assert counts == [1, 2, 3, 4, 5]


def test_a_window_of_any_length(fake_redis: Any) -> None:
    clock = Clock(1000.0)
    limiter = RateLimiter(fake_redis, "burst", limit=2, window_seconds=0.5, clock=clock)
    assert [limiter.hit("u").allowed for _ in range(3)] == [True, True, False]
    assert limiter.hit("u").retry_after == 1
    clock.now = 1000.5
    assert limiter.hit("u").allowed


def test_limit_zero_disables_without_asking_redis() -> None:
    class NoRedis:
        def pipeline(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("Redis was asked")

    limiter = RateLimiter(NoRedis(), "create", limit=0)  # type: ignore[arg-type]
    assert not limiter.enabled
    assert all(limiter.hit("u1").allowed for _ in range(100))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "", "limit": 1}, "name"),
        ({"name": "x", "limit": -1}, "limit"),
        ({"name": "x", "limit": 1, "window_seconds": 0}, "window_seconds"),
    ],
)
def test_bad_arguments(fake_redis: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RateLimiter(fake_redis, **kwargs)


def test_keys_expire_after_their_window(fake_redis: Any) -> None:
    clock = Clock()
    limiter = RateLimiter(fake_redis, "create", limit=5, prefix="mm:rate", clock=clock)
    limiter.hit("u1")
    [key] = fake_redis.keys("*")
    assert key == f"mm:rate:create:u1:{int(clock.now // 60)}"
    assert 0 < fake_redis.ttl(key) <= 21


# -- a real Redis ---------------------------------------------------------------------------------


def test_real_redis_one_round_trip_per_hit_and_ttl(
    data_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    limiter = RateLimiter(data_redis, "create", limit=2, clock=clock)
    executed: list[int] = []
    execute = redis.client.Pipeline.execute

    def counting(pipe: redis.client.Pipeline, *args: Any, **kwargs: Any) -> Any:
        executed.append(len(pipe.command_stack))
        return execute(pipe, *args, **kwargs)

    def no_direct_command(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a round trip outside the pipeline: {args}")

    monkeypatch.setattr(redis.client.Pipeline, "execute", counting)
    monkeypatch.setattr(data_redis, "execute_command", no_direct_command)
    assert limiter.hit("u1").allowed
    assert executed == [2]  # one MULTI/EXEC round trip: INCR, EXPIRE
    monkeypatch.undo()
    assert limiter.hit("u1").allowed
    assert not limiter.hit("u1").allowed
    [key] = data_redis.keys("ratelimit:*")
    assert 0 < data_redis.ttl(key) <= 21


def test_real_redis_counters_disappear_after_their_window(data_redis: redis.Redis) -> None:
    limiter = RateLimiter(data_redis, "burst", limit=1, window_seconds=1.0)
    limiter.hit("u1")
    assert data_redis.keys("ratelimit:burst:*")
    deadline = time.monotonic() + 5
    while data_redis.keys("ratelimit:burst:*"):
        assert time.monotonic() < deadline, "the counter did not expire"
        time.sleep(0.1)


def test_real_redis_concurrent_hits_allow_exactly_the_limit(redis_base: str) -> None:
    """Many threads (as gunicorn's threads and workers would) hitting at once: exactly `limit`
    are allowed, because INCR is atomic."""
    clock = Clock()
    client = redis.Redis.from_url(f"{redis_base}/4", decode_responses=True)
    client.flushdb()
    try:
        limiter = RateLimiter(client, "join", limit=30, clock=clock)
        results: list[bool] = []
        lock = threading.Lock()
        start = threading.Barrier(8)

        def hammer() -> None:
            start.wait()
            for _ in range(25):
                allowed = limiter.hit("u1").allowed
                with lock:
                    results.append(allowed)

        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 200
        assert results.count(True) == 30
    finally:
        client.flushdb()
        client.close()
