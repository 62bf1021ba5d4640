"""The stats tracker's OpenAPI 3.1 document, served at `GET /openapi.json` (see README, "HTTP API").

Built from the configured products (`STATS_PRODUCTS`: their ids, and the counters each one keeps),
so it says what this very process answers. The parts every Flask service shares (the JSON error,
`/healthz`, `/metrics`, Redis away, gunicorn's own limits) come from `varcade_workers.openapi`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stats_tracker.leaderboards import TOP_COUNT
from stats_tracker.player_stats import BASE_COUNTERS
from stats_tracker.product_lookup import INVALID_PRODUCT
from stats_tracker.products import Product
from varcade_workers import openapi as oa

Json = dict[str, Any]
SERVICE = "stats_tracker"
TITLE = "Varcade stats tracker"
VERSION = "1.0"


def document(products: Mapping[str, Product]) -> Json:
    """The document of a stats tracker serving `products`."""
    limits = oa.gunicorn_limits()
    unavailable = {503: oa.storage_unavailable(SERVICE)}
    bad_product = oa.error(f"`{INVALID_PRODUCT}`: the product is not in STATS_PRODUCTS.")
    no_route = oa.error("No such route: a user id that is empty or holds '/'.")
    product = oa.path_parameter(
        "product_id",
        "A product of STATS_PRODUCTS; another one is a 400.",
        {"type": "string", "enum": sorted(products)},
    )
    user = oa.path_parameter(
        "user_id", "A player's user id.", {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
    )
    counters: list[str] = list(BASE_COUNTERS)
    for entry in products.values():
        counters += [name for name in entry.counters.names if name not in counters]
    count = {"type": "integer", "minimum": 0}
    paths: Json = {
        "/leaderboards/top_ten/{product_id}": {
            "get": oa.operation(
                "getTopTen",
                f"The leaderboard's top {TOP_COUNT}, highest score first.",
                {
                    200: oa.response(
                        "At most ten entries; [] for a product with no games.",
                        {
                            "type": "array",
                            "maxItems": TOP_COUNT,
                            "items": {"$ref": "#/components/schemas/LeaderboardEntry"},
                        },
                    ),
                    400: bad_product,
                    **unavailable,
                    **limits,
                },
                tags=["leaderboards"],
                parameters=[product],
            )
        },
        "/leaderboards/rank/{product_id}/{user_id}": {
            "get": oa.operation(
                "getPlayerRank",
                "A player's score and rank (rank null and score 0 when not on the leaderboard).",
                {
                    200: oa.response(
                        "The player's place.",
                        {
                            "type": "object",
                            "required": ["user_id", "score", "rank"],
                            "additionalProperties": False,
                            "properties": {
                                "user_id": {"type": "string"},
                                "score": {"type": "number"},
                                "rank": {"type": ["integer", "null"], "minimum": 1},
                            },
                        },
                    ),
                    400: bad_product,
                    404: no_route,
                    **unavailable,
                    **limits,
                },
                tags=["leaderboards"],
                parameters=[product, user],
            )
        },
        "/stats/{product_id}/{user_id}": {
            "get": oa.operation(
                "getPlayerStats",
                "A player's counters (every one 0 for a player with no games).",
                {
                    200: oa.response(
                        "games, wins and losses for every product, and the product's own "
                        "counters (exrps: rock, paper, scissors and botch selection counts).",
                        {
                            "type": "object",
                            "required": list(BASE_COUNTERS),
                            "additionalProperties": False,
                            "properties": {name: count for name in counters},
                        },
                    ),
                    400: bad_product,
                    404: no_route,
                    **unavailable,
                    **limits,
                },
                tags=["stats"],
                parameters=[product, user],
            )
        },
        "/openapi.json": oa.openapi_path(TITLE, limits),
        **oa.flask_plumbing_paths(SERVICE),
    }
    return oa.document(
        title=TITLE,
        version=VERSION,
        description=(
            "Leaderboards and player statistics, read only (the worker writes them from the "
            "event stream): no token, no body. Every answer is JSON; errors are "
            '`{"message": ...}`. gunicorn also answers 400 for malformed HTTP and 408 for a '
            "request head not complete within GUNICORN_REQUEST_READ_TIMEOUT, both JSON."
        ),
        paths=paths,
        schemas={
            "LeaderboardEntry": {
                "type": "object",
                "required": ["user_id", "score"],
                "additionalProperties": False,
                "properties": {
                    "user_id": {"type": "string"},
                    "score": {
                        "type": "number",
                        "description": "Whole wins, or an Elo rating with two decimals.",
                    },
                },
            }
        },
        tags=[
            {"name": "leaderboards", "description": "Scores per product."},
            {"name": "stats", "description": "Counters per player."},
            {"name": "meta", "description": "Health, metrics and this document."},
        ],
    )
