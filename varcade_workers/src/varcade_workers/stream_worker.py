"""Consuming a Redis stream with a consumer group: at-least-once, poison-proof, restart-proof.

Why it looks the way it does:
- An event is acked only after its handler returned, so a crash loses nothing; a crashed consumer's
  pending events are taken over with XAUTOCLAIM once idle for `claim_idle_ms` (by any consumer).
- A failing event stays pending and is retried only after `claim_idle_ms`, so a poison event never
  makes the worker spin nor blocks the events behind it; after `max_deliveries` it is dead-lettered.
- Throughput: on the happy path there is one round trip per batch. Acks of a full batch travel in
  the same pipeline as the next read; stale claims and consumer cleanup run on a timer.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from operator import itemgetter

import redis

from varcade_workers.errors import DeadLetter
from varcade_workers.events import REPLAY_FIELDS, REPLAY_GROUP, REPLAY_OF, STREAM
from varcade_workers.metrics import WorkerStats
from varcade_workers.redis_clients import redis_client
from varcade_workers.settings import STREAM_DEFAULTS
from varcade_workers.worker_manager import AsyncWorker

logger = logging.getLogger(__name__)

__all__ = [
    "DEAD_LETTER_FIELDS",
    "Batch",
    "EventStreamWorker",
    "default_consumer_name",
    "default_dead_letter_stream",
]

#: One batch as handed to `handle_batch`: (entry id, decoded fields) in stream order.
Batch = list[tuple[str, dict[str, str]]]

#: Field names the dead-letter entries add to the original fields (reserved: `dl_` prefix).
DEAD_LETTER_FIELDS = (
    "dl_error",
    "dl_delivery_count",
    "dl_original_id",
    "dl_stream",
    "dl_group",
    "dl_consumer",
)


def default_dead_letter_stream(stream: str) -> str:
    """Where a stream's dead letters go unless a worker is told otherwise."""
    return f"{stream}:dead"


_MAX_BACKOFF_SECONDS = 2.0
_entry_id = itemgetter(0)
_CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError)


def _is_nogroup(exc: redis.ResponseError) -> bool:
    # Redis says NOGROUP (redis-py prefixes pipeline errors); fakeredis words it differently.
    text = str(exc)
    return "NOGROUP" in text or "requires the key to exist" in text


def default_consumer_name() -> str:
    """Unique per process, readable in XINFO: host, pid and a random suffix (pids get reused)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def _client(redis_or_url: redis.Redis | str, block_ms: int) -> redis.Redis:
    if isinstance(redis_or_url, str):
        # The socket timeout must outlast the blocking read.
        return redis_client(redis_or_url, socket_timeout=block_ms / 1000 + 5)
    kwargs = redis_or_url.connection_pool.connection_kwargs
    if not kwargs.get("decode_responses"):
        raise ValueError(
            "EventStreamWorker needs a client created with decode_responses=True "
            "(handlers receive dict[str, str]); or pass a URL"
        )
    return redis_or_url


class EventStreamWorker(AsyncWorker):
    """An `AsyncWorker` whose `run()` consumes one batch of a stream through a consumer group.

    Override `handle_event` (one event; raise to retry later, raise `DeadLetter` to give up at once)
    or `handle_batch` (the whole batch, e.g. in one pipeline; return the failures).
    """

    def __init__(
        self,
        redis: redis.Redis | str,
        stream: str = STREAM,
        group: str = "",
        consumer: str | None = None,
        *,
        batch_size: int = STREAM_DEFAULTS["batch_size"],
        block_ms: int = STREAM_DEFAULTS["block_ms"],
        claim_idle_ms: int = STREAM_DEFAULTS["claim_idle_ms"],
        max_deliveries: int = STREAM_DEFAULTS["max_deliveries"],
        dead_letter_stream: str | None = None,
        dead_letter_maxlen: int = 100_000,
        start_id: str = "0",
        name: str | None = None,
        consumer_idle_ms: int = 3_600_000,
        cleanup_interval_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if type(self).handle_event is EventStreamWorker.handle_event and (
            type(self).handle_batch is EventStreamWorker.handle_batch
        ):
            raise TypeError(f"{type(self).__name__} must override handle_event or handle_batch")
        if not group:
            raise ValueError("group is required (each service consumes with its own group)")
        if batch_size < 1 or max_deliveries < 1 or claim_idle_ms < 1 or block_ms < 0:
            raise ValueError(
                "batch_size, max_deliveries, claim_idle_ms must be >= 1; block_ms >= 0"
            )
        self.redis = _client(redis, block_ms)
        socket_timeout = self.redis.connection_pool.connection_kwargs.get("socket_timeout")
        if socket_timeout is not None and block_ms >= socket_timeout * 1000:
            clamped = max(0, int(socket_timeout * 1000) - 500)
            logger.warning(
                "event=block_ms_clamped block_ms=%d socket_timeout=%s clamped=%d",
                block_ms,
                socket_timeout,
                clamped,
            )
            block_ms = clamped
        self.stream = stream
        self.group = group
        self.consumer = consumer or default_consumer_name()
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries
        self.dead_letter_stream = dead_letter_stream or default_dead_letter_stream(stream)
        self.dead_letter_maxlen = dead_letter_maxlen
        self.start_id = start_id
        self.consumer_idle_ms = consumer_idle_ms
        self.cleanup_interval_s = cleanup_interval_s
        self.stats = WorkerStats()
        self._name = name
        self._clock = clock
        self._sleep = sleep
        self._group_ready = False
        self._to_ack: list[str] = []
        # Claims are checked at start (a dead predecessor's events) and then on a timer.
        self._claim_interval_s = min(claim_idle_ms / 2000, 5.0)
        self._next_claim = clock()
        self._claim_cursor = "0-0"
        self._next_cleanup = clock() + cleanup_interval_s
        self._failures = 0

    # -- the handler API -------------------------------------------------------------------------

    def handle_event(self, event_id: str, fields: dict[str, str]) -> None:
        """Apply one event. Raise to leave it pending for a retry; raise `DeadLetter` to give up."""
        raise NotImplementedError

    def handle_batch(self, batch: Batch) -> dict[str, Exception]:
        """Apply a batch; return {event id: exception} for the failures (the rest are acked)."""
        failures: dict[str, Exception] = {}
        handle = self.handle_event
        for event_id, fields in batch:
            try:
                handle(event_id, fields)
            except Exception as exc:
                failures[event_id] = exc
        return failures

    # -- AsyncWorker -----------------------------------------------------------------------------

    def get_name(self) -> str:
        return self._name or f"{self.group}:{self.stream}"

    def run(self) -> int:
        """Read one batch (stale claims first), handle it, ack it; return how many succeeded."""
        try:
            handled = self._run_once()
        except _CONNECTION_ERRORS as exc:
            self._on_connection_error(exc)
            return 0
        except redis.ResponseError as exc:
            if not _is_nogroup(exc):
                raise
            self._recreate_group()
            return 0
        if self._failures:
            logger.info(
                "event=redis_reconnected worker=%s after_failures=%d",
                self.get_name(),
                self._failures,
            )
            self._failures = 0
        return handled

    def close(self) -> None:
        """Send the acks still held, and leave the group if nothing is pending for this consumer.

        `run_worker_process` calls it at shutdown; call it yourself when you drive `run()` directly.
        """
        try:
            self.flush_acks()
            pending = self.redis.xpending_range(
                self.stream, self.group, "-", "+", 1, consumername=self.consumer
            )
            if not pending:
                self.redis.xgroup_delconsumer(self.stream, self.group, self.consumer)
        except (*_CONNECTION_ERRORS, redis.ResponseError) as exc:
            logger.warning("event=close_failed worker=%s error=%r", self.get_name(), exc)

    def flush_acks(self) -> None:
        """Ack the handled events whose ack was waiting to ride with the next read."""
        if self._to_ack:
            self.redis.xack(self.stream, self.group, *self._to_ack)
            self._to_ack = []

    # -- one turn --------------------------------------------------------------------------------

    def _run_once(self) -> int:
        if not self._group_ready:
            self._create_group()
        now = self._clock()
        if now >= self._next_cleanup:
            self._next_cleanup = now + self.cleanup_interval_s
            self.cleanup_idle_consumers()
        batch: Batch = []
        deliveries: dict[str, int] = {}
        if now >= self._next_claim:
            batch, deliveries = self._claim_stale()
        if not batch:
            batch = self._read_new()
        if not batch:
            return 0
        full = len(batch) >= self.batch_size
        for _, fields in batch:
            if REPLAY_OF in fields:  # rare: a dead letter replayed into the stream
                batch, aliases = self._unwrap_replays(batch, deliveries)
                return self._process(batch, deliveries, full, aliases)
        return self._process(batch, deliveries, full, None)

    def _unwrap_replays(
        self, batch: Batch, deliveries: dict[str, int]
    ) -> tuple[Batch, dict[str, str]]:
        """Replayed entries: skip (ack) those meant for another group; hand ours to the handler
        under their original id without the replay fields, so ExactlyOnce markers match.

        Returns the batch to handle and {original id: entry id} for the acks. ``deliveries`` is
        re-keyed to original ids in place.
        """
        entry_ids = {entry_id for entry_id, _ in batch}
        unwrapped: Batch = []
        aliases: dict[str, str] = {}
        skipped: list[str] = []
        for entry_id, fields in batch:
            original = fields.get(REPLAY_OF)
            if original is None:
                unwrapped.append((entry_id, fields))
                continue
            group = fields.get(REPLAY_GROUP)
            if (group and group != self.group) or original in aliases or original in entry_ids:
                # Another group's replay, or this very event twice in one batch: acked unhandled.
                skipped.append(entry_id)
                continue
            aliases[original] = entry_id
            if entry_id in deliveries:
                deliveries[original] = deliveries.pop(entry_id)
            unwrapped.append(
                (original, {k: v for k, v in fields.items() if k not in REPLAY_FIELDS})
            )
        if skipped:
            self._to_ack.extend(skipped)
        if aliases:
            logger.info(
                "event=replay_received worker=%s count=%d original_ids=%s",
                self.get_name(),
                len(aliases),
                ",".join(aliases),
            )
        return unwrapped, aliases

    def _read_new(self) -> Batch:
        pipe = self.redis.pipeline(transaction=False)
        acked = self._to_ack
        if acked:
            pipe.xack(self.stream, self.group, *acked)
        pipe.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: ">"},
            count=self.batch_size,
            block=self.block_ms or None,  # BLOCK 0 would wait forever
        )
        results = pipe.execute()
        self._to_ack = []
        response = results[-1]
        if not response:
            return []
        # RESP2: [[stream, [(id, fields), ...]]]; RESP3: {stream: [[(id, fields), ...]]}
        if isinstance(response, dict):
            entries: Batch = next(iter(response.values()))[0]
        else:
            entries = response[0][1]
        return entries

    def _claim_stale(self) -> tuple[Batch, dict[str, int]]:
        """Take over entries idle over claim_idle_ms (a crashed consumer's, or our retries)."""
        pipe = self.redis.pipeline(transaction=False)
        if self._to_ack:  # handled events must not look stale: ack them first, same round trip
            pipe.xack(self.stream, self.group, *self._to_ack)
        pipe.xautoclaim(
            self.stream,
            self.group,
            self.consumer,
            self.claim_idle_ms,
            start_id=self._claim_cursor,
            count=self.batch_size,
        )
        pipe.xpending(self.stream, self.group)
        *_, claim_result, summary = pipe.execute()
        self._to_ack = []
        self.stats.pending = int(summary["pending"]) if summary else 0
        cursor, claimed = claim_result[0], claim_result[1]
        self._claim_cursor = cursor
        if cursor == "0-0":
            self._next_claim = self._clock() + self._claim_interval_s
        batch: Batch = []
        gone: list[str] = []
        for event_id, fields in claimed:
            if fields is None:  # deleted from the stream while pending (Redis 6.2 reports it so)
                gone.append(event_id)
            else:
                batch.append((event_id, fields))
        self._to_ack.extend(gone)  # sent with the next read or flush, no round trip of its own
        if not batch:
            return [], {}
        rows = self.redis.xpending_range(
            self.stream,
            self.group,
            batch[0][0],
            batch[-1][0],
            len(batch) + 1000,
            consumername=self.consumer,
        )
        deliveries = {str(row["message_id"]): int(row["times_delivered"]) for row in rows}
        logger.info(
            "event=claimed_stale worker=%s count=%d first_id=%s",
            self.get_name(),
            len(batch),
            batch[0][0],
        )
        return batch, deliveries

    def _process(
        self,
        batch: Batch,
        deliveries: dict[str, int],
        full: bool,
        aliases: dict[str, str] | None,
    ) -> int:
        # An entry already delivered max_deliveries times without an outcome (the process died
        # handling it each time) is not handed to the handler again.
        dead: list[tuple[str, dict[str, str], int, str]] = []
        if deliveries:
            runnable: Batch = []
            for event_id, fields in batch:
                count = deliveries.get(event_id, 2)
                if count > self.max_deliveries:
                    dead.append((event_id, fields, count, "delivered without an outcome"))
                else:
                    runnable.append((event_id, fields))
            batch = runnable
        try:
            failures = self.handle_batch(batch) if batch else {}
        except Exception as exc:
            logger.exception(
                "event=handle_batch_failed worker=%s size=%d", self.get_name(), len(batch)
            )
            failures = {event_id: exc for event_id, _ in batch}
        if failures:
            for event_id, fields in batch:
                error = failures.get(event_id)
                if error is None:
                    continue
                count = deliveries.get(event_id, 1)
                if isinstance(error, DeadLetter) or count >= self.max_deliveries:
                    dead.append((event_id, fields, count, f"{type(error).__name__}: {error}"))
                else:
                    self.stats.failed += 1
                    logger.warning(
                        "event=handler_failed worker=%s event_id=%s delivery=%d error=%r",
                        self.get_name(),
                        event_id,
                        count,
                        error,
                    )
            ok_ids = [event_id for event_id, _ in batch if event_id not in failures]
        else:
            ok_ids = list(map(_entry_id, batch))
        self.stats.processed += len(ok_ids)
        if aliases:  # replayed events were handled under their original ids
            ok_ids = [aliases.get(event_id, event_id) for event_id in ok_ids]
        self._to_ack.extend(ok_ids)
        if dead:
            self._dead_letter(dead, aliases or {})
        # A full batch means a backlog: its ack rides with the next read. Otherwise ack now.
        if not full or deliveries:
            self.flush_acks()
        return len(ok_ids)

    def _dead_letter(
        self, dead: list[tuple[str, dict[str, str], int, str]], aliases: dict[str, str]
    ) -> None:
        pipe = self.redis.pipeline(transaction=True)
        for event_id, fields, count, error in dead:
            entry = dict(fields)
            entry.update(
                dl_error=error[:2000],
                dl_delivery_count=str(count),
                dl_original_id=event_id,
                dl_stream=self.stream,
                dl_group=self.group,
                dl_consumer=self.consumer,
            )
            pipe.xadd(
                self.dead_letter_stream,
                entry,  # type: ignore[arg-type]
                maxlen=self.dead_letter_maxlen,
                approximate=True,
            )
        # The batch's handled events are acked in the same transaction as the dead ones.
        dead_ids = [aliases.get(event_id, event_id) for event_id, *_ in dead]
        pipe.xack(self.stream, self.group, *dead_ids, *self._to_ack)
        pipe.execute()
        self._to_ack = []
        self.stats.dead_lettered += len(dead)
        for event_id, fields, count, error in dead:
            logger.error(
                "event=dead_lettered worker=%s event_id=%s product_id=%s game_id=%s deliveries=%d "
                "dead_letter_stream=%s error=%r",
                self.get_name(),
                event_id,
                fields.get("product_id", ""),
                fields.get("game_id", ""),
                count,
                self.dead_letter_stream,
                error,
            )

    # -- group and consumers ---------------------------------------------------------------------

    def _create_group(self) -> bool:
        """Create the group (and the stream); False when it already existed."""
        try:
            self.redis.xgroup_create(self.stream, self.group, id=self.start_id, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
            self._group_ready = True
            return False
        self._group_ready = True
        logger.info(
            "event=group_created worker=%s stream=%s group=%s start_id=%s",
            self.get_name(),
            self.stream,
            self.group,
            self.start_id,
        )
        return True

    def _recreate_group(self) -> None:
        """The group vanished (e.g. Redis restarted without persistence): create it again."""
        logger.warning(
            "event=group_missing worker=%s stream=%s group=%s action=recreate",
            self.get_name(),
            self.stream,
            self.group,
        )
        self._to_ack = []
        self._claim_cursor = "0-0"
        try:
            self._create_group()
        except _CONNECTION_ERRORS as exc:
            self._group_ready = False
            self._on_connection_error(exc)

    def cleanup_idle_consumers(self) -> list[str]:
        """Remove other consumers idle longer than consumer_idle_ms with nothing pending."""
        removed: list[str] = []
        for info in self.redis.xinfo_consumers(self.stream, self.group):
            name = str(info["name"])
            if name == self.consumer or int(info["pending"]) != 0:
                continue
            if int(info["idle"]) < self.consumer_idle_ms:
                continue
            # DELCONSUMER drops the consumer's pending entries: recheck in the same round trip is
            # not possible, but a consumer idle this long with none pending gets nothing new.
            self.redis.xgroup_delconsumer(self.stream, self.group, name)
            removed.append(name)
        if removed:
            logger.info(
                "event=idle_consumers_removed worker=%s count=%d consumers=%s",
                self.get_name(),
                len(removed),
                ",".join(removed),
            )
        return removed

    # -- failures --------------------------------------------------------------------------------

    def _on_connection_error(self, exc: Exception) -> None:
        self._failures += 1
        delay = min(_MAX_BACKOFF_SECONDS, 0.05 * 2 ** (self._failures - 1))
        logger.warning(
            "event=redis_unavailable worker=%s attempt=%d retry_in=%.2fs error=%r",
            self.get_name(),
            self._failures,
            delay,
            exc,
        )
        # A read whose reply was lost left entries pending for us: claim them once idle.
        self._next_claim = min(self._next_claim, self._clock() + self.claim_idle_ms / 1000)
        self._sleep(delay)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} stream={self.stream!r} group={self.group!r} "
            f"consumer={self.consumer!r}>"
        )
