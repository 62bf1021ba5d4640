"""Events reach the stream in order even when Redis goes away mid-game; overflow is never silent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from conftest import (
    connected,
    entries,
    eventually,
    ready,
    rock_beats_scissors,
    run,
    running_server,
    seqs,
)
from game_rps.bot import ROCK, SCISSORS, always, is_round_event
from game_rps.event_log import EventLog
from game_rps.metrics import ServerMetrics
from varcade_workers.testing import RedisServer, redis_base_url, redis_db

from varcade_workers import events

LOG_DB = 13


def _event(i: int) -> events.Event:
    return events.PlayerDisconnect("exrps", f"g{i}", f"u{i}")


@pytest.fixture
def log_stream() -> Iterator[tuple[str, str]]:
    with redis_db(LOG_DB):
        yield f"{redis_base_url()}/{LOG_DB}", "test_game_rps_event_log"


def test_events_are_written_in_order_and_capped(log_stream: tuple[str, str]) -> None:
    url, key = log_stream

    async def body() -> None:
        client = aioredis.Redis.from_url(url, decode_responses=True)
        log = EventLog(client, events.EventProducer(None, stream=key, maxlen=50), batch_size=7)
        log.start()
        for i in range(500):
            log.publish(_event(i))
        assert await log.flush(10)
        await log.stop()
        got = await client.xrange(key)
        ids = [int(f["game_id"][1:]) for _, f in got]
        assert ids == sorted(ids) and ids[-1] == 499  # order kept, newest present
        assert 50 <= len(got) < 500  # MAXLEN ~ 50 trimmed the stream
        assert log.written == 500 and log.buffered == 0
        await client.aclose()

    run(body())


def test_a_full_buffer_drops_new_events_loudly(
    log_stream: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    url, key = log_stream

    async def body() -> None:
        client = aioredis.Redis.from_url(url, decode_responses=True)
        metrics = ServerMetrics()
        log = EventLog(client, events.EventProducer(None, stream=key), capacity=3, metrics=metrics)
        for i in range(5):  # the writer is not running yet: the buffer fills up
            log.publish(_event(i))
        assert log.buffered == 3 and log.dropped == 2
        assert metrics.events_dropped._value.get() == 2
        log.start()
        await log.stop()
        got = [f["game_id"] for _, f in await client.xrange(key)]
        assert got == ["g0", "g1", "g2"]  # what was kept is written, in order
        await client.aclose()

    with caplog.at_level(logging.ERROR, logger="game_rps.event_log"):
        run(body())
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 2 and dropped[0].game_id == "g3"  # type: ignore[attr-defined]


def _bad_events() -> list[events.Event]:
    """Events the stream cannot carry (none reaches the log through the control API, which
    refuses such ids; a bug or a new code path could still build one)."""
    return [
        events.PlayerDisconnect("exrps", "\ud800", "u"),  # a lone surrogate: not encodable
        events.PlayerDisconnect("exrps", "g" * (4 * 1024 * 1024), "u"),  # a 4 MiB id
        events.PlayerDisconnect("exrps", "g\x00\n", "u"),  # control characters
        events.FighterSelected("exrps", "g-ok", "u" * 129, "aru"),  # a too long user_id
        events.FighterSelected("exrps", "g-ok", "u", "x" * 2000),  # a too long value
    ]


def test_events_that_cannot_be_written_are_set_aside_and_the_rest_written_in_order(
    log_stream: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    url, key = log_stream
    bad = _bad_events()
    metrics = ServerMetrics()

    async def body() -> EventLog:
        client = aioredis.Redis.from_url(url, decode_responses=True)
        log = EventLog(client, events.EventProducer(None, stream=key), metrics=metrics)
        log.start()
        for i in range(20):
            log.publish(_event(i))
            if i % 4 == 1:
                log.publish(bad[i // 4])
        assert await log.flush(5)  # nothing wedged
        await log.stop()
        got = [f["game_id"] for _, f in await client.xrange(key)]
        assert got == [f"g{i}" for i in range(20)]  # every other event, in order
        await client.aclose()
        return log

    with caplog.at_level(logging.ERROR, logger="game_rps.event_log"):
        log = run(body())
    assert log.rejected_total == len(bad) == metrics.events_rejected._value.get()
    assert log.written == 20 and log.dropped == 0 and log.buffered == 0
    assert [r.event for r in log.rejected] == bad  # kept for inspection, with why
    assert "not valid Unicode" in log.rejected[0].error
    assert "too long" in log.rejected[1].error and "control characters" in log.rejected[2].error
    lines = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert len(lines) == len(bad)  # one line each
    for record, event in zip(lines, bad, strict=True):
        fields = record.__dict__
        assert fields["type"] == event.event_type and fields["product_id"] == "exrps"
        assert fields["error"] and not record.exc_info
        game_id = fields["game_id"]  # printable, short, whatever the id was
        assert game_id.isascii() and game_id.isprintable() and len(game_id) < 120
    assert lines[0].__dict__["game_id"] == "'\\ud800'"
    assert lines[3].__dict__["game_id"] == "g-ok"


def test_the_rejected_list_is_bounded(log_stream: tuple[str, str]) -> None:
    url, key = log_stream

    async def body() -> EventLog:
        client = aioredis.Redis.from_url(url, decode_responses=True)
        log = EventLog(client, events.EventProducer(None, stream=key), rejected_kept=10)
        for i in range(25):
            log.publish(events.PlayerDisconnect("exrps", f"g{i}\x07", "u"))
        await client.aclose()
        return log

    log = run(body())
    assert log.rejected_total == 25 and log.buffered == 0
    assert [r.event.game_id for r in log.rejected] == [f"g{i}\x07" for i in range(15, 25)]


class _PoisonedClient:
    """A real client whose pipelines fail, the way an encoder would (before anything is sent),
    with a non-Redis error for any batch holding the game id ``poison``."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.batches: list[int] = []

    def pipeline(self, transaction: bool = True) -> _PoisonedPipeline:
        return _PoisonedPipeline(self, self.client.pipeline(transaction=transaction))


class _PoisonedPipeline:
    def __init__(self, owner: _PoisonedClient, pipe: Any) -> None:
        self.owner = owner
        self.pipe = pipe
        self.game_ids: list[str] = []

    def xadd(self, name: str, fields: dict[str, str], **kwargs: Any) -> None:
        self.game_ids.append(fields["game_id"])
        self.pipe.xadd(name, fields, **kwargs)

    async def execute(self) -> Any:
        self.owner.batches.append(len(self.game_ids))
        if "poison" in self.game_ids:
            await self.pipe.reset()
            raise TypeError("cannot encode this")
        return await self.pipe.execute()


def test_a_non_redis_error_writing_a_batch_sets_aside_only_the_event_that_fails(
    log_stream: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    url, key = log_stream

    async def body() -> tuple[EventLog, _PoisonedClient]:
        client = aioredis.Redis.from_url(url, decode_responses=True)
        poisoned = _PoisonedClient(client)
        log = EventLog(
            poisoned,  # type: ignore[arg-type]
            events.EventProducer(None, stream=key),
            batch_size=50,
        )
        for i in range(10):  # buffered before the writer starts: one batch of 11
            log.publish(_event(i))
            if i == 4:
                log.publish(events.PlayerDisconnect("exrps", "poison", "u"))
        log.start()
        assert await log.flush(5)
        for i in range(10, 13):  # the writer goes on as before
            log.publish(_event(i))
        assert await log.flush(5)
        await log.stop()
        got = [f["game_id"] for _, f in await client.xrange(key)]
        assert got == [f"g{i}" for i in range(13)]
        await client.aclose()
        return log, poisoned

    with caplog.at_level(logging.WARNING, logger="game_rps.event_log"):
        log, poisoned = run(body())
    assert log.rejected_total == 1 and log.rejected[0].event.game_id == "poison"
    assert log.rejected[0].error == "TypeError: cannot encode this"
    assert log.written == 13
    assert poisoned.batches[:12] == [11] + [1] * 11  # the batch, then its events one by one
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("writing a batch of events failed, writing them one by one") == 1
    assert messages.count("event rejected, cannot be written to the stream") == 1
    assert not any(r.exc_info for r in caplog.records)


def test_redis_stopped_and_restarted_mid_game(caplog: pytest.LogCaptureFixture) -> None:
    with RedisServer(appendonly=True) as server:
        url = f"{server.url}/9"
        stream = server.client(9, decode_responses=True)

        async def body() -> str:
            async with running_server(url) as h:
                game_id, token = await h.new_game("alice", "bob")
                host_bot = h.bot(token, "alice", "aru", always(ROCK))
                guest_bot = h.bot(token, "bob", "man", always(SCISSORS))
                async with connected(host_bot, guest_bot) as (alice, bob):
                    for bot in (alice, bob):
                        await ready(bot)
                    await alice.wait_for(lambda m: is_round_event(m, 3))  # one exchange done
                    await h.flush()
                    written = len(entries(stream, game_id))
                    await asyncio.to_thread(server.stop)
                    # the game goes on without Redis, to the end
                    result = await alice.wait_closed(30)
                    assert result.winner_id == "alice"
                    assert h.server.event_log.buffered > 0
                    assert h.server.event_log.redis_down
                    status, text = await h.get("/healthz")
                    assert status == 503 and "the event stream's Redis is unreachable" in text
                    assert (await h.get("/livez"))[0] == 200  # nothing to restart
                    await asyncio.to_thread(server.start)
                    await h.flush()
                    await eventually(lambda: not h.server.event_log.redis_down)
                    assert written >= 9
                return game_id

        with caplog.at_level(logging.INFO, logger="game_rps.event_log"):
            game_id = run(body())
        assert entries(stream, game_id) == rock_beats_scissors(game_id)
        assert seqs(stream, game_id) == list(range(1, len(rock_beats_scissors(game_id)) + 1))
        stream.close()
    # one line when the stream went away, one when it was back: not one per retry, no traceback
    records = [r for r in caplog.records if r.name == "game_rps.event_log"]
    assert [(r.levelname, r.getMessage()) for r in records] == [
        ("WARNING", "event stream unavailable, buffering events"),
        ("INFO", "event stream available again"),
    ]
    assert "Connection" in records[0].__dict__["error"] and not records[0].exc_info
