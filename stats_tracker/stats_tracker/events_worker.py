"""The stats worker: game events from the stream -> leaderboards and player counters, exactly once.

A batch is parsed first: malformed entries and unknown products are dead-lettered, event types this
service does not count are acked as they are. Then every counted event of the batch is applied in
one `ExactlyOnce.apply_batch` transaction: the markers of already applied events are read, the
read-modify-write scores (Elo) are read, and all writes plus the new markers go in one MULTI/EXEC.
A batch delivered again after a crash (written, not acked) therefore changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import redis

from stats_tracker.products import Product
from stats_tracker.repository import StatsRepository, leaderboard_key
from stats_tracker.updates import BatchUpdate, has_effect, players_to_load
from varcade_workers import DeadLetter, EventStreamWorker, ExactlyOnce, events

log = logging.getLogger(__name__)

GROUP = "stats_tracker"
EXACTLY_ONCE_NAMESPACE = "stats"


class UnknownProduct(DeadLetter):
    """An event of a product this service was not configured for: retrying cannot help."""


class StatsEventsWorker(EventStreamWorker):
    """Consumes `game_event_stream` in the `stats_tracker` group and keeps the stats."""

    def __init__(
        self,
        stream_redis: redis.Redis | str,
        data_redis: redis.Redis,
        products: Mapping[str, Product],
        **stream_options: object,
    ) -> None:
        super().__init__(stream_redis, group=GROUP, **stream_options)  # type: ignore[arg-type]
        self.products = dict(products)
        self.repository = StatsRepository(data_redis)
        self.once = ExactlyOnce(data_redis, namespace=EXACTLY_ONCE_NAMESPACE)

    def handle_batch(self, batch: list[tuple[str, dict[str, str]]]) -> dict[str, Exception]:
        failures: dict[str, Exception] = {}
        counted: list[tuple[str, events.Event]] = []
        for event_id, fields in batch:
            try:
                event = self.parse(fields)
            except DeadLetter as error:
                failures[event_id] = error
                continue
            if has_effect(event, self.products[event.product_id]):
                counted.append((event_id, event))
        if counted:
            try:
                self.apply(counted)
            except Exception as error:  # left pending: retried, then dead-lettered by the library
                log.warning("event=stats_batch_failed size=%d error=%r", len(counted), error)
                failures.update((event_id, error) for event_id, _ in counted)
        return failures

    def parse(self, fields: Mapping[str, str]) -> events.Event:
        """A valid event of a known product, or DeadLetter."""
        event = events.parse_event(fields)
        if event.product_id not in self.products:
            raise UnknownProduct(f"unknown product {event.product_id!r}")
        if isinstance(event, events.GameOver) and event.winner_id == event.loser_id:
            raise events.MalformedEvent(f"game_over with winner = loser {event.winner_id!r}")
        return event

    def apply(self, counted: list[tuple[str, events.Event]]) -> set[str]:
        """Apply a batch's counted events once, in one transaction; returns the ids applied now."""
        by_id = dict(counted)
        # The scores Elo reads: watched, then loaded inside the transaction (a superset of what the
        # fresh events need when some were applied before, which only happens after a crash).
        rated = players_to_load(by_id.values(), self.products)

        def write(pipe: redis.client.Pipeline, fresh_ids: list[str]) -> None:
            loaded = {
                product_id: self.repository.load_scores(pipe, product_id, users)
                for product_id, users in rated.items()
            }
            update = BatchUpdate(loaded)
            # fresh_ids keeps the batch's (stream) order: Elo sees a player's games in order.
            for event_id in fresh_ids:
                event = by_id[event_id]
                update.apply(event, self.products[event.product_id])
            pipe.multi()
            self.repository.queue_update(pipe, update)

        applied = self.once.apply_batch(
            list(by_id), write, watch=[leaderboard_key(product_id) for product_id in rated]
        )
        skipped = len(by_id) - len(applied)
        if skipped:
            log.info("event=already_applied count=%d", skipped)
        return applied
