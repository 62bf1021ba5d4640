"""ExactlyOnce: effects applied once per event id, with fakeredis and with a real Redis (db 4)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest
import redis
from redis.client import Pipeline
from varcade_workers.exactly_once import TooManyConflicts

from varcade_workers import ExactlyOnce


@pytest.fixture(params=["fake", "real"])
def client(request: pytest.FixtureRequest) -> Any:
    name = "fake_redis" if request.param == "fake" else "data_redis"
    return request.getfixturevalue(name)


def incr_counter(key: str) -> Any:
    """A read-modify-write callback: GET, then SET to the value + 1 (never INCR, to test WATCH)."""

    def apply(pipe: Pipeline) -> None:
        value = int(pipe.get(key) or 0)
        pipe.multi()
        pipe.set(key, value + 1)

    return apply


def test_applied_once_and_redelivery_skipped(client: redis.Redis) -> None:
    once = ExactlyOnce(client, "t")
    calls = []

    def apply(pipe: Pipeline) -> None:
        calls.append(1)
        pipe.multi()
        pipe.incr("counter")

    assert once.apply("1-0", apply) is True
    assert once.apply("1-0", apply) is False  # delivered again: nothing written
    assert client.get("counter") == "1"
    assert len(calls) == 1
    assert once.is_applied("1-0")
    assert not once.is_applied("2-0")


def test_marker_key_and_ttl(client: redis.Redis) -> None:
    once = ExactlyOnce(client, "stats", ttl_seconds=3600)
    once.apply("5-1", lambda pipe: pipe.set("x", "1"))  # no multi(): the helper calls it
    assert client.get("x") == "1"
    assert once.marker_key("5-1") == "stats:once:5-1"
    ttl = client.ttl("stats:once:5-1")
    assert 0 < ttl <= 3600


def test_default_ttl_outlives_redelivery_window() -> None:
    once = ExactlyOnce(redis.Redis(), "t")  # no connection is made
    claim_idle_s, max_deliveries = 30, 5  # the stream worker's defaults
    assert once.ttl_seconds >= 100 * claim_idle_s * max_deliveries


def test_batch_mixes_fresh_and_applied_ids(client: redis.Redis) -> None:
    once = ExactlyOnce(client, "t")
    once.apply("a", lambda pipe: pipe.rpush("log", "a"))
    once.apply("b", lambda pipe: pipe.rpush("log", "b"))
    seen: list[list[str]] = []

    def apply(pipe: Pipeline, fresh: list[str]) -> None:
        seen.append(fresh)
        pipe.multi()
        pipe.rpush("log", *fresh)

    applied = once.apply_batch(["a", "c", "b", "d", "c"], apply)
    assert applied == {"c", "d"}
    assert seen == [["c", "d"]]  # order kept, duplicates removed
    assert client.lrange("log", 0, -1) == ["a", "b", "c", "d"]
    assert once.apply_batch(["a", "b", "c", "d"], apply) == set()
    assert len(seen) == 1  # fn not called when every id was applied
    assert once.apply_batch([], apply) == set()


def test_large_batch(client: redis.Redis) -> None:
    once = ExactlyOnce(client, "t")
    ids = [f"{n}-0" for n in range(500)]
    once.apply_batch(ids[::2], lambda pipe, fresh: pipe.incrby("n", len(fresh)))

    def apply(pipe: Pipeline, fresh: list[str]) -> None:
        pipe.multi()
        pipe.incrby("n", len(fresh))

    assert once.apply_batch(ids, apply) == set(ids[1::2])
    assert client.get("n") == "500"


def test_scripting_detected_from_the_client(
    fake_redis: redis.Redis, data_redis: redis.Redis
) -> None:
    assert ExactlyOnce(data_redis, "t").scripting is True
    try:
        import lupa  # noqa: F401

        fake_scripting = True
    except ImportError:
        fake_scripting = False
    assert ExactlyOnce(fake_redis, "t").scripting is fake_scripting
    assert ExactlyOnce(data_redis, "t", scripting=False).scripting is False


@pytest.mark.parametrize("scripting", [True, False])
def test_batch_markers_one_command_or_one_per_id(data_redis: redis.Redis, scripting: bool) -> None:
    """Both ways of setting markers give the same keys, values and TTLs; Lua sends one command."""
    once = ExactlyOnce(data_redis, "t", ttl_seconds=600, scripting=scripting)
    queued: list[int] = []

    def apply(pipe: Pipeline, fresh: list[str]) -> None:
        pipe.multi()
        pipe.incrby("n", len(fresh))
        queued.append(len(pipe.command_stack))

    original_execute = Pipeline.execute

    def spy_execute(pipe: Pipeline, *args: Any, **kwargs: Any) -> Any:
        queued.append(len(pipe.command_stack))
        return original_execute(pipe, *args, **kwargs)

    ids = [f"{n}-0" for n in range(300)]
    once.apply("0-0", lambda pipe: pipe.incrby("n", 1))
    queued.clear()
    Pipeline.execute = spy_execute  # type: ignore[method-assign]
    try:
        assert once.apply_batch(ids, apply) == set(ids[1:])
    finally:
        Pipeline.execute = original_execute  # type: ignore[method-assign]
    markers_queued = queued[1] - queued[0]
    assert markers_queued == (1 if scripting else 299)
    assert data_redis.get("n") == "300"
    values = data_redis.mget([once.marker_key(i) for i in ids])
    assert values == ["1"] * 300
    ttls = {data_redis.ttl(once.marker_key(i)) for i in ids[1:]}
    assert all(0 < ttl <= 600 for ttl in ttls)
    assert once.apply_batch(ids, apply) == set()


def test_read_modify_write_race_keeps_both_updates(client: redis.Redis) -> None:
    """Two threads read the same key, then both write: WATCH makes the loser retry on the new
    value."""
    once = ExactlyOnce(client, "t")
    both_read = threading.Barrier(2, timeout=10)
    attempts: dict[str, int] = {"e1": 0, "e2": 0}
    errors: list[BaseException] = []

    def run(event_id: str) -> None:
        def apply(pipe: Pipeline) -> None:
            attempts[event_id] += 1
            value = int(pipe.get("rating") or 0)
            if attempts[event_id] == 1:
                both_read.wait()  # both have read the old value before either writes
            pipe.multi()
            pipe.set("rating", value + 10)

        try:
            assert once.apply(event_id, apply, watch=["rating"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(eid,)) for eid in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert client.get("rating") == "20"  # neither update lost
    assert sorted(attempts.values()) == [1, 2]  # exactly one conflict, retried


def test_many_threads_read_modify_write(client: redis.Redis) -> None:
    once = ExactlyOnce(client, "t")

    def run(thread_no: int) -> None:
        for n in range(25):
            once.apply(f"{thread_no}-{n}", incr_counter("counter"), watch=["counter"])

    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert client.get("counter") == "100"


def test_handler_dying_after_queuing_writes_applies_nothing(client: redis.Redis) -> None:
    once = ExactlyOnce(client, "t")

    def dies(pipe: Pipeline) -> None:
        pipe.multi()
        pipe.set("score", "1")
        raise RuntimeError("handler crashed between writes and marker")

    with pytest.raises(RuntimeError):
        once.apply("9-0", dies)
    assert client.get("score") is None
    assert not once.is_applied("9-0")

    # The retry (the event is still pending) applies it, once.
    assert once.apply("9-0", incr_counter("score")) is True
    assert once.apply("9-0", incr_counter("score")) is False
    assert client.get("score") == "1"


def test_redelivery_after_writes_but_before_ack(
    stream_redis: redis.Redis, data_redis: redis.Redis
) -> None:
    """A consumer applies an event and dies before XACK: the reclaimed event changes nothing."""
    stream_redis.xgroup_create("s", "g", id="0", mkstream=True)
    entry_id = stream_redis.xadd("s", {"type": "game_over"})
    once = ExactlyOnce(data_redis, "t")

    first = stream_redis.xreadgroup("g", "c1", {"s": ">"})
    assert first[0][1][0][0] == entry_id
    assert once.apply(entry_id, incr_counter("wins")) is True
    # c1 dies here: no XACK. Another consumer reclaims the entry.
    _next, claimed, _deleted = stream_redis.xautoclaim("s", "g", "c2", min_idle_time=0)
    assert [eid for eid, _f in claimed] == [entry_id]
    assert once.apply(entry_id, incr_counter("wins")) is False
    stream_redis.xack("s", "g", entry_id)
    assert data_redis.get("wins") == "1"
    # The markers live in the data Redis (db 4), not with the stream (db 3).
    assert data_redis.exists(once.marker_key(entry_id)) == 1
    assert stream_redis.exists(once.marker_key(entry_id)) == 0


def test_endless_conflicts_raise_and_apply_nothing(client: redis.Redis) -> None:
    once = ExactlyOnce(client, "t", max_retries=3)
    other = client  # another writer changing the watched key while the callback runs
    calls = []

    def apply(pipe: Pipeline) -> None:
        calls.append(1)
        other.incr("hot")
        pipe.multi()
        pipe.set("result", "x")

    with pytest.raises(TooManyConflicts):
        once.apply("1-1", apply, watch=["hot"])
    assert len(calls) == 3
    assert client.get("result") is None
    assert not once.is_applied("1-1")


@pytest.mark.parametrize(
    "kwargs", [{"namespace": ""}, {"ttl_seconds": 0}, {"max_retries": 0}], ids=str
)
def test_rejects_bad_options(kwargs: dict[str, Any]) -> None:
    options: dict[str, Any] = {"namespace": "t", **kwargs}
    with pytest.raises(ValueError):
        ExactlyOnce(redis.Redis(), **options)


KILLED_CONSUMER = """
import os, signal, sys
import redis
from varcade_workers import ExactlyOnce

stream = redis.Redis.from_url(sys.argv[1], decode_responses=True)
data = redis.Redis.from_url(sys.argv[2], decode_responses=True)
once = ExactlyOnce(data, "t")
[(_, entries)] = stream.xreadgroup("g", "doomed", {"s": ">"}, count=1)
entry_id = entries[0][0]

def apply(pipe):
    wins = int(pipe.get("wins") or 0)
    pipe.multi()
    pipe.set("wins", wins + 1)

once.apply(entry_id, apply, watch=["wins"])
os.kill(os.getpid(), signal.SIGKILL)  # dies after the writes, before XACK
"""


def test_consumer_killed_between_writes_and_ack(
    redis_base: str, stream_redis: redis.Redis, data_redis: redis.Redis
) -> None:
    stream_redis.xgroup_create("s", "g", id="0", mkstream=True)
    entry_id = stream_redis.xadd("s", {"type": "game_over"})
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(KILLED_CONSUMER),
            f"{redis_base}/3",
            f"{redis_base}/4",
        ],
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert data_redis.get("wins") == "1"
    assert stream_redis.xpending("s", "g")["pending"] == 1  # never acked

    once = ExactlyOnce(data_redis, "t")
    _next, claimed, _deleted = stream_redis.xautoclaim("s", "g", "heir", min_idle_time=0)
    assert [eid for eid, _f in claimed] == [entry_id]
    assert once.apply(entry_id, incr_counter("wins"), watch=["wins"]) is False
    stream_redis.xack("s", "g", entry_id)
    assert data_redis.get("wins") == "1"
    assert stream_redis.xpending("s", "g")["pending"] == 0
