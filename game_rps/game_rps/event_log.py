"""Writes game events to the stream, in order, without ever making a game wait for Redis.

Games call :meth:`EventLog.publish`, which only appends to a bounded in-memory buffer; one writer
task drains it with pipelined XADDs (``MAXLEN ~`` from the producer). While Redis is unreachable
the games go on, the buffer grows, and the writer retries with backoff; when Redis is back the
buffered events are written in the order they happened. The buffer is bounded: when it is full a
new event is dropped, and that is logged and counted (`game_rps_events_dropped`), never silent.

A batch is one MULTI/EXEC, so Redis applies it whole or not at all. Known limit: if Redis applied
a batch and the connection died before its reply arrived, the retry writes that batch again
(at-least-once, with new entry ids); that needs a crash inside one round trip.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from game_rps.metrics import ServerMetrics
from varcade_workers import events

log = logging.getLogger("game_rps.event_log")


class EventLog:
    """An ordered, bounded buffer of events and the task that writes them to the stream."""

    def __init__(
        self,
        client: aioredis.Redis,
        producer: events.EventProducer,
        *,
        capacity: int = 100_000,
        batch_size: int = 200,
        metrics: ServerMetrics | None = None,
        retry_initial: float = 0.05,
        retry_max: float = 1.0,
    ) -> None:
        self.client = client
        self.producer = producer
        self.capacity = capacity
        self.batch_size = batch_size
        self.metrics = metrics or ServerMetrics()
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._buffer: collections.deque[events.Event] = collections.deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._redis_down = False
        self.dropped = 0
        self.written = 0

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def redis_down(self) -> bool:
        """True after a failed write, until a write succeeds again."""
        return self._redis_down

    def publish(self, event: events.Event) -> None:
        """Queue `event` for the stream; never blocks, never raises for Redis trouble."""
        if len(self._buffer) >= self.capacity:
            self.dropped += 1
            self.metrics.events_dropped.inc()
            log.error(
                "event buffer full, event dropped",
                extra={
                    "game_id": event.game_id,
                    "product_id": event.product_id,
                    "type": event.event_type,
                    "buffered": len(self._buffer),
                    "dropped_total": self.dropped,
                },
            )
            return
        self._buffer.append(event)
        self.metrics.events_buffered.set(len(self._buffer))
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="event-log")

    async def flush(self, timeout: float) -> bool:
        """Wait until everything buffered is written; False if `timeout` ran out first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def stop(self, timeout: float = 5.0) -> None:
        """Write what is buffered (up to `timeout` seconds), then stop the writer."""
        if not await self.flush(timeout):
            log.error("event log stopped with events unwritten", extra={"lost": self.buffered})
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = self.retry_initial
        while True:
            if not self._buffer:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._buffer[i] for i in range(min(self.batch_size, len(self._buffer)))]
            try:
                await self._write(batch)
            except (RedisError, OSError) as exc:
                self.metrics.event_write_errors.inc()
                if not self._redis_down:
                    log.warning(
                        "event stream unreachable, buffering events",
                        extra={"error": repr(exc), "buffered": len(self._buffer)},
                    )
                self._redis_down = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            except Exception:
                # A bug (not Redis being away): keep the order, log, and try again later.
                log.exception("unexpected error writing events", extra={"batch": len(batch)})
                await asyncio.sleep(self.retry_max)
                continue
            for _ in batch:  # publish() only appends on the right: the batch is still the head
                self._buffer.popleft()
            self.written += len(batch)
            self.metrics.events_written.inc(len(batch))
            self.metrics.events_buffered.set(len(self._buffer))
            if self._redis_down:
                log.info("event stream reachable again", extra={"buffered": len(self._buffer)})
                self._redis_down = False
            delay = self.retry_initial

    async def _write(self, batch: list[events.Event]) -> None:
        pipe = self.client.pipeline(transaction=True)
        for event in batch:
            stream, fields, maxlen = self.producer.xadd_args(event)
            payload: dict[Any, Any] = fields
            pipe.xadd(stream, payload, maxlen=maxlen, approximate=True)
        await pipe.execute()
