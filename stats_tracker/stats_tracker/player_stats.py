"""Player stats: the counters each product keeps, and `GET /stats/<product_id>/<user_id>`.

Every product counts `games`, `wins` and `losses`; a product may add counters for its own gameplay
events. They are declared here, once per product, like the scoring in `scoring.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from flask import Blueprint, current_app

from stats_tracker.product_lookup import requested_product
from varcade_workers import events

GAMES = "games"
WINS = "wins"
LOSSES = "losses"
BASE_COUNTERS: tuple[str, ...] = (GAMES, WINS, LOSSES)


@dataclass(frozen=True)
class StatsCounters:
    """The counters of one product: the base three plus one counter per weapon value, if any."""

    weapon_counters: Mapping[int | None, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def names(self) -> tuple[str, ...]:
        """Every counter, in the order the API shows them."""
        return BASE_COUNTERS + tuple(self.weapon_counters.values())

    @property
    def counts_weapons(self) -> bool:
        return bool(self.weapon_counters)

    def game_over(self, winner_id: str, loser_id: str) -> list[tuple[str, str]]:
        """(user_id, counter) pairs a finished game adds one to."""
        return [(winner_id, GAMES), (winner_id, WINS), (loser_id, GAMES), (loser_id, LOSSES)]

    def weapon_counter(self, weapon: int | None) -> str | None:
        """The counter a weapon pick adds one to, or None if this product does not count it."""
        return self.weapon_counters.get(weapon)


DEFAULT_COUNTERS = StatsCounters()

EXRPS_COUNTERS = StatsCounters(
    weapon_counters=MappingProxyType(
        {
            events.ROCK: "rock_selection_count",
            events.PAPER: "paper_selection_count",
            events.SCISSORS: "scissors_selection_count",
            None: "botch_selection_count",
        }
    )
)

#: Products with counters beyond the base three.
COUNTERS_BY_PRODUCT: Mapping[str, StatsCounters] = MappingProxyType({"exrps": EXRPS_COUNTERS})


def counters_for(product_id: str) -> StatsCounters:
    return COUNTERS_BY_PRODUCT.get(product_id, DEFAULT_COUNTERS)


blueprint = Blueprint("player_stats", __name__)


@blueprint.get("/stats/<product_id>/<user_id>")
def player_stats(product_id: str, user_id: str) -> Any:
    product = requested_product(product_id)
    repository = current_app.config["STATS_REPOSITORY"]
    return repository.player_counters(product_id, user_id, product.counters.names)
