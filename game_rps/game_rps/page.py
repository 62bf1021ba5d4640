"""The web page's server: the static client, its configuration and the development token service.

The game server process mounts this app on CLIENT_PORT. The page is plain files (no build step),
so the server only hands the page what it cannot know: the service addresses, the fighter table
(one copy, in game_rps.fighters) and, in development only, player tokens (in production the arcade
portal issues them).
"""

from __future__ import annotations

import json
import logging
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
from aiohttp import web

from game_rps.engine import PRODUCT_ID
from game_rps.fighters import fighters_json
from game_rps.json_errors import Handler, json_error, with_json_errors
from varcade_workers import settings

log = logging.getLogger("game_rps.page")

CLIENT_DIR = Path(__file__).resolve().parent.parent / "client"
DEV_JWT_SECRET = settings.DEV_JWT_SECRET  # development only; shared with the matchmaker
DEFAULT_MATCHMAKER_URL = "http://127.0.0.1:5050"
DEFAULT_STATS_TRACKER_URL = "http://127.0.0.1:5000"
USERNAME_MAX_LENGTH = 32
# user ids are uuid5(namespace, username): stable across restarts, so a name keeps its stats.
USER_ID_NAMESPACE = uuid.UUID("5f0c3e52-8a4b-4f3e-9d39-6c1b2a7e0d11")


@dataclass(frozen=True)
class PageConfig:
    """Everything the page server reads from the environment, read once."""

    environment: str = "development"
    jwt_secret: str = DEV_JWT_SECRET
    matchmaker_url: str = DEFAULT_MATCHMAKER_URL
    stats_tracker_url: str = DEFAULT_STATS_TRACKER_URL
    client_dir: Path = CLIENT_DIR

    @property
    def dev_tokens(self) -> bool:
        """Only outside production may this server mint player tokens."""
        return self.environment != "production"

    @classmethod
    def from_env(cls) -> PageConfig:
        return cls(
            environment=settings.environment(),
            jwt_secret=settings.secret("JWT_SECRET", DEV_JWT_SECRET),
            matchmaker_url=_strip_slash(settings.env_str("MATCHMAKER_URL", DEFAULT_MATCHMAKER_URL)),
            stats_tracker_url=_strip_slash(
                settings.env_str("STATS_TRACKER_URL", DEFAULT_STATS_TRACKER_URL)
            ),
        )


def _strip_slash(url: str) -> str:
    return url.rstrip("/")


class InvalidUsername(ValueError):
    """The username a player asked for cannot be used; the message is shown to them."""


def validate_username(value: object) -> str:
    """Accept a short printable name; surrounding spaces are dropped so ' bob' is 'bob'."""
    if not isinstance(value, str):
        raise InvalidUsername("username must be a string")
    name = value.strip()
    if not name:
        raise InvalidUsername("username must not be empty")
    if len(name) > USERNAME_MAX_LENGTH:
        raise InvalidUsername(f"username must be at most {USERNAME_MAX_LENGTH} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise InvalidUsername("username must not contain control characters")
    return name


def user_id_for(username: str) -> str:
    """The same username always gets the same user id (no user database in development)."""
    return str(uuid.uuid5(USER_ID_NAMESPACE, username))


def mint_token(username: str, secret: str) -> dict[str, str]:
    """A player token as the portal would issue it: HS256 with user_id and username."""
    user_id = user_id_for(username)
    token = jwt.encode({"user_id": user_id, "username": username}, secret, algorithm="HS256")
    return {"token": token, "user_id": user_id, "username": username}


CONFIG_KEY = web.AppKey("page_config", PageConfig)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # The page talks to the matchmaker, the stats tracker and a game server whose address
    # only the matchmaker knows, hence the broad connect-src.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' http: https: ws: wss:; frame-ancestors 'none'; base-uri 'none'"
    ),
}


@web.middleware
async def _headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors as JSON, security headers everywhere, and caching that never serves a stale page."""
    response = await with_json_errors(request, handler, log, {404: "Not found"})
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if "Cache-Control" not in response.headers:
        # Static files: revalidate every time (ETag / Last-Modified make that cheap);
        # there is no build step to fingerprint file names, so long caching would serve stale code.
        static = request.method in ("GET", "HEAD") and response.status == 200
        response.headers["Cache-Control"] = "no-cache" if static else "no-store"
    return response


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(request.app[CONFIG_KEY].client_dir / "index.html")


async def _config(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    body = {
        "productId": PRODUCT_ID,
        "matchmakerUrl": config.matchmaker_url,
        "statsTrackerUrl": config.stats_tracker_url,
        "devTokens": config.dev_tokens,
        "fighters": fighters_json(),
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def _fighters(request: web.Request) -> web.Response:
    return web.json_response(fighters_json(), headers={"Cache-Control": "no-store"})


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"}, headers={"Cache-Control": "no-store"})


async def _dev_token(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    if not config.dev_tokens:
        return json_error(404, "Not found")
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return json_error(400, "Request body must be JSON.")
    if not isinstance(body, dict):
        return json_error(400, 'Request body must be a JSON object {"username": "..."}.')
    try:
        username = validate_username(body.get("username"))
    except InvalidUsername as exc:
        return json_error(400, str(exc))
    issued = mint_token(username, config.jwt_secret)
    log.info("dev token issued", extra={"user_id": issued["user_id"]})
    return web.json_response(issued, headers={"Cache-Control": "no-store"})


def create_page_app(config: PageConfig | None = None) -> web.Application:
    """The app the game server runs on CLIENT_PORT; config defaults to the environment."""
    config = config or PageConfig.from_env()
    app = web.Application(middlewares=[_headers_middleware], client_max_size=16 * 1024)
    app[CONFIG_KEY] = config
    app.router.add_get("/", _index)
    app.router.add_get("/index.html", _index)
    app.router.add_get("/config.json", _config)
    app.router.add_get("/fighters.json", _fighters)
    app.router.add_get("/healthz", _healthz)
    app.router.add_post("/dev/token", _dev_token)
    app.router.add_static("/static/", config.client_dir, show_index=False, follow_symlinks=False)
    return app
