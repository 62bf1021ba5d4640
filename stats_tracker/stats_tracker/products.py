"""The products the stats tracker knows: each one's scoring and counters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stats_tracker.player_stats import StatsCounters, counters_for
from stats_tracker.scoring import Scoring, make_scoring


@dataclass(frozen=True)
class Product:
    product_id: str
    scoring: Scoring
    counters: StatsCounters


def build_products(scorings: Mapping[str, str]) -> dict[str, Product]:
    """Products from `STATS_PRODUCTS` ({product_id: scoring name}); ValueError: unknown scoring."""
    return {
        product_id: Product(product_id, make_scoring(name), counters_for(product_id))
        for product_id, name in scorings.items()
    }
