"""The matchmaker's OpenAPI 3.1 document, served at `GET /openapi.json` (see README, "HTTP API").

Built from the configuration (the product ids are the configured ones, the page sizes and limits
the configured ones), so it says what this very process does. The parts every Flask service shares
(the JSON error, `/healthz`, `/metrics`, Redis away, gunicorn's own limits) come from
`varcade_workers.openapi`.
"""

from __future__ import annotations

from typing import Any

from matchmaker.config import Config
from varcade_workers import events
from varcade_workers import openapi as oa

Json = dict[str, Any]
SERVICE = "matchmaker"
TITLE = "Varcade matchmaker"
VERSION = "1.0"


def _game_schemas() -> dict[str, Json]:
    public: Json = {
        "game_id": {"type": "string", "description": "The game's id (a UUID)."},
        "product_id": {"type": "string"},
        "game_server_url": {"type": "string", "description": "The product's control API."},
        "creator_id": {"type": "string", "description": "The host's user id."},
        "creator_name": {"type": "string"},
        "players": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "description": "User ids, the creator first.",
        },
        "settings": {"type": "object", "description": 'The product\'s, e.g. {"num_players": 2}.'},
        "target_game_server": {
            "type": "string",
            "description": "The WebSocket address players connect to (host:port).",
        },
    }
    private: Json = {
        "token": {"type": "string", "description": "The game token of the game server."},
        "state": {"type": "string", "enum": list(events.GAME_STATES)},
        "_last_updated": {"type": "number", "description": "Unix seconds of the last change."},
    }
    seat: Json = {
        "seat_token": {
            "type": ["string", "null"],
            "description": "This player's own credential on the game server's socket (only in "
            "this answer, never stored; null from a game server that issues none).",
        }
    }

    def closed(properties: Json, description: str) -> Json:
        return {
            "type": "object",
            "description": description,
            "required": list(properties),
            "properties": properties,
            "additionalProperties": False,
        }

    return {
        "PublicGame": closed(public, "A game as open_games lists it (no token, state or time)."),
        "PlayerGame": closed(
            {**public, **private, **seat},
            "A game as its player gets it from create_game or join_game, with that player's "
            "seat token.",
        ),
    }


def document(config: Config) -> Json:
    """The document of a matchmaker running with `config`."""
    products = sorted(config.products)
    limits = oa.gunicorn_limits()
    unavailable = {503: oa.storage_unavailable(SERVICE)}
    product = oa.path_parameter(
        "product_id",
        "A configured product (GAME_SERVERS); another one is a 400.",
        {"type": "string", "enum": products},
    )
    game_id = oa.path_parameter(
        "game_id",
        "A game id, as create_game answered it.",
        {"type": "string", "minLength": 1, "pattern": "^[^/]+$"},
    )
    bad_token = oa.error(
        "Missing, malformed, expired or wrongly signed player token (the reason, e.g. "
        "`Token has no 'exp' claim.`)."
    )
    bad_product = "Invalid product Id: the product is not configured."
    too_many = "Too many {} requests: at most N a minute (per player; {} a minute here)."
    secured = [{"playerToken": []}]
    game_ref = {"$ref": "#/components/schemas/PlayerGame"}
    join_link = {
        "JoinTheGame": {
            "operationId": "joinGame",
            "description": "Another player joins the game just created (400 until its host "
            "has connected to the game server).",
            "parameters": {
                "product_id": "$request.path.product_id",
                "game_id": "$response.body#/game_id",
            },
        }
    }
    paths: Json = {
        "/game_lobby/{product_id}/create_game": {
            "post": oa.operation(
                "createGame",
                "Create a game: the product's game server is asked first, then it is stored.",
                {
                    200: oa.response("The game, with the host's seat token.", game_ref),
                    400: oa.error(
                        f"{bad_product} Or the game server refused, failed, is down or slower "
                        "than GAME_SERVER_TIMEOUT_SECONDS (nothing is stored)."
                    ),
                    401: bad_token,
                    409: oa.error(
                        "The player already has MAX_OPEN_GAMES_PER_PLAYER "
                        f"({config.max_open_games_per_player}) games of this product that have "
                        "not ended."
                    ),
                    429: oa.error(
                        too_many.format("create_game", config.create_rate_per_minute),
                        headers={"Retry-After": oa.RETRY_AFTER},
                    ),
                    **unavailable,
                    **limits,
                },
                tags=["lobby"],
                parameters=[product],
                security=secured,
                links={200: join_link},
            )
        },
        "/game_lobby/{product_id}/join_game/{game_id}": {
            "post": oa.operation(
                "joinGame",
                "Join a game waiting for an opponent: the game server is asked, the player added.",
                {
                    200: oa.response(
                        "The game with the player added, and their seat token.", game_ref
                    ),
                    400: oa.error(
                        f"{bad_product} Or the player's own game, a game not in creator_joined, "
                        "already joined, full, or the game server refused or failed."
                    ),
                    401: bad_token,
                    404: oa.error("No such game (or a game id with '/' in it: no such route)."),
                    429: oa.error(
                        too_many.format("join_game", config.join_rate_per_minute),
                        headers={"Retry-After": oa.RETRY_AFTER},
                    ),
                    **unavailable,
                    **limits,
                },
                tags=["lobby"],
                parameters=[product, game_id],
                security=secured,
            )
        },
        "/game_lobby/{product_id}/open_games": {
            "get": oa.operation(
                "listOpenGames",
                "The games waiting for an opponent, oldest first.",
                {
                    200: oa.response(
                        "One page of open games.",
                        {
                            "type": "array",
                            "maxItems": config.open_games_max_count,
                            "items": {"$ref": "#/components/schemas/PublicGame"},
                        },
                    ),
                    400: oa.error(f"{bad_product} Or count or page is not a non-negative integer."),
                    **unavailable,
                    **limits,
                },
                tags=["lobby"],
                parameters=[
                    product,
                    oa.query_parameter(
                        "count",
                        f"Games per page (default {config.open_games_default_count}, at most "
                        f"{config.open_games_max_count}: more is capped, not refused).",
                        {"type": "integer", "minimum": 0},
                    ),
                    oa.query_parameter(
                        "page",
                        "Page number, from 0 (a page past the end is empty).",
                        {"type": "integer", "minimum": 0},
                    ),
                ],
            )
        },
        "/openapi.json": oa.openapi_path(TITLE, limits),
        **oa.flask_plumbing_paths(SERVICE),
    }
    return oa.document(
        title=TITLE,
        version=VERSION,
        description=(
            "The arcade's lobby: players create games and join each other's. Every answer is "
            'JSON; errors are `{"message": ...}`. Player tokens are HS256 JWTs carrying '
            "`user_id`, `username` and `exp` (and `iss`, `aud`, `iat` where configured). "
            "Limits per player (user id): create_game and join_game rates (429 with "
            "Retry-After), open games per product (409). gunicorn also answers 400 for "
            "malformed HTTP and 408 for a request head not complete within "
            "GUNICORN_REQUEST_READ_TIMEOUT, both JSON."
        ),
        paths=paths,
        schemas=_game_schemas(),
        security_schemes={
            "playerToken": oa.bearer_scheme(
                "The arcade portal's player token (`Authorization: Bearer <jwt>`), signed with "
                "JWT_SECRET.",
                "JWT",
            )
        },
        tags=[
            {"name": "lobby", "description": "Create, join and list games."},
            {"name": "meta", "description": "Health, metrics and this document."},
        ],
    )
