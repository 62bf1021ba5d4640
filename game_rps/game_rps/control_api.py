"""The control API the matchmaker calls (spec "game_rps server: HTTP control API").

Every game route needs ``Authorization: Bearer <GAME_SERVER_TOKEN>`` (401 otherwise); bodies are
JSON objects whose fields are checked in the spec's order. Every error is JSON ``{"message"}`` with
a 4xx status; `GET /healthz` (readiness), `GET /livez` (liveness), `GET /metrics` and
`GET /openapi.json` (this API's OpenAPI document, `game_rps.openapi`) are open (probes, scrapers and
readers of the document carry no secret).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError
from varcade_workers.redis_clients import probe_client

from game_rps import openapi
from game_rps.engine import JoinRefused
from game_rps.games import GameExists, GameRegistry, HostCannotBeRemoved, NotInGame, UnknownGame
from game_rps.json_errors import BadRequest, Handler, json_error, with_json_errors
from varcade_workers import events

log = logging.getLogger("game_rps.control_api")

REGISTRY_KEY = web.AppKey("registry", GameRegistry)
TOKEN_KEY = web.AppKey("service_token", str)
REDIS_KEY = web.AppKey("redis", aioredis.Redis)
UNHEALTHY_AFTER_KEY = web.AppKey("unhealthy_after", float)
DEFAULT_UNHEALTHY_AFTER = 10.0

OPEN_PATHS = frozenset({"/healthz", "/livez", "/metrics", "/openapi.json"})
MAX_BODY_BYTES = 64 * 1024
MAX_USERNAME_CHARS = 64
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    return await with_json_errors(request, handler, log)


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path not in OPEN_PATHS:
        header = request.headers.get("Authorization", "")
        if not _token_matches(header, request.app[TOKEN_KEY]):
            return json_error(401, "Missing or invalid service token.")
    return await handler(request)


def _token_matches(header: str, expected: str) -> bool:
    """``Bearer <token>``, compared as bytes in constant time. Whatever the header holds is at
    worst a mismatch: bytes that are not UTF-8 (aiohttp, like ``os.environ``, hands them over as
    surrogate escapes, which a plain ``str.encode()`` refuses) are compared as they came."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    try:
        sent = token.strip().encode("utf-8", "surrogateescape")
        wanted = expected.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no decoder produced: not our token either
        return False
    return hmac.compare_digest(sent, wanted)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        # 400 like any other refused input (the matchmaker reads 4xx as "refused"), with a
        # message saying why: e.g. an id of megabytes, far beyond the stream's bounds anyway.
        raise BadRequest(f"The body is too large (at most {MAX_BODY_BYTES} bytes).") from None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # deep nesting ("[[[[...") raises RecursionError
        raise BadRequest("Malformed JSON body.") from None
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.")
    return body


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"Invalid {name} format.")
    return value


def _id(body: dict[str, Any], name: str) -> str:
    """An id (gameId, userId): it goes into the stream's entries, so it must keep the stream's
    bounds (``events.check_id``: at most MAX_ID_BYTES of UTF-8 text, no control characters)."""
    value = _field(body, name)
    try:
        return events.check_id(value, name)
    except ValueError as exc:
        raise BadRequest(f"{exc}.") from None  # names the field, never echoes the value


def _username(body: dict[str, Any]) -> str:
    """A display name: shown to both players and in logs, so short encodable text."""
    value = _field(body, "username")
    if len(value) > MAX_USERNAME_CHARS:
        problem = f"is too long ({len(value)} characters, at most {MAX_USERNAME_CHARS})"
    elif not _is_encodable(value):
        problem = "is not valid Unicode text (lone surrogate)"
    elif _CONTROL_CHARACTERS.search(value):
        problem = "contains control characters"
    else:
        return value
    raise BadRequest(f"username {problem}.")


def _is_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _game_fields(body: dict[str, Any]) -> tuple[str, str, str]:
    """gameId, userId, username, checked in that order (the spec's order)."""
    game_id = _id(body, "gameId")
    user_id = _id(body, "userId")
    return game_id, user_id, _username(body)


def _registry(request: web.Request) -> GameRegistry:
    return request.app[REGISTRY_KEY]


async def create_game(request: web.Request) -> web.Response:
    body = await _body(request)
    game_id, user_id, username = _game_fields(body)
    try:
        seat = _registry(request).create_game(game_id, user_id, username)
    except GameExists as exc:
        raise BadRequest(str(exc)) from None
    return web.json_response({"gameToken": seat.game_token, "seatToken": seat.seat_token})


async def join_game(request: web.Request) -> web.Response:
    body = await _body(request)
    game_id, user_id, username = _game_fields(body)
    try:
        seat = _registry(request).join_game(game_id, user_id, username)
    except (UnknownGame, JoinRefused) as exc:
        raise BadRequest(str(exc.args[0])) from None
    return web.json_response({"gameToken": seat.game_token, "seatToken": seat.seat_token})


async def remove_game(request: web.Request) -> web.Response:
    body = await _body(request)
    game_id = _id(body, "gameId")
    if not _registry(request).remove_game(game_id):
        return web.json_response(None)
    return web.json_response({"gameId": game_id, "gameRemoved": True})


async def remove_player(request: web.Request) -> web.Response:
    body = await _body(request)
    game_id, user_id = _id(body, "gameId"), _id(body, "userId")
    try:
        closed = _registry(request).remove_player(game_id, user_id)
    except (UnknownGame, HostCannotBeRemoved) as exc:
        raise BadRequest(str(exc.args[0])) from None
    except NotInGame as exc:
        raise BadRequest(str(exc.args[0]), status=404) from None
    return web.json_response({"playerRemoved": True, "connectionRemoved": closed})


async def healthz(request: web.Request) -> web.Response:
    """Readiness: 200 when the events get written; 503 with a ``reason`` when the event stream's
    Redis does not answer, or when buffered events have not been written for longer than
    EVENT_WRITE_UNHEALTHY_SECONDS (games go on either way: this says "do not send me games")."""
    registry = _registry(request)
    event_log = registry.event_log
    reasons = []
    try:
        redis_ok = bool(await request.app[REDIS_KEY].ping())
    except (RedisError, OSError) as exc:
        redis_ok = False
        error = f"{type(exc).__name__}: {exc}"[:200]
        reasons.append(f"the event stream's Redis is unreachable ({error})")
    else:
        if not redis_ok:
            reasons.append("the event stream's Redis did not answer the ping")
    unwritten = event_log.unwritten_seconds
    limit = request.app[UNHEALTHY_AFTER_KEY]
    if unwritten > limit:
        reasons.append(
            f"events cannot be written for {unwritten:.1f} s "
            f"({event_log.buffered} buffered, limit {limit:g} s)"
        )
    body: dict[str, Any] = {"status": "unavailable" if reasons else "ok"}
    if reasons:
        body["reason"] = "; ".join(reasons)
    body.update(
        redis=redis_ok,
        games=len(registry),
        events_buffered=event_log.buffered,
        events_unwritten_seconds=round(unwritten, 1),
        events_rejected=event_log.rejected_total,
    )
    return web.json_response(body, status=503 if reasons else 200)


async def livez(request: web.Request) -> web.Response:
    """Liveness: answered by the event loop itself, without Redis, so it fails only when the
    process is stuck (what a liveness probe restarts); a Redis outage is /healthz's business."""
    return web.json_response({"status": "alive"})


async def metrics(request: web.Request) -> web.Response:
    registry = _registry(request)
    return web.Response(
        body=registry.metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4"}
    )


DOCUMENT_KEY = web.AppKey("openapi_document", dict)


async def openapi_document(request: web.Request) -> web.Response:
    """This API's OpenAPI 3.1 document (no token: it holds no secret)."""
    return web.json_response(request.app[DOCUMENT_KEY])


def create_control_app(
    registry: GameRegistry,
    service_token: str,
    redis_client: aioredis.Redis,
    *,
    unhealthy_after: float = DEFAULT_UNHEALTHY_AFTER,
) -> web.Application:
    """The CONTROL_PORT app; ``unhealthy_after``: EVENT_WRITE_UNHEALTHY_SECONDS."""
    app = web.Application(middlewares=[_errors, _auth], client_max_size=MAX_BODY_BYTES)
    app[REGISTRY_KEY] = registry
    app[TOKEN_KEY] = service_token
    app[UNHEALTHY_AFTER_KEY] = unhealthy_after
    app[DOCUMENT_KEY] = openapi.control_document(
        max_body_bytes=MAX_BODY_BYTES, max_username_chars=MAX_USERNAME_CHARS
    )
    # /healthz pings through its own no-retry client: 503 at once when Redis is down, instead of
    # waiting behind the service client's retries or its busy connections.
    probe = probe_client(redis_client)
    app[REDIS_KEY] = probe
    if probe is not redis_client:

        async def close_probe(app: web.Application) -> None:
            await probe.aclose()

        app.on_cleanup.append(close_probe)
    app.router.add_post("/create_game", create_game)
    app.router.add_post("/join_game", join_game)
    app.router.add_post("/remove_game", remove_game)
    app.router.add_post("/remove_player", remove_player)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", livez)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi_document)
    return app
