"""The web page's server: the static client, its configuration and the development token service.

The game server process mounts this app on CLIENT_PORT. The page is plain files (no build step),
so the server only hands the page what it cannot know: the service addresses, the fighter table
(one copy, in game_rps.fighters) and, in development only, player tokens (in production the arcade
portal issues them).
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Final

from aiohttp import web

from game_rps import openapi
from game_rps.engine import PRODUCT_ID
from game_rps.fighters import fighters_json
from game_rps.json_errors import Handler, json_error, with_json_errors
from varcade_workers import names, player_tokens, settings

log = logging.getLogger("game_rps.page")

CLIENT_DIR = Path(__file__).resolve().parent.parent / "client"
DEV_JWT_SECRET = settings.DEV_JWT_SECRET  # development only; shared with the matchmaker
DEFAULT_MATCHMAKER_URL = "http://127.0.0.1:5050"
DEFAULT_STATS_TRACKER_URL = "http://127.0.0.1:5000"
USERNAME_MAX_LENGTH = names.USERNAME_MAX_LENGTH  # the page's maxlength; one rule, in the library
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
    #: The matchmaker's rules for player tokens (JWT_ISSUER, JWT_AUDIENCE, JWT_MAX_AGE_SECONDS), so
    #: that the tokens minted here carry what it requires (exp, and iss / aud when configured).
    token_rules: player_tokens.TokenRules = field(default_factory=player_tokens.TokenRules)

    @property
    def dev_tokens(self) -> bool:
        """Only outside production may this server mint player tokens."""
        return self.environment != "production"

    @classmethod
    def from_env(cls) -> PageConfig:
        # Only /dev/token uses the secret and the token rules, and it does not exist in
        # production: production reads neither (the portal and the matchmaker hold them).
        production = settings.is_production()
        return cls(
            environment=settings.environment(),
            jwt_secret="" if production else settings.secret("JWT_SECRET", DEV_JWT_SECRET),
            matchmaker_url=_strip_slash(settings.env_str("MATCHMAKER_URL", DEFAULT_MATCHMAKER_URL)),
            stats_tracker_url=_strip_slash(
                settings.env_str("STATS_TRACKER_URL", DEFAULT_STATS_TRACKER_URL)
            ),
            token_rules=(
                player_tokens.TokenRules() if production else player_tokens.TokenRules.from_env()
            ),
        )


def _strip_slash(url: str) -> str:
    return url.rstrip("/")


InvalidUsername = names.InvalidUsername  # the message is shown to the player


def validate_username(value: object) -> str:
    """The name cleaned and bounded by the arcade's one rule (``varcade_workers.names``: invisible
    and direction-changing characters removed, spaces collapsed and trimmed, 1 to 32 characters as
    the page counts them), so ' bob\u202e' is 'bob'; :class:`InvalidUsername` otherwise."""
    return names.check_username(value)


def user_id_for(username: str) -> str:
    """The same username always gets the same user id (no user database in development)."""
    return str(uuid.uuid5(USER_ID_NAMESPACE, username))


def mint_token(
    username: str, secret: str, rules: player_tokens.TokenRules | None = None
) -> dict[str, str]:
    """A player token as the portal would issue it: HS256 with user_id and username, plus iat,
    exp and the rules' iss / aud (``varcade_workers.player_tokens.issue``, what the matchmaker's
    ``verify`` accepts under the same rules)."""
    user_id = user_id_for(username)
    claims = {"user_id": user_id, "username": username}
    token = player_tokens.issue(claims, secret, rules)
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


#: What ``/static/`` serves: the page's own files, by extension, and nothing else of ``client/``
#: (not its README, its tests, or package files): extension -> (content type, charset).
STATIC_TYPES: Final[dict[str, tuple[str, str | None]]] = {
    ".html": ("text/html", "utf-8"),
    ".css": ("text/css", "utf-8"),
    ".js": ("text/javascript", "utf-8"),
    ".svg": ("image/svg+xml", None),
    ".png": ("image/png", None),
    ".jpg": ("image/jpeg", None),
    ".gif": ("image/gif", None),
    ".webp": ("image/webp", None),
    ".ico": ("image/x-icon", None),
    ".woff2": ("font/woff2", None),
}
#: Folders of client/ that are never served, whatever their files' extensions.
STATIC_EXCLUDED_DIRS: Final = frozenset({"tests", "node_modules"})
MAX_STATIC_PATH = 200  # characters; longer is a 404 without touching the file system
# One path segment: a plain name (no hidden file, no "..", no odd character), at most 100 long.
_STATIC_SEGMENT: Final = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


def static_file(client_dir: Path, relative: str) -> Path | None:
    """The file of ``client_dir`` that ``/static/<relative>`` names if the page may be served it
    (module constants: allowed extensions, excluded folders, test files, plain names, a regular
    file inside ``client_dir``); None otherwise."""
    if len(relative) > MAX_STATIC_PATH:
        return None
    parts = relative.split("/")
    if not all(_STATIC_SEGMENT.fullmatch(part) for part in parts):
        return None
    name = parts[-1].lower()
    if STATIC_EXCLUDED_DIRS.intersection(parts[:-1]) or ".test." in name or ".spec." in name:
        return None
    if os.path.splitext(name)[1] not in STATIC_TYPES:
        return None
    path = client_dir.joinpath(*parts)
    try:
        if not stat.S_ISREG(path.lstat().st_mode):  # no folder, no symbolic link
            return None
        if not path.resolve().is_relative_to(client_dir.resolve()):
            return None
    except (OSError, RuntimeError):
        return None
    return path


def _not_modified(request: web.Request, etag: str, mtime: float) -> bool:
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return etag in tags or "*" in tags
    since = request.if_modified_since  # None when absent or not a date
    return since is not None and int(mtime) <= since.timestamp()


def _file_response(request: web.Request, path: Path) -> web.Response:
    """A page file, whole (no ranges: the files are small), revalidated with ETag and
    Last-Modified (304), ``Cache-Control: no-cache``; a file that cannot be read is a 404."""
    content_type, charset = STATIC_TYPES[path.suffix.lower()]
    try:
        info = path.stat()
        body = path.read_bytes()
    except OSError:
        raise web.HTTPNotFound() from None
    etag = f'"{info.st_mtime_ns:x}-{info.st_size:x}"'
    headers = {
        "ETag": etag,
        "Last-Modified": formatdate(info.st_mtime, usegmt=True),
        "Cache-Control": "no-cache",
    }
    if _not_modified(request, etag, info.st_mtime):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type=content_type, charset=charset, headers=headers)


async def _index(request: web.Request) -> web.StreamResponse:
    return _file_response(request, request.app[CONFIG_KEY].client_dir / "index.html")


async def _static(request: web.Request) -> web.StreamResponse:
    path = static_file(request.app[CONFIG_KEY].client_dir, request.match_info["path"])
    if path is None:
        raise web.HTTPNotFound()
    return _file_response(request, path)


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
        # JSON is UTF-8 whatever the Content-Type's charset says (an unknown one raised).
        body = json.loads((await request.read()).decode("utf-8"))
    except (ValueError, RecursionError):
        # ValueError: not UTF-8, not JSON, or a number of thousands of digits (int() refuses
        # them); RecursionError: nesting deeper than the parser's recursion limit.
        return json_error(400, "Request body must be JSON.")
    if not isinstance(body, dict):
        return json_error(400, 'Request body must be a JSON object {"username": "..."}.')
    try:
        username = validate_username(body.get("username"))
    except InvalidUsername as exc:
        return json_error(400, str(exc))
    issued = mint_token(username, config.jwt_secret, config.token_rules)
    log.info("dev token issued", extra={"user_id": issued["user_id"]})
    return web.json_response(issued, headers={"Cache-Control": "no-store"})


DOCUMENT_KEY = web.AppKey("openapi_document", dict)


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[DOCUMENT_KEY], headers={"Cache-Control": "no-store"})


def create_page_app(config: PageConfig | None = None) -> web.Application:
    """The app the game server runs on CLIENT_PORT; config defaults to the environment."""
    config = config or PageConfig.from_env()
    app = web.Application(middlewares=[_headers_middleware], client_max_size=16 * 1024)
    app[CONFIG_KEY] = config
    app[DOCUMENT_KEY] = openapi.page_document()
    app.router.add_get("/", _index)
    app.router.add_get("/index.html", _index)
    app.router.add_get("/config.json", _config)
    app.router.add_get("/fighters.json", _fighters)
    app.router.add_get("/healthz", _healthz)
    app.router.add_post("/dev/token", _dev_token)
    app.router.add_get("/static/{path:.+}", _static)
    app.router.add_get("/openapi.json", _openapi)
    return app
