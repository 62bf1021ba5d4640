"""Exactly-once effects for at-least-once delivery.

A stream consumer acks an event only after its handler returned, so an event is delivered again when
the consumer dies between the handler's writes and the ack. :class:`ExactlyOnce` makes the writes
take effect once per event id anyway: "check the event's marker, apply the writes, set the marker"
is one optimistic transaction (WATCH on the marker keys and on the keys the handler reads,
MULTI/EXEC, retried on a conflict). A plain MULTI/EXEC could not do it: it cannot skip writes based
on a value read inside it; WATCH lets us read the markers first and abort if anything changed under
us.

The markers (``<namespace>:once:<event_id>``) live in the same Redis as the writes (the service's
data Redis, which may differ from the stream's Redis), and expire after ``ttl_seconds``: 7 days by
default, far longer than any redelivery can happen (a pending event is reclaimed after
``claim_idle_ms`` and dead-lettered after ``max_deliveries``: 30 s x 5 with the stream worker's
defaults, minutes at most).

Example (an Elo update: read-modify-write)::

    once = ExactlyOnce(data_redis, namespace="stats")

    def handle_event(self, event_id, fields):
        game = events.parse_event(fields)
        key = f"leaderboard:{game.product_id}"

        def apply(pipe):
            # Reads run at once and see the watched values.
            winner, loser = pipe.zmscore(key, [game.winner_id, game.loser_id])
            new_winner, new_loser = elo(winner or 1000, loser or 1000)
            pipe.multi()                       # then the writes are queued...
            pipe.zadd(key, {game.winner_id: new_winner, game.loser_id: new_loser})
            # ...and the helper queues the marker and runs EXEC.

        once.apply(event_id, apply, watch=[key])   # False: applied before, nothing written

A batch of events (the stats worker's ``handle_batch``) is one transaction, in a handful of round
trips however many events: WATCH, MGET of the markers, the callback's own reads, EXEC::

    applied = once.apply_batch(ids, lambda pipe, fresh_ids: queue_writes(pipe, fresh_ids))

The callback may run more than once (again after a conflict), so it must compute its writes from
what it reads in the pipeline, not from state it mutates elsewhere. If it raises, nothing is written
and no marker is set: the event stays pending and its retry applies it once.
"""

from __future__ import annotations

import importlib.util
import random
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Final

from redis.exceptions import WatchError

if TYPE_CHECKING:
    import redis
    from redis.client import Pipeline

__all__ = ["DEFAULT_TTL_SECONDS", "ExactlyOnce", "TooManyConflicts"]

DEFAULT_TTL_SECONDS: Final = 7 * 24 * 3600
DEFAULT_MAX_RETRIES: Final = 100

#: Sets every fresh marker in one command: KEYS are the markers, ARGV[1] the TTL in seconds.
#: One EVAL instead of one SET per event keeps a 500-event batch's transaction small (the client
#: encodes one command, Redis parses one); the keys are declared, so Redis knows what it touches.
_SET_MARKERS: Final = """
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], '1', 'EX', ARGV[1])
end
return #KEYS
"""


class TooManyConflicts(WatchError):
    """The transaction kept conflicting with other writers; the event stays pending for a retry."""


class ExactlyOnce:
    """Applies a handler's Redis writes once per event id (see the module's documentation)."""

    def __init__(
        self,
        redis: redis.Redis,
        namespace: str,
        *,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        max_retries: int = DEFAULT_MAX_RETRIES,
        scripting: bool | None = None,
    ) -> None:
        if not namespace:
            raise ValueError("namespace must not be empty")
        if ttl_seconds < 1:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds}")
        if max_retries < 1:
            raise ValueError(f"max_retries must be at least 1, got {max_retries}")
        self.redis = redis
        self.namespace = namespace
        self.ttl_seconds = ttl_seconds
        self.max_retries = max_retries
        self._prefix = f"{namespace}:once:"
        #: Markers set with one Lua EVAL (True) or one SET per marker (False: a client without
        #: scripting, such as fakeredis without lupa). None: decide from the client.
        self.scripting = _has_scripting(redis) if scripting is None else scripting

    def marker_key(self, event_id: str) -> str:
        """The key marking ``event_id`` as applied."""
        return self._prefix + event_id

    def is_applied(self, event_id: str) -> bool:
        """Whether ``event_id``'s effects were applied (and its marker has not expired)."""
        return bool(self.redis.exists(self.marker_key(event_id)))

    def apply(
        self,
        event_id: str,
        fn: Callable[[Pipeline], object],
        *,
        watch: Iterable[str] = (),
    ) -> bool:
        """Run ``fn(pipe)`` and set the marker in one transaction, unless ``event_id`` was applied.

        Returns True when the writes were applied now, False when the event had been applied before
        (``fn`` is then not called). Raises :class:`TooManyConflicts` after ``max_retries``
        conflicts.
        """
        return bool(self.apply_batch((event_id,), lambda pipe, _fresh: fn(pipe), watch=watch))

    def apply_batch(
        self,
        event_ids: Iterable[str],
        fn: Callable[[Pipeline, list[str]], object],
        *,
        watch: Iterable[str] = (),
    ) -> set[str]:
        """Run ``fn(pipe, fresh_ids)`` for the ids not applied yet, and mark them, in one
        transaction.

        ``fresh_ids`` keeps the order of ``event_ids`` (duplicates removed). Returns the ids applied
        now; ``fn`` is not called when every id was applied before.
        """
        ids = list(dict.fromkeys(event_ids))
        if not ids:
            return set()
        markers = [self._prefix + event_id for event_id in ids]
        watched = [*markers, *watch]
        ttl = self.ttl_seconds
        for attempt in range(self.max_retries):
            with self.redis.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(*watched)  # type: ignore[no-untyped-call]
                    found = pipe.mget(markers)
                    fresh = [eid for eid, mark in zip(ids, found, strict=True) if mark is None]
                    if not fresh:
                        return set()
                    fn(pipe, fresh)
                    if not pipe.explicit_transaction:
                        pipe.multi()
                    self._queue_markers(pipe, fresh, ttl)
                    pipe.execute()
                    return set(fresh)
                except WatchError:
                    _backoff(attempt)
        raise TooManyConflicts(
            f"{self.namespace}: {len(ids)} event(s) conflicted {self.max_retries} times in a row"
        )

    def _queue_markers(self, pipe: Pipeline, fresh: list[str], ttl: int) -> None:
        prefix = self._prefix
        if self.scripting and len(fresh) > 1:
            keys = [prefix + event_id for event_id in fresh]
            pipe.eval(_SET_MARKERS, len(keys), *keys, ttl)
        else:
            for event_id in fresh:
                pipe.set(prefix + event_id, "1", ex=ttl)


def _has_scripting(client: object) -> bool:
    """Real Redis runs Lua; fakeredis only with the optional ``lupa`` package installed."""
    if type(client).__module__.startswith("fakeredis"):
        return importlib.util.find_spec("lupa") is not None
    return True


def _backoff(attempt: int) -> None:
    """Retry at once a few times (conflicts are rare), then spread contending writers a little."""
    if attempt >= 3:
        time.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** (attempt - 3))))
