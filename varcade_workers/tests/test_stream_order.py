"""EventStreamWorker after crashes and with poison: order, takeover, decoding, deferral, health.

Every test here runs at the library's default claim_idle_ms (30 s): the guarantees must not depend
on a tuned timeout.
"""

from __future__ import annotations

import logging
import signal

import fakeredis
import pytest
import redis
from stream_helpers import FakeClock, Recorder, add_events, running_child, stop_child, wait_until
from varcade_workers.errors import Defer
from varcade_workers.replays import REPLAY_TOKEN
from varcade_workers.stream_worker import heartbeat_key

from varcade_workers import EventStreamWorker, events

STREAM = "order_stream"


def pending_of(client: redis.Redis, consumer: str, group: str = "g") -> list[str]:
    rows = client.xpending_range(STREAM, group, "-", "+", 1000, consumername=consumer)
    return [str(r["message_id"]) for r in rows]


def hold(client: redis.Redis, consumer: str, count: int, group: str = "g") -> list[str]:
    """What a consumer that read `count` entries and died leaves behind."""
    reply = client.xreadgroup(group, consumer, {STREAM: ">"}, count=count)
    return [e.decode() if isinstance(e, bytes) else e for e, _ in reply[0][1]]


def make_group(client: redis.Redis) -> None:
    client.xgroup_create(STREAM, "g", id="0", mkstream=True)


# -- poison ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["new", "claimed"])
def test_undecodable_entry_is_dead_lettered_with_its_bytes_and_never_blocks(
    stream_redis: redis.Redis, where: str
) -> None:
    raw = redis.Redis.from_url(_url(stream_redis))
    make_group(stream_redis)
    before = add_events(stream_redis, STREAM, 2)
    poison = raw.xadd(STREAM, {b"product_id": b"exrps", b"game_id": b"\xff\xfe", b"x": b"\x00\x9f"})
    after = add_events(stream_redis, STREAM, 3, start=2)
    if where == "claimed":  # a dead consumer held them all: taken over, then read from our PEL
        hold(raw, "dead", 10)
    worker = Recorder(stream_redis, STREAM, "g", block_ms=10)
    for _ in range(4):
        worker.run()
    assert [i for i, _ in worker.handled] == before + after
    [(_, dead)] = raw.xrange(f"{STREAM}:dead")
    assert dead[b"game_id"] == b"\xff\xfe" and dead[b"x"] == b"\x00\x9f"
    assert dead[b"dl_original_id"] == poison
    assert dead[b"dl_error"].startswith(b"undecodable entry")
    assert int(stream_redis.xpending(STREAM, "g")["pending"]) == 0
    raw.close()


def _url(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


def test_undecodable_entry_claimed_from_a_stuck_consumer_advances_the_cursor(
    stream_redis: redis.Redis,
) -> None:
    """XAUTOCLAIM's path (a live consumer stuck): a short claim_idle_ms to get there quickly."""
    raw = redis.Redis.from_url(_url(stream_redis))
    make_group(stream_redis)
    raw.xadd(STREAM, {b"type": b"\xc3\x28"})
    good = add_events(stream_redis, STREAM, 2)
    hold(raw, "stuck", 10)
    stream_redis.set(heartbeat_key(STREAM, "g", "stuck"), "alive")  # beating, never acking
    worker = Recorder(stream_redis, STREAM, "g", block_ms=10, claim_idle_ms=50)
    wait_until(lambda: worker.run() >= 0 and len(worker.handled) == 2, timeout=5, what="claimed")
    assert [i for i, _ in worker.handled] == good
    assert stream_redis.xlen(f"{STREAM}:dead") == 1
    assert int(stream_redis.xpending(STREAM, "g")["pending"]) == 0
    raw.close()


def test_forged_replay_fields_cannot_make_a_group_skip_an_event(stream_redis: redis.Redis) -> None:
    make_group(stream_redis)
    stream_redis.xgroup_create(STREAM, "other", id="0")
    fields = {
        "product_id": "exrps",
        "game_id": "g1",
        "n": "1",
        events.REPLAY_OF: "1-1",
        events.REPLAY_GROUP: "nobody",
        REPLAY_TOKEN: "0" * 32,
    }
    entry = stream_redis.xadd(STREAM, fields)
    for group in ("g", "other"):
        worker = Recorder(stream_redis, STREAM, group, block_ms=10)
        worker.run()
        # handled by every group, under its own id, without the forged fields
        assert worker.handled == [(entry, {"product_id": "exrps", "game_id": "g1", "n": "1"})]


# -- order after crashes --------------------------------------------------------------------------


def test_restart_under_the_same_name_handles_its_own_pending_entries_first(
    stream_redis: redis.Redis,
) -> None:
    make_group(stream_redis)
    old = add_events(stream_redis, STREAM, 3)
    hold(stream_redis, "worker-0", 3)
    new = add_events(stream_redis, STREAM, 3, start=3)
    # its heartbeat is still alive (killed a moment ago): its own name needs no waiting
    stream_redis.set(heartbeat_key(STREAM, "g", "worker-0"), "x", px=5000)
    worker = Recorder(stream_redis, STREAM, "g", consumer="worker-0", block_ms=10)
    for _ in range(3):
        worker.run()
    assert [i for i, _ in worker.handled] == old + new


def test_a_dead_consumers_entries_are_taken_over_before_anything_newer(
    stream_redis: redis.Redis,
) -> None:
    make_group(stream_redis)
    old = add_events(stream_redis, STREAM, 4)
    hold(stream_redis, "dead", 4)  # no heartbeat: killed before this version, or expired
    new = add_events(stream_redis, STREAM, 4, start=4)
    worker = Recorder(stream_redis, STREAM, "g", block_ms=10)
    for _ in range(3):
        worker.run()
    assert [i for i, _ in worker.handled] == old + new
    assert pending_of(stream_redis, "dead") == []


def test_a_live_replica_takes_over_a_consumer_whose_heartbeat_expires(
    stream_redis: redis.Redis,
) -> None:
    make_group(stream_redis)
    worker = Recorder(stream_redis, STREAM, "g", block_ms=10, heartbeat_ttl_ms=1000)
    worker.run()
    held = add_events(stream_redis, STREAM, 2)
    hold(stream_redis, "replica", 2)
    stream_redis.set(heartbeat_key(STREAM, "g", "replica"), "1", px=1000)  # then it dies
    worker.run()
    assert worker.handled == []  # alive as far as anyone knows: its entries stay its own
    wait_until(lambda: worker.run() >= 0 and len(worker.handled) == 2, timeout=5, what="takeover")
    assert [i for i, _ in worker.handled] == held


def test_a_starting_worker_waits_for_a_holder_to_prove_it_is_alive(
    stream_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    make_group(stream_redis)
    old = add_events(stream_redis, STREAM, 2)
    hold(stream_redis, "killed-a-moment-ago", 2)
    stream_redis.set(heartbeat_key(STREAM, "g", "killed-a-moment-ago"), "1", px=1200)
    new = add_events(stream_redis, STREAM, 2, start=2)
    worker = Recorder(stream_redis, STREAM, "g", block_ms=10, heartbeat_ttl_ms=1000)
    with caplog.at_level(logging.INFO):
        worker.run()  # waits out the heartbeat, takes over, then reads its pending first
    worker.run()
    assert [i for i, _ in worker.handled] == old + new
    assert "event=consumer_taken_over" in caplog.text


def test_a_starting_worker_leaves_a_live_holder_alone(stream_redis: redis.Redis) -> None:
    make_group(stream_redis)
    add_events(stream_redis, STREAM, 2)
    hold(stream_redis, "alive", 2)
    beats = iter(range(100))

    def sleep(_: float) -> None:  # the holder beats while we wait
        stream_redis.set(heartbeat_key(STREAM, "g", "alive"), str(next(beats)), px=1000)

    sleep(0)
    new = add_events(stream_redis, STREAM, 2, start=2)
    worker = Recorder(stream_redis, STREAM, "g", block_ms=10, heartbeat_ttl_ms=1000, sleep=sleep)
    worker.run()
    worker.run()
    assert [i for i, _ in worker.handled] == new
    assert len(pending_of(stream_redis, "alive")) == 2


def test_close_drops_the_heartbeat(stream_redis: redis.Redis) -> None:
    worker = Recorder(stream_redis, STREAM, "g", block_ms=10, consumer="c1")
    worker.run()
    assert stream_redis.exists(heartbeat_key(STREAM, "g", "c1"))
    worker.close()
    assert not stream_redis.exists(heartbeat_key(STREAM, "g", "c1"))


def test_killed_between_handling_and_ack_the_next_process_keeps_the_order(
    stream_redis: redis.Redis, data_redis: redis.Redis
) -> None:
    """A real process killed with SIGKILL mid-batch, replaced by a NEW process (new consumer name),
    all at the default claim_idle_ms: the dead one's batch is handled before anything newer."""
    first = add_events(stream_redis, STREAM, 40)
    with running_child(STREAM, "g", batch_size=20, delay=0.05, claim_idle_ms=30_000) as child:
        wait_until(lambda: data_redis.llen("handled") >= 5, what="child started handling")
        stop_child(child, signal.SIGKILL)
    later = add_events(stream_redis, STREAM, 20, start=40)
    with running_child(STREAM, "g", batch_size=20, claim_idle_ms=30_000) as successor:
        wait_until(
            lambda: set(data_redis.lrange("handled", 0, -1)) >= set(first + later),
            timeout=20,
            what="successor finished",
        )
        stop_child(successor)
    handled = data_redis.lrange("handled", 0, -1)
    # redelivered entries may repeat (at-least-once), but no later entry before an earlier one
    # of the first batch is done: the first occurrence order is the stream order
    last_seen = {entry_id: n for n, entry_id in enumerate(handled)}
    assert max(last_seen[i] for i in first) < min(last_seen[i] for i in later)
    assert int(stream_redis.xpending(STREAM, "g")["pending"]) == 0


# -- deferral -------------------------------------------------------------------------------------


class Waiting(EventStreamWorker):
    """Defers `wait=1` entries until `released` is set; records everything it applied."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.applied: list[str] = []
        self.released = False

    def handle_event(self, event_id: str, fields: dict[str, str]) -> None:
        if fields.get("wait") == "1" and not self.released:
            raise Defer("earlier event still on its way")
        self.applied.append(event_id)


def test_deferred_entries_stay_pending_uncounted_while_newer_ones_flow(
    fake_redis: fakeredis.FakeRedis,
) -> None:
    clock = FakeClock()
    waiting = fake_redis.xadd(STREAM, {"product_id": "exrps", "game_id": "g", "wait": "1"})
    flowing = add_events(fake_redis, STREAM, 2)
    worker = Waiting(fake_redis, STREAM, "g", block_ms=0, clock=clock)
    worker.run()
    assert worker.applied == flowing
    assert worker.stats.failed == 0
    assert pending_of(fake_redis, worker.consumer) == [waiting]
    more = add_events(fake_redis, STREAM, 1, start=2)
    worker.run()
    assert worker.applied == flowing + more
    worker.released = True
    clock.now += 0.2  # defer_retry_ms (100) later
    worker.run()
    assert worker.applied == [*flowing, *more, waiting]
    assert int(fake_redis.xpending(STREAM, "g")["pending"]) == 0
    assert fake_redis.xlen(f"{STREAM}:dead") == 0


# -- health and lag -------------------------------------------------------------------------------


def test_health_problem_when_redis_is_away_or_nothing_progresses() -> None:
    clock = FakeClock()
    client = redis.Redis(port=1, decode_responses=True, socket_connect_timeout=0.1)
    worker = Recorder(client, STREAM, "g", clock=clock, sleep=lambda _: None)
    assert worker.health_problem() is None
    worker.run()  # connection refused
    assert worker.health_problem() is None  # a blip is not a problem yet
    clock.now += 31
    worker.run()
    assert "Redis unreachable for 31" in (worker.health_problem() or "")


def test_one_log_line_per_outage_and_one_when_it_ends(
    fake_redis: fakeredis.FakeRedis,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = Recorder(fake_redis, STREAM, "g", block_ms=0, sleep=lambda _: None)
    worker.run()
    real = worker._run_once
    calls = iter([redis.ConnectionError("down")] * 5)

    def flaky() -> int:
        error = next(calls, None)
        if error is not None:
            raise error
        return real()

    monkeypatch.setattr(worker, "_run_once", flaky)
    with caplog.at_level(logging.INFO):
        for _ in range(7):
            worker.run()
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert sum("event=redis_unavailable" in line for line in lines) == 1
    assert sum("event=redis_reconnected" in line for line in lines) == 1


def test_lag_counts_entries_not_yet_delivered(stream_redis: redis.Redis) -> None:
    worker = Recorder(stream_redis, STREAM, "g", block_ms=10, batch_size=5)
    worker.run()
    add_events(stream_redis, STREAM, 12)
    worker.run()
    assert worker.measure_lag() == 7
