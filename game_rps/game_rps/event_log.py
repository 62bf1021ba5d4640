"""Writes game events to the stream, in order, without ever making a game wait for Redis.

Games call :meth:`EventLog.publish`, which only appends to a bounded in-memory buffer; one writer
task drains it with pipelined XADDs (``MAXLEN ~`` from the producer). While Redis is unreachable
the games go on, the buffer grows, and the writer retries with backoff; when Redis is back the
buffered events are written in the order they happened. The buffer is bounded: when it is full a
new event is dropped, and that is logged and counted (`game_rps_events_dropped`), never silent.

One event that cannot be written never holds up the others. :meth:`EventLog.publish` builds the
entry at once (``producer.xadd_args``: the stream's size bounds, encodable text); an event that
fails is *rejected*: one error log line (game_id, product_id, type, error), counted
(`game_rps_events_rejected`), kept in the short :attr:`EventLog.rejected` list for inspection, and
never buffered. Should writing a batch still fail with an error that is not Redis trouble (a bug,
a value the client cannot encode), the writer writes that batch's events one by one, rejects the
one that fails, and goes on with the next. Redis trouble (unreachable, timeouts, an error reply)
is the only failure that is retried: those events are fine and Redis will be back.

:attr:`EventLog.unwritten_seconds` says for how long events have been waiting without the writer
getting anywhere (the game server's ``/healthz`` answers 503 past a threshold). The writer logs one
line when the stream becomes unavailable and one when it is back, never one per retry.

A batch is one MULTI/EXEC, so Redis applies it whole or not at all. Known limit: if Redis applied
a batch and the connection died before its reply arrived, the retry writes that batch again
(at-least-once, with new entry ids, the same ``seq``); that needs a crash inside one round trip.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import DataError, RedisError

from game_rps.metrics import ServerMetrics
from varcade_workers import events

log = logging.getLogger("game_rps.event_log")

#: How many rejected events :attr:`EventLog.rejected` keeps (the newest; the count is exact).
REJECTED_KEPT = 100
_LOGGED_ID_CHARS = 64


@dataclass(frozen=True)
class RejectedEvent:
    """An event that could not be written, set aside: what it was, why, and when (epoch s)."""

    event: events.Event
    error: str
    at: float


@dataclass(frozen=True)
class _Pending:
    """A buffered event and the entry fields built (and checked) when it was published."""

    event: events.Event
    fields: dict[str, str]


def is_redis_trouble(exc: BaseException) -> bool:
    """True for failures of Redis or of the way to it, which retrying heals; False for a failure
    of the data (DataError is redis-py refusing to encode a value: retrying cannot help)."""
    return isinstance(exc, (RedisError, OSError)) and not isinstance(exc, DataError)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def loggable(value: object) -> str:
    """An id as it can go into a log line: itself when it keeps the stream's bounds, else a
    short ASCII rendering (a rejected event's id may be megabytes, or not even encodable)."""
    if isinstance(value, str):
        try:
            return events.check_id(value)
        except ValueError:
            pass
        text = ascii(value[:_LOGGED_ID_CHARS])
        if len(value) > _LOGGED_ID_CHARS:
            text += f"...({len(value)} characters)"
        return text
    return ascii(value)[:_LOGGED_ID_CHARS]


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
        rejected_kept: int = REJECTED_KEPT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.producer = producer
        self.capacity = capacity
        self.batch_size = batch_size
        self.metrics = metrics or ServerMetrics()
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._clock = clock
        self._buffer: collections.deque[_Pending] = collections.deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._redis_down = False
        # When the writer last got somewhere (wrote or set aside the head), or when the buffer
        # last stopped being empty: the start of the current wait, if events are waiting.
        self._last_progress = clock()
        self.dropped = 0
        self.written = 0
        self.rejected_total = 0
        #: The newest rejected events (at most ``rejected_kept``), oldest first.
        self.rejected: collections.deque[RejectedEvent] = collections.deque(maxlen=rejected_kept)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def redis_down(self) -> bool:
        """True after a failed write, until a write succeeds again."""
        return self._redis_down

    @property
    def unwritten_seconds(self) -> float:
        """For how long events have been buffered without the writer getting anywhere (0 when
        nothing is buffered)."""
        if not self._buffer:
            return 0.0
        return max(0.0, self._clock() - self._last_progress)

    def publish(self, event: events.Event) -> None:
        """Queue `event` for the stream; never blocks, never raises (Redis trouble, a full buffer
        or an event the stream cannot carry are logged and counted)."""
        try:
            _, fields, _ = self.producer.xadd_args(event)
        except Exception as exc:  # ValueError for the bounds; anything else is a bug: same fate
            self._reject(event, exc)
            return
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
        if not self._buffer:
            self._last_progress = self._clock()
        self._buffer.append(_Pending(event, fields))
        self.metrics.events_buffered.set(len(self._buffer))
        self._idle.clear()
        self._wake.set()

    def _reject(self, event: events.Event, exc: BaseException) -> None:
        self.rejected_total += 1
        self.metrics.events_rejected.inc()
        error = _describe(exc)
        self.rejected.append(RejectedEvent(event, error, time.time()))
        log.error(
            "event rejected, cannot be written to the stream",
            extra={
                "game_id": loggable(getattr(event, "game_id", None)),
                "product_id": loggable(getattr(event, "product_id", None)),
                "type": getattr(event, "event_type", type(event).__name__),
                "seq": getattr(event, "seq", None),
                "error": error[:300],
                "rejected_total": self.rejected_total,
            },
        )

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
                await self._write_batch(batch)
            except Exception as exc:
                if not is_redis_trouble(exc):
                    # A bug in this writer (the events' own failures are handled below): keep
                    # the order, log, and try again later.
                    log.exception("unexpected error writing events", extra={"batch": len(batch)})
                    await asyncio.sleep(self.retry_max)
                    continue
                self.metrics.event_write_errors.inc()
                if not self._redis_down:
                    log.warning(
                        "event stream unavailable, buffering events",
                        # not repr(exc): redis-py's leaves the message out
                        extra={"error": _describe(exc), "buffered": len(self._buffer)},
                    )
                self._redis_down = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            delay = self.retry_initial

    async def _write_batch(self, batch: list[_Pending]) -> None:
        """Write the head `batch` and take it off the buffer; only Redis trouble is raised."""
        try:
            await self._write(batch)
        except Exception as exc:
            if is_redis_trouble(exc):
                raise
            # Not Redis being away: one of these events cannot be written. Find it.
            log.warning(
                "writing a batch of events failed, writing them one by one",
                extra={"batch": len(batch), "error": _describe(exc)},
            )
            await self._write_one_by_one(batch)
        else:
            self._written(batch)

    async def _write_one_by_one(self, batch: list[_Pending]) -> None:
        """Write the events of a failed batch one at a time: an event whose own write fails with
        something other than Redis trouble is rejected; Redis trouble stops here (raised), with
        what was written already taken off the buffer."""
        for pending in batch:
            try:
                await self._write([pending])
            except Exception as exc:
                if is_redis_trouble(exc):
                    raise
                self._take_head(pending)
                self._reject(pending.event, exc)
                self._last_progress = self._clock()
            else:
                self._written([pending])

    def _written(self, written: list[_Pending]) -> None:
        for pending in written:
            self._take_head(pending)
        self.written += len(written)
        self.metrics.events_written.inc(len(written))
        self._last_progress = self._clock()
        if self._redis_down:
            log.info("event stream available again", extra={"buffered": len(self._buffer)})
            self._redis_down = False

    def _take_head(self, pending: _Pending) -> None:
        # publish() only appends on the right: what the writer took is still the head.
        head = self._buffer.popleft()
        assert head is pending, "the event buffer's head moved under the writer"
        self.metrics.events_buffered.set(len(self._buffer))

    async def _write(self, batch: list[_Pending]) -> None:
        pipe = self.client.pipeline(transaction=True)
        for pending in batch:
            payload: dict[Any, Any] = pending.fields
            pipe.xadd(self.producer.stream, payload, maxlen=self.producer.maxlen, approximate=True)
        await pipe.execute()
