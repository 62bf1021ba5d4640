"""What a batch of game events changes in the stats, computed in memory.

The worker loads the scores a read-modify-write scoring needs, feeds the batch's events through
`BatchUpdate.apply`, then writes the result with `StatsRepository.queue_update`, all inside one
exactly-once transaction. Plain code: testable without Redis.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable

from stats_tracker.products import Product
from stats_tracker.scoring import Board
from varcade_workers import events

log = logging.getLogger(__name__)


def has_effect(event: events.Event, product: Product) -> bool:
    """Whether the event changes a stat of this product (others are acked without a marker)."""
    if isinstance(event, events.GameOver):
        return True
    if isinstance(event, events.WeaponSelected):
        return product.counters.counts_weapons
    return False


def players_to_load(
    batch: Iterable[events.Event], products: dict[str, Product]
) -> dict[str, set[str]]:
    """Per product whose scoring reads scores: the players of its games in this batch."""
    players: dict[str, set[str]] = defaultdict(set)
    for event in batch:
        if isinstance(event, events.GameOver) and products[event.product_id].scoring.reads_scores:
            players[event.product_id].update((event.winner_id, event.loser_id))
    return dict(players)


class BatchUpdate:
    """Leaderboard changes per product and counter increments per (product, player)."""

    def __init__(self, loaded_scores: dict[str, dict[str, float | None]] | None = None) -> None:
        self.boards: dict[str, Board] = {
            product_id: Board(scores) for product_id, scores in (loaded_scores or {}).items()
        }
        self.counters: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def board(self, product_id: str) -> Board:
        board = self.boards.get(product_id)
        if board is None:
            board = self.boards[product_id] = Board()
        return board

    def apply(self, event: events.Event, product: Product) -> None:
        if isinstance(event, events.GameOver):
            product.scoring.score_game(
                self.board(event.product_id), event.winner_id, event.loser_id
            )
            for user_id, counter in product.counters.game_over(event.winner_id, event.loser_id):
                self.counters[event.product_id, user_id][counter] += 1
        elif isinstance(event, events.WeaponSelected):
            counter = product.counters.weapon_counter(event.weapon)
            if counter is None:
                log.warning(
                    "event=weapon_not_counted product_id=%s game_id=%s user_id=%s weapon=%r",
                    event.product_id,
                    event.game_id,
                    event.user_id,
                    event.weapon,
                )
                return
            self.counters[event.product_id, event.user_id][counter] += 1
