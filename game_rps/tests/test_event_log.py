"""Events reach the stream in order even when Redis goes away mid-game; overflow is never silent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

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


def test_redis_stopped_and_restarted_mid_game() -> None:
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
                    status, _ = await h.get("/healthz")
                    assert status == 503
                    await asyncio.to_thread(server.start)
                    await h.flush()
                    await eventually(lambda: not h.server.event_log.redis_down)
                    assert written >= 9
                return game_id

        game_id = run(body())
        assert entries(stream, game_id) == rock_beats_scissors(game_id)
        stream.close()
