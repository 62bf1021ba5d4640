"""EventStreamWorker: fakeredis unit tests, then the same guarantees against a real Redis."""

from __future__ import annotations

import logging
import signal
import threading

import fakeredis
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from stream_helpers import Recorder, add_events, drain, running_child, stop_child, wait_until
from varcade_workers.stream_worker import default_consumer_name
from varcade_workers.testing import RedisServer, free_port

from varcade_workers import EventStreamWorker, WorkerManager

STREAM = "test_stream"


def pending(client: redis.Redis, group: str = "g", stream: str = STREAM) -> int:
    return int(client.xpending(stream, group)["pending"])


# -- construction ---------------------------------------------------------------------------------


def test_needs_a_handler_a_group_and_a_decoding_client(fake_redis: fakeredis.FakeRedis) -> None:
    with pytest.raises(TypeError):
        EventStreamWorker(fake_redis, STREAM, "g")
    with pytest.raises(ValueError):
        Recorder(fake_redis, STREAM)
    with pytest.raises(ValueError, match="decode_responses"):
        Recorder(fakeredis.FakeRedis(), STREAM, "g")


def test_names_and_consumer_defaults(fake_redis: fakeredis.FakeRedis) -> None:
    worker = Recorder(fake_redis, STREAM, "g")
    assert worker.get_name() == f"g:{STREAM}"
    assert Recorder(fake_redis, STREAM, "g", name="mine").get_name() == "mine"
    assert worker.dead_letter_stream == f"{STREAM}:dead"
    assert default_consumer_name() != default_consumer_name()
    assert worker.consumer != Recorder(fake_redis, STREAM, "g").consumer


def test_url_client_decodes_and_outlasts_the_blocking_read(redis_base: str) -> None:
    worker = Recorder(f"{redis_base}/3", STREAM, "g", block_ms=4000)
    kwargs = worker.redis.connection_pool.connection_kwargs
    assert kwargs["decode_responses"] is True
    assert kwargs["socket_timeout"] > 4
    worker.redis.close()


def test_block_ms_is_clamped_below_the_client_socket_timeout(redis_base: str) -> None:
    client = redis.Redis.from_url(f"{redis_base}/3", decode_responses=True, socket_timeout=2)
    assert Recorder(client, STREAM, "g", block_ms=5000).block_ms < 2000
    client.close()


# -- consuming (fakeredis) ------------------------------------------------------------------------


def test_backlog_before_the_group_existed_is_consumed_and_acked(
    fake_redis: fakeredis.FakeRedis,
) -> None:
    ids = add_events(fake_redis, STREAM, 1203)
    worker = Recorder(fake_redis, STREAM, "g", batch_size=500, block_ms=0)
    counts = [worker.run() for _ in range(4)]
    assert counts == [500, 500, 203, 0]
    assert [i for i, _ in worker.handled] == ids
    assert worker.handled[7][1] == {"product_id": "exrps", "game_id": "g7", "n": "7"}
    assert pending(fake_redis) == 0


def test_start_id_dollar_skips_the_backlog(fake_redis: fakeredis.FakeRedis) -> None:
    add_events(fake_redis, STREAM, 5)
    worker = Recorder(fake_redis, STREAM, "g", block_ms=0, start_id="$")
    assert worker.run() == 0
    new = add_events(fake_redis, STREAM, 2, start=5)
    assert worker.run() == 2
    assert [i for i, _ in worker.handled] == new


def test_failed_event_stays_pending_others_are_acked(fake_redis: fakeredis.FakeRedis) -> None:
    add_events(fake_redis, STREAM, 2)
    bad = fake_redis.xadd(STREAM, {"fail": "1"})
    add_events(fake_redis, STREAM, 2, start=2)
    worker = Recorder(fake_redis, STREAM, "g", block_ms=0, claim_idle_ms=60_000)
    assert worker.run() == 4
    assert worker.run() == 0  # not retried before claim_idle_ms: no spinning on the poison event
    assert worker.attempts[bad] == 1
    rows = fake_redis.xpending_range(STREAM, "g", "-", "+", 10)
    assert [r["message_id"] for r in rows] == [bad]
    assert worker.stats.failed == 1 and worker.stats.processed == 4


def test_dead_letter_exception_dead_letters_at_once(fake_redis: fakeredis.FakeRedis) -> None:
    dead_id = fake_redis.xadd(STREAM, {"product_id": "exrps", "game_id": "g1", "dead": "1"})
    add_events(fake_redis, STREAM, 1)
    worker = Recorder(fake_redis, STREAM, "g", block_ms=0)
    assert worker.run() == 1
    assert pending(fake_redis) == 0
    [(_, fields)] = fake_redis.xrange(f"{STREAM}:dead")
    assert fields["product_id"] == "exrps" and fields["dead"] == "1"
    assert fields["dl_original_id"] == dead_id
    assert fields["dl_delivery_count"] == "1"
    assert fields["dl_error"] == "DeadLetter: cannot be handled"
    assert fields["dl_group"] == "g" and fields["dl_stream"] == STREAM
    assert worker.stats.dead_lettered == 1


def test_handle_batch_failures_are_retried_the_rest_acked(fake_redis: fakeredis.FakeRedis) -> None:
    ids = add_events(fake_redis, STREAM, 4)
    seen: list[list[str]] = []

    class Batcher(EventStreamWorker):
        def handle_batch(self, batch: list[tuple[str, dict[str, str]]]) -> dict[str, Exception]:
            seen.append([i for i, _ in batch])
            return {ids[1]: RuntimeError("no")}

    worker = Batcher(fake_redis, STREAM, "g", block_ms=0)
    assert worker.run() == 3
    assert seen == [ids]
    assert [r["message_id"] for r in fake_redis.xpending_range(STREAM, "g", "-", "+", 10)] == [
        ids[1]
    ]


def test_handle_batch_raising_leaves_the_whole_batch_pending(
    fake_redis: fakeredis.FakeRedis,
) -> None:
    add_events(fake_redis, STREAM, 3)

    class Broken(EventStreamWorker):
        def handle_batch(self, batch: list[tuple[str, dict[str, str]]]) -> dict[str, Exception]:
            raise ConnectionError("data redis away")

    assert Broken(fake_redis, STREAM, "g", block_ms=0).run() == 0
    assert pending(fake_redis) == 3


def test_vanished_group_is_recreated_and_logged(
    fake_redis: fakeredis.FakeRedis, caplog: pytest.LogCaptureFixture
) -> None:
    worker = Recorder(fake_redis, STREAM, "g", block_ms=0)
    add_events(fake_redis, STREAM, 1)
    assert worker.run() == 1
    fake_redis.delete(STREAM)  # what a Redis restarted without persistence looks like
    with caplog.at_level(logging.WARNING):
        assert worker.run() == 0
    assert "event=group_missing" in caplog.text
    add_events(fake_redis, STREAM, 2, start=1)
    assert worker.run() == 2


def test_connection_errors_back_off_exponentially_capped(caplog: pytest.LogCaptureFixture) -> None:
    sleeps: list[float] = []
    client = redis.Redis(
        port=free_port(),
        decode_responses=True,
        socket_connect_timeout=0.2,
        retry=Retry(NoBackoff(), 0),
    )
    worker = Recorder(client, STREAM, "g", sleep=sleeps.append)
    with caplog.at_level(logging.WARNING):
        assert [worker.run() for _ in range(8)] == [0] * 8
    assert sleeps == sorted(sleeps) and sleeps[0] < sleeps[3]
    assert max(sleeps) <= 2.0
    assert "event=redis_unavailable" in caplog.text


def test_worker_plugs_into_the_manager(fake_redis: fakeredis.FakeRedis) -> None:
    add_events(fake_redis, STREAM, 3)
    manager = WorkerManager().register_worker(Recorder(fake_redis, STREAM, "g", block_ms=0))
    assert manager.run_workers() == 3


# -- real Redis -----------------------------------------------------------------------------------


def test_real_backlog_full_batches_then_close_acks_and_leaves(stream_redis: redis.Redis) -> None:
    ids = add_events(stream_redis, STREAM, 1000)
    worker = Recorder(stream_redis, STREAM, "g", batch_size=500, block_ms=10)
    assert worker.run() == 500
    assert worker.run() == 500  # the first batch's ack rode with this read
    assert pending(stream_redis) == 500  # the second full batch's ack waits for the next read...
    worker.close()  # ...or for close()
    assert pending(stream_redis) == 0
    assert [i for i, _ in worker.handled] == ids
    assert stream_redis.xinfo_consumers(STREAM, "g") == []  # left the group: nothing pending


def test_poison_event_dead_lettered_after_max_deliveries_while_others_flow(
    stream_redis: redis.Redis,
) -> None:
    worker = Recorder(stream_redis, STREAM, "g", block_ms=10, claim_idle_ms=30, max_deliveries=3)
    add_events(stream_redis, STREAM, 5)
    poison = stream_redis.xadd(STREAM, {"product_id": "exrps", "game_id": "bad", "fail": "1"})
    add_events(stream_redis, STREAM, 5, start=5)
    flowed = 0

    def dead() -> bool:
        nonlocal flowed
        add_events(stream_redis, STREAM, 1, start=100 + flowed)
        flowed += 1
        worker.run()
        return stream_redis.xlen(f"{STREAM}:dead") == 1

    wait_until(dead, what="poison dead-lettered")
    worker.run()
    assert worker.attempts[poison] == 3
    assert worker.stats.processed >= 10 + flowed - 1
    [(_, fields)] = stream_redis.xrange(f"{STREAM}:dead")
    assert fields["dl_original_id"] == poison and fields["dl_delivery_count"] == "3"
    assert fields["dl_error"] == "RuntimeError: handler failed" and fields["game_id"] == "bad"
    worker.close()
    assert pending(stream_redis) == 0


def test_two_consumers_share_a_stream_without_double_handling(redis_base: str) -> None:
    clients = [redis.Redis.from_url(f"{redis_base}/3", decode_responses=True) for _ in range(3)]
    producer = clients[0]
    producer.flushdb()
    try:
        workers = [
            Recorder(c, STREAM, "g", consumer=f"c{n}", batch_size=50, block_ms=20)
            for n, c in enumerate(clients[1:])
        ]
        stop = threading.Event()

        def loop(worker: Recorder) -> None:
            while not stop.is_set():
                worker.run()
            worker.close()

        threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        ids: list[str] = []
        for n in range(20):
            ids += add_events(producer, STREAM, 100, start=n * 100)
        wait_until(lambda: sum(len(w.handled) for w in workers) >= len(ids), what="all handled")
        stop.set()
        for t in threads:
            t.join()
        handled = [i for w in workers for i, _ in w.handled]
        assert sorted(handled) == sorted(ids)  # everything once: no loss, no duplicate
        assert all(w.handled for w in workers)  # both took part
        assert pending(producer) == 0
    finally:
        producer.flushdb()
        for c in clients:
            c.close()


def test_idle_consumers_with_nothing_pending_are_removed(stream_redis: redis.Redis) -> None:
    add_events(stream_redis, STREAM, 2)
    worker = Recorder(stream_redis, STREAM, "g", block_ms=0, consumer="live", consumer_idle_ms=0)
    worker.run()
    stream_redis.xgroup_createconsumer(STREAM, "g", "ghost-empty")
    add_events(stream_redis, STREAM, 1, start=2)
    stream_redis.xreadgroup("g", "ghost-pending", {STREAM: ">"}, count=1)
    assert worker.cleanup_idle_consumers() == ["ghost-empty"]
    names = {c["name"] for c in stream_redis.xinfo_consumers(STREAM, "g")}
    assert names == {"live", "ghost-pending"}


def test_cleanup_spares_recently_active_consumers(stream_redis: redis.Redis) -> None:
    worker = Recorder(stream_redis, STREAM, "g", block_ms=0, consumer="live")
    worker.run()
    stream_redis.xreadgroup("g", "other", {STREAM: ">"}, count=1)
    assert worker.cleanup_idle_consumers() == []


def test_sigkilled_worker_mid_batch_loses_nothing(
    stream_redis: redis.Redis, data_redis: redis.Redis
) -> None:
    ids = add_events(stream_redis, STREAM, 60)
    with running_child(STREAM, "g", batch_size=20, delay=0.05) as child:
        wait_until(lambda: data_redis.llen("handled") >= 5, what="child started handling")
        stop_child(child, signal.SIGKILL)
    assert pending(stream_redis) > 0  # the killed consumer left its batch pending
    successor = Recorder(stream_redis, STREAM, "g", block_ms=10, claim_idle_ms=200)
    by_child = set(data_redis.lrange("handled", 0, -1))

    def everything_handled() -> bool:
        successor.run()
        return by_child | {i for i, _ in successor.handled} == set(ids)

    wait_until(everything_handled, what="successor finished")
    successor.close()
    assert pending(stream_redis) == 0  # nothing left pending by the dead consumer


def test_redis_restarted_with_persistence_loses_nothing() -> None:
    with RedisServer(appendonly=True) as server:
        client = server.client(decode_responses=True)
        worker = Recorder(client, STREAM, "g", block_ms=20, sleep=lambda _: None)
        ids = add_events(client, STREAM, 50)
        drain(worker, 50)
        ids += add_events(client, STREAM, 30, start=50)  # written, not yet consumed
        server.restart()
        for _ in range(3):
            worker.run()  # the first turns may meet the restart
        ids += add_events(client, STREAM, 20, start=80)
        drain(worker, 100)
        worker.close()
        handled = [i for i, _ in worker.handled]
        assert sorted(set(handled)) == sorted(ids)
        assert pending(client) == 0
        client.close()


def test_redis_restarted_without_persistence_recreates_the_group(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with RedisServer(appendonly=False) as server:
        client = server.client(decode_responses=True)
        worker = Recorder(client, STREAM, "g", block_ms=20, sleep=lambda _: None)
        add_events(client, STREAM, 10)
        drain(worker, 10)
        server.restart()  # everything is gone: stream and group
        with caplog.at_level(logging.WARNING):
            wait_until(lambda: worker.run() >= 0 and client.exists(STREAM) == 1, what="recreate")
        assert "event=group_missing" in caplog.text
        new = add_events(client, STREAM, 5, start=10)
        drain(worker, 15)
        assert [i for i, _ in worker.handled][-5:] == new
        client.close()
