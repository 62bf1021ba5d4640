"""Dead letters: made by a worker, then listed, replayed and purged with the CLI."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest
import redis
from stream_helpers import Recorder
from varcade_workers.dead_letters import list_dead_letters, main
from varcade_workers.events import REPLAY_GROUP, REPLAY_OF

from varcade_workers import EventStreamWorker, ExactlyOnce

STREAM = "test_stream"
DEAD = f"{STREAM}:dead"


def make_dead_letters(client: redis.Redis, count: int) -> list[str]:
    """Original ids of `count` events a worker dead-lettered."""
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        pipe.xadd(STREAM, {"product_id": "exrps", "game_id": f"bad{n}", "dead": "1"})
    originals = [str(i) for i in pipe.execute()]
    worker = Recorder(client, STREAM, "g", block_ms=0)
    worker.run()
    worker.close()
    assert client.xlen(DEAD) == count
    return originals


def cli(redis_base: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "varcade_workers", "dead-letters", *args, "--stream", STREAM,
         "--redis", f"{redis_base}/3"],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip


def test_list_shows_ids_original_ids_errors_and_deliveries(
    redis_base: str, stream_redis: redis.Redis
) -> None:
    originals = make_dead_letters(stream_redis, 2)
    result = cli(redis_base, "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{DEAD}: 2 dead letter(s), showing 2"
    for line, original in zip(lines[1:], originals, strict=True):
        assert f"original_id={original}" in line
        assert "deliveries=1" in line and "error=DeadLetter: cannot be handled" in line
        assert "group=g" in line


def test_replay_puts_original_fields_back_and_the_worker_handles_them(
    redis_base: str, stream_redis: redis.Redis
) -> None:
    make_dead_letters(stream_redis, 2)
    [first, second] = list_dead_letters(stream_redis, DEAD)
    result = cli(redis_base, "replay", "--ids", first.id)
    assert result.returncode == 0, result.stderr
    assert f"replayed {first.id} -> {STREAM}" in result.stdout
    assert [e.id for e in list_dead_letters(stream_redis, DEAD)] == [second.id]
    _, fields = stream_redis.xrevrange(STREAM, count=1)[0]
    original = {"product_id": "exrps", "game_id": "bad0", "dead": "1"}
    # no dl_* fields; the original id and the group that gave up ride along
    assert fields == {**original, REPLAY_OF: first.original_id, REPLAY_GROUP: "g"}
    # the cause is fixed now: a worker that accepts it handles the replayed event

    fixed = Fixed(stream_redis, STREAM, "g", block_ms=0)
    assert fixed.run() == 1
    # under its original id, without the replay fields
    assert fixed.handled == [(first.original_id, original)]
    assert int(stream_redis.xpending(STREAM, "g")["pending"]) == 0


class Fixed(Recorder):
    """The cause of the dead letters is fixed: it handles everything."""

    def handle_event(self, event_id: str, fields: dict[str, str]) -> None:
        self.handled.append((event_id, fields))


def test_replay_reaches_only_the_group_that_dead_lettered_it(stream_redis: redis.Redis) -> None:
    stream_redis.xgroup_create(STREAM, "other", id="0", mkstream=True)
    make_dead_letters(stream_redis, 1)  # group g gave up; group other has not read yet
    other = Fixed(stream_redis, STREAM, "other", block_ms=0)
    assert other.run() == 1  # the original entry, handled fine by this group
    assert main(["dead-letters", "replay", "--all", "--stream", STREAM], client=stream_redis) == 0
    assert other.run() == 0  # the replay is g's: acked, not handed to this group's handler
    assert len(other.handled) == 1
    fixed = Fixed(stream_redis, STREAM, "g", block_ms=0)
    assert fixed.run() == 1
    assert fixed.handled[0][0] == other.handled[0][0]  # the same (original) event id
    for group in ("g", "other"):
        assert int(stream_redis.xpending(STREAM, group)["pending"]) == 0
    other.close()
    fixed.close()


class OnceCounter(EventStreamWorker):
    """Counts events with ExactlyOnce; fails after its writes while `explode` is set."""

    def __init__(self, client: redis.Redis, data: redis.Redis, **options: Any) -> None:
        super().__init__(client, STREAM, "counter", block_ms=0, **options)
        self.once = ExactlyOnce(data, "t")
        self.explode = 0
        self.seen: list[str] = []

    def handle_event(self, event_id: str, fields: dict[str, str]) -> None:
        self.seen.append(event_id)
        self.once.apply(event_id, lambda pipe: pipe.incr("count"))
        if self.explode:
            self.explode -= 1
            raise RuntimeError("failed after the writes, before the ack")


def test_replayed_event_counted_once_across_a_redelivery(
    stream_redis: redis.Redis, data_redis: redis.Redis
) -> None:
    [original_id] = [str(stream_redis.xadd(STREAM, {"product_id": "exrps", "game_id": "g1"}))]
    counter = OnceCounter(stream_redis, data_redis, max_deliveries=1, claim_idle_ms=1)
    counter.explode = 1  # written, then failed: dead-lettered at once (max_deliveries=1)
    assert counter.run() == 0
    assert stream_redis.xlen(DEAD) == 1 and data_redis.get("count") == "1"
    assert main(["dead-letters", "replay", "--all", "--stream", STREAM], client=stream_redis) == 0
    retry = OnceCounter(stream_redis, data_redis, max_deliveries=3, claim_idle_ms=1)
    retry.explode = 1  # the replay fails after its (skipped) writes: pending, claimed again
    retry.run()
    time.sleep(0.01)  # idle longer than claim_idle_ms
    assert retry.run() == 1
    assert retry.seen == [original_id, original_id]  # the original id both times
    assert data_redis.get("count") == "1"  # counted once in all
    assert int(stream_redis.xpending(STREAM, "counter")["pending"]) == 0
    assert stream_redis.xlen(DEAD) == 0
    retry.close()


def test_purge_needs_ids_or_all_and_deletes(redis_base: str, stream_redis: redis.Redis) -> None:
    make_dead_letters(stream_redis, 3)
    [first, *_] = list_dead_letters(stream_redis, DEAD)
    refused = cli(redis_base, "purge")
    assert refused.returncode == 2 and "--ids" in refused.stderr
    assert stream_redis.xlen(DEAD) == 3
    assert "1 purged" in cli(redis_base, "purge", "--ids", first.id).stdout
    missing = cli(redis_base, "purge", "--ids", first.id)
    assert missing.returncode == 1 and "no dead letter" in missing.stderr
    assert "2 purged" in cli(redis_base, "purge", "--all").stdout
    assert stream_redis.xlen(DEAD) == 0


def test_replay_all_in_process(
    stream_redis: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    make_dead_letters(stream_redis, 2)
    before = stream_redis.xlen(STREAM)
    assert main(["dead-letters", "replay", "--all", "--stream", STREAM], client=stream_redis) == 0
    assert "2 replayed" in capsys.readouterr().out
    assert stream_redis.xlen(STREAM) == before + 2 and stream_redis.xlen(DEAD) == 0


@pytest.mark.parametrize("action", ["list", "replay", "purge"])
def test_help(action: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "varcade_workers", "dead-letters", action, "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and "--stream" in result.stdout


def test_unreachable_redis_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    from varcade_workers.testing import free_port

    url = f"redis://127.0.0.1:{free_port()}/3"
    assert main(["dead-letters", "list", "--stream", STREAM, "--redis", url]) == 1
    assert f"error: Redis at {url}" in capsys.readouterr().err
