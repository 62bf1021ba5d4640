"""Leaderboards: `GET /leaderboards/top_ten/<product_id>` and a player's score and rank.

A leaderboard is a Redis sorted set per product (see `repository.py`); the worker writes it,
this only reads.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app

from stats_tracker.product_lookup import requested_product

TOP_COUNT = 10

blueprint = Blueprint("leaderboards", __name__)


def as_number(score: float) -> int | float:
    """A score for JSON: whole numbers stay whole (wins), ratings keep two decimals (Elo)."""
    return int(score) if float(score).is_integer() else round(score, 2)


@blueprint.get("/leaderboards/top_ten/<product_id>")
def top_ten(product_id: str) -> Any:
    requested_product(product_id)
    repository = current_app.config["STATS_REPOSITORY"]
    return [
        {"user_id": user_id, "score": as_number(score)}
        for user_id, score in repository.top(product_id, TOP_COUNT)
    ]


@blueprint.get("/leaderboards/rank/<product_id>/<user_id>")
def player_rank(product_id: str, user_id: str) -> Any:
    """A player's score and 1-based rank (rank null and score 0 for a player not on the board)."""
    requested_product(product_id)
    score, rank = current_app.config["STATS_REPOSITORY"].score_and_rank(product_id, user_id)
    return {
        "user_id": user_id,
        "score": 0 if score is None else as_number(score),
        "rank": None if rank is None else rank + 1,
    }
