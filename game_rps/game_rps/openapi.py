"""OpenAPI 3.1 documents of the game server's two HTTP APIs (see README): the control API on
CONTROL_PORT and the web page's server on CLIENT_PORT (with `POST /dev/token`, development only),
each served at `GET /openapi.json` of its port. The players' WebSocket (WS_PORT) is not HTTP after
its upgrade: its protocol is in the README ("Player protocol").

The JSON error body and the bearer scheme come from `varcade_workers.openapi`. The bounds quoted
here are the ones the code enforces (the callers pass their constants in).
"""

from __future__ import annotations

from typing import Any

from varcade_workers import events, names
from varcade_workers import openapi as oa

Json = dict[str, Any]
VERSION = "1.0"
CONTROL_TITLE = "Varcade game_rps control API"
PAGE_TITLE = "Varcade game_rps web page"

_HEX32 = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
_NO_CONTROLS = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"


def _id_schema(what: str) -> Json:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": events.MAX_ID_BYTES,
        "pattern": _NO_CONTROLS,
        "description": f"{what}: non-empty text of at most {events.MAX_ID_BYTES} UTF-8 bytes, "
        "valid Unicode, no control characters (the event stream's id bounds).",
    }


def control_document(*, max_body_bytes: int, max_username_chars: int) -> Json:
    """The control API's document (the matchmaker is its only client)."""
    secured = [{"serviceToken": []}]
    unauthorized = oa.error("Missing or invalid service token.")
    malformed = (
        f"Malformed JSON, a body that is not an object or is over {max_body_bytes} bytes, a "
        "field missing, not a string or empty (`Invalid <field> format.`, checked in the order "
        "gameId, userId, username), or outside its bounds; a request aiohttp cannot parse."
    )
    username = {
        "type": "string",
        "minLength": 1,
        "maxLength": max_username_chars,
        "pattern": _NO_CONTROLS,
        "description": f"Display name: 1 to {max_username_chars} characters of valid Unicode, "
        "no control characters.",
    }
    seat_body = oa.json_body(
        {
            "type": "object",
            "required": ["gameId", "userId", "username"],
            "properties": {
                "gameId": _id_schema("The game id"),
                "userId": _id_schema("The player's user id"),
                "username": username,
            },
        }
    )
    seat = oa.response(
        "The game token (the game's) and the player's own seat token.",
        {"$ref": "#/components/schemas/Seat"},
    )
    game_links = {
        "JoinTheGame": {
            "operationId": "joinGame",
            "requestBody": {
                "gameId": "$request.body#/gameId",
                "userId": "second-player",
                "username": "Second",
            },
        },
        "RemoveAPlayer": {
            "operationId": "removePlayer",
            "requestBody": {"gameId": "$request.body#/gameId", "userId": "second-player"},
        },
        "RemoveTheGame": {
            "operationId": "removeGame",
            "requestBody": {"gameId": "$request.body#/gameId"},
        },
    }
    paths: Json = {
        "/create_game": {
            "post": oa.operation(
                "createGame",
                "Create a game hosted by userId.",
                {
                    200: seat,
                    400: oa.error(f"{malformed} Or the gameId exists already."),
                    401: unauthorized,
                },
                tags=["games"],
                request_body=seat_body,
                security=secured,
                links={200: game_links},
            )
        },
        "/join_game": {
            "post": oa.operation(
                "joinGame",
                "Seat userId as the second player (the same seated player again: the same answer).",
                {
                    200: seat,
                    400: oa.error(f"{malformed} Or an unknown or full game, or the host itself."),
                    401: unauthorized,
                },
                tags=["games"],
                request_body=seat_body,
                security=secured,
            )
        },
        "/remove_game": {
            "post": oa.operation(
                "removeGame",
                "Remove a game: sockets closed, game_removed written, tokens forgotten.",
                {
                    200: oa.response(
                        "The game removed, or null for an unknown game.",
                        {
                            "type": ["object", "null"],
                            "required": ["gameId", "gameRemoved"],
                            "additionalProperties": False,
                            "properties": {
                                "gameId": {"type": "string"},
                                "gameRemoved": {"const": True},
                            },
                        },
                    ),
                    400: oa.error(malformed),
                    401: unauthorized,
                },
                tags=["games"],
                request_body=oa.json_body(
                    {
                        "type": "object",
                        "required": ["gameId"],
                        "properties": {"gameId": _id_schema("The game id")},
                    }
                ),
                security=secured,
            )
        },
        "/remove_player": {
            "post": oa.operation(
                "removePlayer",
                "Remove the second player: socket closed, player_disconnect written, host told.",
                {
                    200: oa.response(
                        "The player was removed.",
                        {
                            "type": "object",
                            "required": ["playerRemoved", "connectionRemoved"],
                            "additionalProperties": False,
                            "properties": {
                                "playerRemoved": {"const": True},
                                "connectionRemoved": {
                                    "type": "boolean",
                                    "description": "Whether the player's socket was open.",
                                },
                            },
                        },
                    ),
                    400: oa.error(f"{malformed} Or an unknown game, or the host."),
                    401: unauthorized,
                    404: oa.error("The user is not a player of the game."),
                },
                tags=["games"],
                request_body=oa.json_body(
                    {
                        "type": "object",
                        "required": ["gameId", "userId"],
                        "properties": {
                            "gameId": _id_schema("The game id"),
                            "userId": _id_schema("The player's user id"),
                        },
                    }
                ),
                security=secured,
            )
        },
        "/healthz": {
            "get": oa.operation(
                "getReadiness",
                "Readiness (no token): 200 while events get written, else 503 with a reason.",
                {
                    200: oa.response("Ready.", {"$ref": "#/components/schemas/Readiness"}),
                    503: oa.response(
                        "Not ready: the event stream's Redis does not answer, or buffered "
                        "events have not been written for over EVENT_WRITE_UNHEALTHY_SECONDS.",
                        {"$ref": "#/components/schemas/Unready"},
                    ),
                },
                tags=["meta"],
            )
        },
        "/livez": {
            "get": oa.operation(
                "getLiveness",
                "Liveness (no token): 200 whenever the event loop answers, Redis or not.",
                {
                    200: oa.response(
                        "Alive.",
                        {
                            "type": "object",
                            "required": ["status"],
                            "properties": {"status": {"const": "alive"}},
                        },
                    )
                },
                tags=["meta"],
            )
        },
        "/metrics": {
            "get": oa.operation(
                "getMetrics",
                "Prometheus metrics (no token): games, connections, messages, events.",
                {200: oa.response("The Prometheus text exposition.", media_types=["text/plain"])},
                tags=["meta"],
            )
        },
        "/openapi.json": oa.openapi_path(CONTROL_TITLE),
    }
    readiness_fields: Json = {
        "redis": {"type": "boolean", "description": "The event stream's Redis answered."},
        "games": {"type": "integer", "minimum": 0},
        "events_buffered": {"type": "integer", "minimum": 0},
        "events_unwritten_seconds": {"type": "number", "minimum": 0},
        "events_rejected": {"type": "integer", "minimum": 0},
    }
    return oa.document(
        title=CONTROL_TITLE,
        version=VERSION,
        description=(
            "The matchmaker's API on the game server (internal: CONTROL_PORT is never published "
            "to players). Every game route needs `Authorization: Bearer <GAME_SERVER_TOKEN>`; "
            "`/healthz`, `/livez`, `/metrics` and this document need none. Bodies are JSON "
            'objects; every error is `{"message": ...}`. Requests aiohttp cannot parse (a '
            "request line or header over 8190 bytes, more than 128 headers, bad HTTP) get a 400 "
            '`{"message": "Bad request: ..."}` on any path.'
        ),
        paths=paths,
        schemas={
            "Seat": {
                "type": "object",
                "required": ["gameToken", "seatToken"],
                "additionalProperties": False,
                "properties": {
                    "gameToken": {**_HEX32, "description": "The game's token (both players)."},
                    "seatToken": {**_HEX32, "description": "This player's own seat token."},
                },
            },
            "Readiness": {
                "type": "object",
                "required": ["status", *readiness_fields],
                "additionalProperties": False,
                "properties": {"status": {"const": "ok"}, **readiness_fields},
            },
            "Unready": {
                "type": "object",
                "required": ["status", "reason", *readiness_fields],
                "additionalProperties": False,
                "properties": {
                    "status": {"const": "unavailable"},
                    "reason": {"type": "string"},
                    **readiness_fields,
                },
            },
        },
        security_schemes={
            "serviceToken": oa.bearer_scheme(
                "The secret the matchmaker and the game server share (GAME_SERVER_TOKEN)."
            )
        },
        tags=[
            {"name": "games", "description": "What the matchmaker asks of the game server."},
            {"name": "meta", "description": "Probes, metrics and this document."},
        ],
    )


_CONDITIONAL = [
    {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "description": "ETags (or *) the client holds: 304 when one is the file's.",
        "schema": {"type": "string"},
    },
    {
        "name": "If-Modified-Since",
        "in": "header",
        "required": False,
        "description": "An HTTP date: 304 when the file is not newer (ignored if not a date).",
        "schema": {"type": "string"},
    },
]


def _page_file(operation_id: str, summary: str, *, not_found: str, extra: list[Json]) -> Json:
    return oa.operation(
        operation_id,
        summary,
        {
            200: oa.response(
                "The file, whole (no ranges), with ETag and Last-Modified.",
                media_types=[
                    "text/html",
                    "text/css",
                    "text/javascript",
                    "image/svg+xml",
                    "image/png",
                    "image/jpeg",
                    "image/gif",
                    "image/webp",
                    "image/x-icon",
                    "font/woff2",
                ],
            ),
            304: oa.response("Not modified (If-None-Match or If-Modified-Since)."),
            404: oa.error(not_found),
        },
        tags=["page"],
        parameters=[*extra, *_CONDITIONAL],
    )


def page_document() -> Json:
    """The web page server's document (`/dev/token` exists outside production only)."""
    max_name = names.USERNAME_MAX_LENGTH
    fighter_weapon = {
        "type": "object",
        "required": ["id", "name", "base", "modifier", "mitigation"],
        "properties": {
            "id": {"type": "integer", "enum": [0, 1, 2]},
            "name": {"type": "string"},
            "base": {"type": "number"},
            "modifier": {"type": "number"},
            "mitigation": {"type": "number"},
        },
    }
    paths: Json = {
        "/": {"get": _page_file("getPage", "The game page.", not_found="Not found", extra=[])},
        "/index.html": {
            "get": _page_file("getIndex", "The game page.", not_found="Not found", extra=[])
        },
        "/static/{path}": {
            "get": _page_file(
                "getStaticFile",
                "One of the page's files (.html, .css, .js, images, fonts of client/; never its "
                "README, tests, package files, hidden files or links).",
                not_found="Not found: any other name.",
                extra=[oa.path_parameter("path", "The file's path under client/.")],
            )
        },
        "/config.json": {
            "get": oa.operation(
                "getPageConfig",
                "What the page cannot know: the service addresses and the fighters.",
                {
                    200: oa.response(
                        "The page's configuration.",
                        {
                            "type": "object",
                            "required": [
                                "productId",
                                "matchmakerUrl",
                                "statsTrackerUrl",
                                "devTokens",
                                "fighters",
                            ],
                            "additionalProperties": False,
                            "properties": {
                                "productId": {"type": "string"},
                                "matchmakerUrl": {"type": "string"},
                                "statsTrackerUrl": {"type": "string"},
                                "devTokens": {
                                    "type": "boolean",
                                    "description": "Whether /dev/token issues tokens.",
                                },
                                "fighters": {"$ref": "#/components/schemas/Fighters"},
                            },
                        },
                    )
                },
                tags=["page"],
            )
        },
        "/fighters.json": {
            "get": oa.operation(
                "getFighters",
                "The fighter table.",
                {200: oa.response("The fighters.", {"$ref": "#/components/schemas/Fighters"})},
                tags=["page"],
            )
        },
        "/healthz": {
            "get": oa.operation(
                "getHealth",
                "The page's server answers.",
                {
                    200: oa.response(
                        "Up.",
                        {
                            "type": "object",
                            "required": ["status"],
                            "properties": {"status": {"const": "ok"}},
                        },
                    )
                },
                tags=["meta"],
            )
        },
        "/dev/token": {
            "post": oa.operation(
                "issueDevToken",
                "Development only: a player token for a name (the same name, the same user id).",
                {
                    200: oa.response(
                        "The token the matchmaker accepts (HS256, exp in 24 h, and the "
                        "configured iss / aud).",
                        {
                            "type": "object",
                            "required": ["token", "user_id", "username"],
                            "additionalProperties": False,
                            "properties": {
                                "token": {"type": "string"},
                                "user_id": {"type": "string", "format": "uuid"},
                                "username": {
                                    "type": "string",
                                    "description": "The name as cleaned and signed.",
                                },
                            },
                        },
                    ),
                    400: oa.error(
                        "The body is not UTF-8 JSON, not an object, or the username is not a "
                        f"string of 1 to {max_name} visible characters once cleaned."
                    ),
                    404: oa.error("`Not found`: in production, where no token is issued here."),
                    413: oa.error("The body is over 16 KiB."),
                },
                description=(
                    "The name is cleaned by the arcade's one rule (varcade_workers.names: "
                    "invisible and direction-changing characters removed, spaces collapsed "
                    "and trimmed, NFC). Outside production only; production answers 404."
                ),
                tags=["development"],
                request_body=oa.json_body(
                    {
                        "type": "object",
                        "required": ["username"],
                        "properties": {
                            "username": {"type": "string", "minLength": 1, "maxLength": max_name}
                        },
                    }
                ),
            )
        },
        "/openapi.json": oa.openapi_path(PAGE_TITLE),
    }
    return oa.document(
        title=PAGE_TITLE,
        version=VERSION,
        description=(
            "The playable page of game_rps (plain files, no build step), its configuration, "
            "and, outside production, player tokens for development. Every error is JSON "
            '`{"message": ...}`; HEAD is answered wherever GET is (no body). Requests aiohttp '
            'cannot parse get a 400 `{"message": "Bad request: ..."}` on any path.'
        ),
        paths=paths,
        schemas={
            "Fighters": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "health", "weapons"],
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "health": {"type": "number"},
                        "weapons": {"type": "array", "items": fighter_weapon},
                    },
                },
            }
        },
        tags=[
            {"name": "page", "description": "The page and its files."},
            {"name": "development", "description": "Outside production only."},
            {"name": "meta", "description": "Health and this document."},
        ],
    )
