"""Consuming a Redis stream with a consumer group: at-least-once, in order, poison-proof.

Why it looks the way it does:
- An event is acked only after its handler returned, so a crash loses nothing.
- Order after a crash: a consumer's pending entries are handled before anything newer. A worker
  re-reads its own pending entries (``XREADGROUP ... 0``) first when it starts and after it lost
  a read's reply; every consumer keeps a heartbeat key alive while its loop turns, so the pending
  entries of a consumer whose heartbeat is gone (killed, its pod replaced) are claimed at once by
  a live one, which handles them before reading anything new. A starting worker waits (at most a
  heartbeat's lifetime) for the consumers that still hold entries to prove they are alive, and
  takes over those that do not. Entries idle for ``claim_idle_ms`` are still claimed from anyone
  (a consumer of an older version without a heartbeat, a loop stuck in a handler).
- Poison cannot wedge: entries are read as bytes and decoded one by one, so an entry that is not
  UTF-8 text is dead-lettered with its bytes, never breaking the read of the others. A failing
  event stays pending and is retried after ``claim_idle_ms`` (no spinning), and after
  ``max_deliveries`` it is dead-lettered. A handler can say "not yet" (:class:`Defer`): the entry
  stays pending and is retried shortly while newer entries keep flowing.
- Throughput: on the happy path there is one round trip per batch. Acks of a full batch travel in
  the same pipeline as the next read, and so does the heartbeat; takeovers, stale claims and
  consumer cleanup run on timers.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

import redis
from redis.client import Pipeline

from varcade_workers.errors import DeadLetter, Defer
from varcade_workers.events import STREAM
from varcade_workers.metrics import WorkerStats
from varcade_workers.redis_clients import redis_client
from varcade_workers.replays import REPLAY_FIELDS, strip_replay_fields, verify_replays
from varcade_workers.settings import STREAM_DEFAULTS
from varcade_workers.worker_manager import AsyncWorker

logger = logging.getLogger(__name__)

__all__ = [
    "DEAD_LETTER_FIELDS",
    "Batch",
    "EventStreamWorker",
    "default_consumer_name",
    "default_dead_letter_stream",
    "heartbeat_key",
]

#: One batch as handed to `handle_batch`: (entry id, decoded fields) in stream order.
Batch = list[tuple[str, dict[str, str]]]
#: Fields as read from Redis, before decoding.
_RawFields = Mapping[bytes, bytes]

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


def heartbeat_key(stream: str, group: str, consumer: str) -> str:
    """The key a live consumer keeps alive (its absence means the consumer is gone)."""
    return f"{stream}:{group}:alive:{consumer}"


_MAX_BACKOFF_SECONDS = 2.0
_entry_id = itemgetter(0)
_REPLAY_FIELD_SET = frozenset(REPLAY_FIELDS)
_CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError)


def _is_nogroup(exc: redis.ResponseError) -> bool:
    # Redis says NOGROUP (redis-py prefixes pipeline errors); fakeredis words it differently.
    text = str(exc)
    return "NOGROUP" in text or "requires the key to exist" in text


def default_consumer_name() -> str:
    """Unique per process, readable in XINFO: host, pid and a random suffix (pids get reused)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _clients(redis_or_url: redis.Redis | str, block_ms: int) -> tuple[redis.Redis, redis.Redis]:
    """(decoding client for control commands, bytes client for entries) on the same server."""
    if isinstance(redis_or_url, str):
        # The socket timeout must outlast the blocking read.
        timeout = block_ms / 1000 + 5
        return (
            redis_client(redis_or_url, socket_timeout=timeout),
            redis_client(redis_or_url, socket_timeout=timeout, decode_responses=False),
        )
    pool = redis_or_url.connection_pool
    kwargs = dict(pool.connection_kwargs)
    if not kwargs.get("decode_responses"):
        raise ValueError(
            "EventStreamWorker needs a client created with decode_responses=True "
            "(handlers receive dict[str, str]); or pass a URL"
        )
    # Entries are read as bytes and decoded one by one (an undecodable entry is poison, not a
    # failed read): a second pool with the same connection settings, decoding off.
    kwargs["decode_responses"] = False
    raw = redis.Redis(connection_pool=type(pool)(connection_class=pool.connection_class, **kwargs))
    return redis_or_url, raw


def _decode(fields: _RawFields) -> dict[str, str]:
    """An entry's fields as text; raises UnicodeDecodeError for an entry that is not UTF-8."""
    return {k.decode(): v.decode() for k, v in fields.items()}


class EventStreamWorker(AsyncWorker):
    """An `AsyncWorker` whose `run()` consumes one batch of a stream through a consumer group.

    Override `handle_event` (one event; raise to retry later, raise `DeadLetter` to give up at once,
    raise `Defer` for "not yet") or `handle_batch` (the whole batch, e.g. in one pipeline; return
    the failures).
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
        heartbeat_ttl_ms: int = STREAM_DEFAULTS["heartbeat_ttl_ms"],
        dead_letter_stream: str | None = None,
        dead_letter_maxlen: int = 100_000,
        start_id: str = "0",
        name: str | None = None,
        consumer_idle_ms: int = 3_600_000,
        cleanup_interval_s: float = 300.0,
        defer_retry_ms: int = 100,
        max_deferred: int = 10_000,
        unhealthy_after_s: float = 30.0,
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
        if heartbeat_ttl_ms < 1000:
            raise ValueError("heartbeat_ttl_ms must be at least 1000")
        self.redis, self._raw = _clients(redis, block_ms)
        socket_timeout = self.redis.connection_pool.connection_kwargs.get("socket_timeout")
        if socket_timeout is not None and block_ms >= socket_timeout * 1000:
            clamped = max(0, int(socket_timeout * 1000) - 500)
            logger.warning(
                "event=block_ms_clamped block_ms=%s socket_timeout=%s clamped=%s",
                block_ms,
                socket_timeout,
                clamped,
            )
            block_ms = clamped
        # The heartbeat rides with the reads: a blocking read must end well within its lifetime.
        block_ms = min(block_ms, heartbeat_ttl_ms // 3)
        self.stream = stream
        self.group = group
        self.consumer = consumer or default_consumer_name()
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries
        self.heartbeat_ttl_ms = heartbeat_ttl_ms
        self.dead_letter_stream = dead_letter_stream or default_dead_letter_stream(stream)
        self.dead_letter_maxlen = dead_letter_maxlen
        self.start_id = start_id
        self.consumer_idle_ms = consumer_idle_ms
        self.cleanup_interval_s = cleanup_interval_s
        self.defer_retry_s = defer_retry_ms / 1000
        self.max_deferred = max_deferred
        self.unhealthy_after_s = unhealthy_after_s
        self.stats = WorkerStats()
        self._name = name
        self._clock = clock
        self._sleep = sleep
        self._group_ready = False
        self._to_ack: list[str] = []
        self._heartbeat_key = heartbeat_key(stream, group, self.consumer)
        self._heartbeat_value = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._beats = 0
        self._heartbeat_interval_s = heartbeat_ttl_ms / 5000
        self._next_beat = clock()
        # Claims are checked at start (a dead predecessor's events) and then on a timer.
        self._claim_interval_s = min(claim_idle_ms / 2000, 5.0)
        self._next_claim = clock()
        self._claim_cursor = "0-0"
        self._takeover_interval_s = min(1.0, heartbeat_ttl_ms / 5000)
        self._next_takeover = clock()
        self._next_cleanup = clock() + cleanup_interval_s
        self._starting = True
        # Our own pending entries come before anything new: at start (a restart under the same
        # name), after a takeover, after a read whose reply may have been lost.
        self._read_own = True
        self._own_cursor = "0"
        self._deferred: dict[str, dict[str, str]] = {}
        self._next_deferred = clock()
        self._failures = 0
        self._down_since: float | None = None
        self.last_progress = clock()

    # -- the handler API -------------------------------------------------------------------------

    def handle_event(self, event_id: str, fields: dict[str, str]) -> None:
        """Apply one event. Raise to leave it pending for a retry; raise `DeadLetter` to give up;
        raise `Defer` to have it handed back shortly."""
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
        """Handle one batch (deferred entries, pending ones first, then new); return how many
        succeeded."""
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
        self.last_progress = self._clock()
        if self._failures:
            logger.info(
                "event=redis_reconnected worker=%s after_failures=%s outage_s=%s",
                self.get_name(),
                self._failures,
                round(self.last_progress - (self._down_since or 0.0), 3),
            )
            self._failures = 0
            self._down_since = None
        return handled

    def close(self) -> None:
        """Send the acks still held, drop the heartbeat (a live peer takes over what is left at
        once), and leave the group if nothing is pending for this consumer.

        `run_worker_process` calls it at shutdown; call it yourself when you drive `run()` directly.
        """
        try:
            self.flush_acks()
            self.redis.delete(self._heartbeat_key)
            pending = self.redis.xpending_range(
                self.stream, self.group, "-", "+", 1, consumername=self.consumer
            )
            if not pending:
                self.redis.xgroup_delconsumer(self.stream, self.group, self.consumer)
        except (*_CONNECTION_ERRORS, redis.ResponseError) as exc:
            logger.warning("event=close_failed worker=%s error=%r", self.get_name(), _describe(exc))

    def flush_acks(self) -> None:
        """Ack the handled events whose ack was waiting to ride with the next read."""
        if self._to_ack:
            self._raw.xack(self.stream, self.group, *self._to_ack)
            self._to_ack = []

    # -- health ----------------------------------------------------------------------------------

    def health_problem(self) -> str | None:
        """Why this worker is not ready (Redis away or no progress for `unhealthy_after_s`), or
        None."""
        now = self._clock()
        if self._down_since is not None and now - self._down_since > self.unhealthy_after_s:
            return f"Redis unreachable for {now - self._down_since:.1f} s"
        idle = now - self.last_progress
        if idle > self.unhealthy_after_s:
            return f"no progress for {idle:.1f} s"
        return None

    def measure_lag(self) -> int | None:
        """Entries of the stream not yet delivered to this group (None if unknown).

        Redis 7 reports it (XINFO GROUPS ``lag``); Redis 6.2 has no such field, so the entries
        after the group's last delivered id are counted with one bounded XRANGE (at most 10,000:
        a larger lag reads as 10,000).
        """
        for info in self.redis.xinfo_groups(self.stream):
            if info.get("name") != self.group:
                continue
            lag = info.get("lag")
            if lag is not None:
                return int(lag)
            last = str(info.get("last-delivered-id", "0-0"))
            after = self.redis.xrange(self.stream, f"({last}", "+", count=10_000)
            return len(after or ())
        return None

    # -- one turn --------------------------------------------------------------------------------

    def _run_once(self) -> int:
        if not self._group_ready:
            self._create_group()
        if self._starting:
            self._wait_for_holders()
            self._starting = False
        now = self._clock()
        if now >= self._next_cleanup:
            self._next_cleanup = now + self.cleanup_interval_s
            self.cleanup_idle_consumers()
        if now >= self._next_takeover:
            self._next_takeover = now + self._takeover_interval_s
            self._take_over_dead()
        handled = 0
        if self._deferred and now >= self._next_deferred:
            handled += self._retry_deferred()
        batch: Batch = []
        deliveries: dict[str, int] = {}
        poison: list[tuple[str, _RawFields, int, str]] = []
        if now >= self._next_claim:
            batch, deliveries, poison = self._claim_stale()
        if not batch and not poison and self._read_own:
            batch, deliveries, poison = self._read_pending()
        full = False
        if not batch and not poison:
            batch, poison = self._read_new()
            full = len(batch) + len(poison) >= self.batch_size
        if poison:
            self._dead_letter(poison, {})
        if not batch:
            return handled
        for _, fields in batch:
            if not _REPLAY_FIELD_SET.isdisjoint(fields):  # rare: a dead letter replayed
                batch, aliases = self._unwrap_replays(batch, deliveries)
                return handled + self._process(batch, deliveries, full, aliases)
        return handled + self._process(batch, deliveries, full, None)

    def _beat(self, pipe: Pipeline) -> None:
        """Queue the heartbeat when it is due (it rides with the turn's first round trip)."""
        now = self._clock()
        if now >= self._next_beat:
            self._next_beat = now + self._heartbeat_interval_s
            self._beats += 1
            pipe.set(
                self._heartbeat_key,
                f"{self._heartbeat_value}:{self._beats}",
                px=self.heartbeat_ttl_ms,
            )

    def _unwrap_replays(
        self, batch: Batch, deliveries: dict[str, int]
    ) -> tuple[Batch, dict[str, str]]:
        """Replayed entries: skip (ack) those meant for another group; hand ours to the handler
        under their original id without the replay fields, so ExactlyOnce markers match.

        Only a replay the dead-letters tool proved (`replays.verify_replays`) counts: replay
        fields a producer wrote are stripped and the entry is handled under its own id by every
        group. Returns the batch to handle and {original id: entry id} for the acks.
        ``deliveries`` is re-keyed to original ids in place.
        """
        genuine = verify_replays(self.redis, batch)
        entry_ids = {entry_id for entry_id, _ in batch}
        unwrapped: Batch = []
        aliases: dict[str, str] = {}
        skipped: list[str] = []
        forged: list[str] = []
        for entry_id, fields in batch:
            replay = genuine.get(entry_id)
            if replay is None:
                if not _REPLAY_FIELD_SET.isdisjoint(fields):
                    forged.append(entry_id)
                    fields = strip_replay_fields(fields)
                unwrapped.append((entry_id, fields))
                continue
            original = replay.original_id
            if replay.group != self.group or original in aliases or original in entry_ids:
                # Another group's replay, or this very event twice in one batch: acked unhandled.
                skipped.append(entry_id)
                continue
            aliases[original] = entry_id
            if entry_id in deliveries:
                deliveries[original] = deliveries.pop(entry_id)
            unwrapped.append((original, strip_replay_fields(fields)))
        if skipped:
            self._to_ack.extend(skipped)
        if forged:
            logger.warning(
                "event=replay_fields_ignored worker=%s count=%d entry_ids=%s reason=%s",
                self.get_name(),
                len(forged),
                ",".join(forged[:20]),
                "no proof from the dead-letters tool",
            )
        if aliases:
            logger.info(
                "event=replay_received worker=%s count=%s original_ids=%s",
                self.get_name(),
                len(aliases),
                ",".join(aliases),
            )
        return unwrapped, aliases

    def _split(
        self,
        entries: list[tuple[Any, _RawFields | None]],
        deliveries: dict[str, int] | None = None,
    ) -> tuple[Batch, list[tuple[str, _RawFields, int, str]]]:
        """Decode entries one by one: (the batch, the poison). Entries deleted from the stream
        while pending (``fields`` None) are acked with the next round trip."""
        batch: Batch = []
        poison: list[tuple[str, _RawFields, int, str]] = []
        for raw_id, raw_fields in entries:
            entry_id = _text(raw_id)
            if not raw_fields:
                self._to_ack.append(entry_id)
                continue
            try:
                fields = _decode(raw_fields)
            except UnicodeDecodeError as exc:
                count = (deliveries or {}).get(entry_id, 1)
                poison.append((entry_id, raw_fields, count, f"undecodable entry: {exc}"))
                continue
            batch.append((entry_id, fields))
        return batch, poison

    def _read_new(self) -> tuple[Batch, list[tuple[str, _RawFields, int, str]]]:
        pipe = self._raw.pipeline(transaction=False)
        acked = self._to_ack
        if acked:
            pipe.xack(self.stream, self.group, *acked)
        self._beat(pipe)
        block = self.block_ms
        if self._deferred:
            block = min(block, int(self.defer_retry_s * 1000))
        pipe.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: ">"},
            count=self.batch_size,
            block=block or None,  # BLOCK 0 would wait forever
        )
        results = pipe.execute()
        self._to_ack = []
        return self._split(_entries(results[-1]))

    def _read_pending(
        self,
    ) -> tuple[Batch, dict[str, int], list[tuple[str, _RawFields, int, str]]]:
        """The next entries of our own pending list (oldest first), skipping deferred ones."""
        while True:
            pipe = self._raw.pipeline(transaction=False)
            if self._to_ack:
                pipe.xack(self.stream, self.group, *self._to_ack)
            self._beat(pipe)
            pipe.xreadgroup(
                self.group,
                self.consumer,
                {self.stream: self._own_cursor},
                count=self.batch_size,
            )
            entries = _entries(pipe.execute()[-1])
            self._to_ack = []
            if not entries:
                self._read_own = False
                self._own_cursor = "0"
                return [], {}, []
            self._own_cursor = _text(entries[-1][0])
            entries = [e for e in entries if _text(e[0]) not in self._deferred]
            if entries:
                break
        deliveries = self._deliveries(_text(entries[0][0]), _text(entries[-1][0]), len(entries))
        batch, poison = self._split(entries, deliveries)
        if batch or poison:
            logger.info(
                "event=pending_reread worker=%s count=%s first_id=%s",
                self.get_name(),
                len(batch) + len(poison),
                _text(entries[0][0]),
            )
        return batch, deliveries, poison

    def _deliveries(self, first: str, last: str, count: int) -> dict[str, int]:
        rows = self.redis.xpending_range(
            self.stream, self.group, first, last, count + 1000, consumername=self.consumer
        )
        return {str(row["message_id"]): int(row["times_delivered"]) for row in rows}

    def _claim_stale(
        self,
    ) -> tuple[Batch, dict[str, int], list[tuple[str, _RawFields, int, str]]]:
        """Take over entries idle over claim_idle_ms (a stuck consumer's, or our retries)."""
        pipe = self._raw.pipeline(transaction=False)
        if self._to_ack:  # handled events must not look stale: ack them first, same round trip
            pipe.xack(self.stream, self.group, *self._to_ack)
        self._beat(pipe)
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
        cursor, claimed = _text(claim_result[0]), claim_result[1]
        self._claim_cursor = cursor
        if cursor == "0-0":
            self._next_claim = self._clock() + self._claim_interval_s
        claimed = [e for e in claimed if _text(e[0]) not in self._deferred]
        if not claimed:
            return [], {}, []
        live = [e for e in claimed if e[1]]
        deliveries = (
            self._deliveries(_text(live[0][0]), _text(live[-1][0]), len(live)) if live else {}
        )
        batch, poison = self._split(claimed, deliveries)
        if batch or poison:
            logger.info(
                "event=claimed_stale worker=%s count=%s first_id=%s",
                self.get_name(),
                len(batch) + len(poison),
                _text(claimed[0][0]),
            )
        return batch, deliveries, poison

    # -- takeover --------------------------------------------------------------------------------

    def _holders(self) -> dict[str, int]:
        """Other consumers that hold pending entries: {name: count}."""
        return {
            str(info["name"]): int(info["pending"])
            for info in self.redis.xinfo_consumers(self.stream, self.group)
            if int(info["pending"]) and str(info["name"]) != self.consumer
        }

    def _heartbeats(self, names: list[str]) -> list[str | None]:
        keys = [heartbeat_key(self.stream, self.group, name) for name in names]
        return [None if v is None else _text(v) for v in self.redis.mget(keys)] if keys else []

    def _take_over_dead(self) -> int:
        """Claim every pending entry of the consumers whose heartbeat is gone; returns how many."""
        holders = self._holders()
        if not holders:
            return 0
        names = list(holders)
        dead = [n for n, beat in zip(names, self._heartbeats(names), strict=True) if beat is None]
        return sum(self._take_over(name) for name in dead)

    def _take_over(self, dead: str) -> int:
        """Move `dead`'s pending entries to us; they are then read first, in stream order."""
        moved = 0
        while True:
            rows = self.redis.xpending_range(
                self.stream, self.group, "-", "+", 1000, consumername=dead
            )
            if not rows:
                break
            ids: list[Any] = [str(row["message_id"]) for row in rows]
            self.redis.xclaim(self.stream, self.group, self.consumer, 0, ids, justid=True)
            moved += len(ids)
        if moved:
            self._read_own = True
            self._own_cursor = "0"
            logger.warning(
                "event=consumer_taken_over worker=%s dead_consumer=%s count=%s",
                self.get_name(),
                dead,
                moved,
            )
        return moved

    def _wait_for_holders(self) -> None:
        """At start: until every consumer holding entries has proved it is alive (its heartbeat
        moved) or has been taken over (its heartbeat expired), read nothing new."""
        holders = self._holders()
        if not holders:
            return
        names = list(holders)
        seen = dict(zip(names, self._heartbeats(names), strict=True))
        deadline = self._clock() + self.heartbeat_ttl_ms / 1000 + 1.0
        logger.info("event=startup_takeover worker=%s holders=%s", self.get_name(), len(seen))
        while seen:
            for name, beat in list(seen.items()):
                if beat is None:
                    self._take_over(name)
                    del seen[name]
            if not seen or self._clock() > deadline:
                break
            self._sleep(0.1)
            names = list(seen)
            for name, beat in zip(names, self._heartbeats(names), strict=True):
                if beat is not None and beat != seen[name]:
                    del seen[name]  # alive: it keeps its entries
                else:
                    seen[name] = beat

    # -- handling --------------------------------------------------------------------------------

    def _retry_deferred(self) -> int:
        """Hand the deferred entries back to the handler (oldest first)."""
        batch = sorted(self._deferred.items(), key=lambda e: _id_key(e[0]))
        self._deferred.clear()
        self._next_deferred = self._clock() + self.defer_retry_s
        return self._process(batch, {}, False, None)

    def _process(
        self,
        batch: Batch,
        deliveries: dict[str, int],
        full: bool,
        aliases: dict[str, str] | None,
    ) -> int:
        # An entry already delivered max_deliveries times without an outcome (the process died
        # handling it each time) is not handed to the handler again.
        dead: list[tuple[str, Mapping[Any, Any], int, str]] = []
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
                "event=handle_batch_failed worker=%s size=%s", self.get_name(), len(batch)
            )
            failures = {event_id: exc for event_id, _ in batch}
        if failures:
            deferred = 0
            for event_id, fields in batch:
                error = failures.get(event_id)
                if error is None:
                    continue
                count = deliveries.get(event_id, 1)
                if isinstance(error, Defer) and len(self._deferred) < self.max_deferred:
                    self._deferred[event_id] = fields
                    deferred += 1
                elif isinstance(error, DeadLetter) or count >= self.max_deliveries:
                    dead.append((event_id, fields, count, _describe(error)))
                else:
                    self.stats.failed += 1
                    logger.warning(
                        "event=handler_failed worker=%s event_id=%s delivery=%d error=%r",
                        self.get_name(),
                        event_id,
                        count,
                        _describe(error),
                    )
            if deferred:
                self._next_deferred = self._clock() + self.defer_retry_s
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
        self, dead: list[tuple[str, Mapping[Any, Any], int, str]], aliases: dict[str, str]
    ) -> None:
        pipe = self._raw.pipeline(transaction=True)
        for event_id, fields, count, error in dead:
            entry: dict[Any, Any] = dict(fields)  # bytes or text: copied as they came
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
                entry,
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
                "dead_letter_stream=%s error=%s",
                self.get_name(),
                event_id,
                _field(fields, "product_id"),
                _field(fields, "game_id"),
                count,
                self.dead_letter_stream,
                repr(error[:500]),
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
            "event=group_missing worker=%s stream=%s group=%s action=%s",
            self.get_name(),
            self.stream,
            self.group,
            "recreate",
        )
        self._to_ack = []
        self._claim_cursor = "0-0"
        self._deferred.clear()
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
                "event=idle_consumers_removed worker=%s count=%s consumers=%s",
                self.get_name(),
                len(removed),
                ",".join(removed),
            )
        return removed

    # -- failures --------------------------------------------------------------------------------

    def _on_connection_error(self, exc: Exception) -> None:
        self._failures += 1
        if self._down_since is None:
            self._down_since = self._clock()
        delay = min(_MAX_BACKOFF_SECONDS, 0.05 * 2 ** (self._failures - 1))
        # One warning per outage; the retries that follow are debug lines.
        logger.log(
            logging.WARNING if self._failures == 1 else logging.DEBUG,
            "event=redis_unavailable worker=%s attempt=%d retry_in=%.2fs error=%r",
            self.get_name(),
            self._failures,
            delay,
            _describe(exc),
        )
        # A read whose reply was lost left entries pending for us: read them first.
        self._read_own = True
        self._own_cursor = "0"
        self._sleep(delay)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} stream={self.stream!r} group={self.group!r} "
            f"consumer={self.consumer!r}>"
        )


def _entries(response: Any) -> list[tuple[Any, _RawFields | None]]:
    """The entries of an XREADGROUP reply for one stream (RESP2 list or RESP3 dict)."""
    if not response:
        return []
    if isinstance(response, dict):
        return list(next(iter(response.values()))[0])
    return list(response[0][1])


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _field(fields: Mapping[Any, Any], name: str) -> str:
    value = fields.get(name, fields.get(name.encode(), ""))
    return value.decode(errors="backslashreplace") if isinstance(value, bytes) else str(value)


def _describe(exc: BaseException) -> str:
    """``"<type>: <message>"`` (redis-py 8's repr of its errors drops the message)."""
    return f"{type(exc).__name__}: {exc}"
