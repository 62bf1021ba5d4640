"""12-factor configuration: every service reads its environment through these, so a bad value fails
at start with a message naming the variable (CONVENTIONS: "a bad value fails at start with a message
naming the variable").

An unset variable and an empty one are the same here (compose files often pass ``VAR=`` for "not
set").

Example (a service's ``config.py``)::

    from varcade_workers import settings

    REDIS_URL = settings.redis_url("REDIS_URL", 2)
    EVENT_STREAM_URL = settings.redis_url("EVENT_STREAM_URL", 1)
    JWT_SECRET = settings.secret("JWT_SECRET", settings.DEV_JWT_SECRET)
    PORT = settings.env_int("PORT", 5000, minimum=1)
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from typing import Any, Final, Literal, TypedDict, cast
from urllib.parse import urlsplit

__all__ = [
    "ANY_ORIGIN",
    "DEFAULT_CORS_ORIGINS",
    "DEFAULT_REDIS",
    "DEV_GAME_SERVER_TOKEN",
    "DEV_JWT_SECRET",
    "ENVIRONMENTS",
    "MIN_SECRET_BYTES",
    "STREAM_DEFAULTS",
    "ConfigError",
    "StreamOptions",
    "bind_host",
    "cors_origins",
    "distinct_secrets",
    "env_float",
    "env_int",
    "env_json",
    "env_list",
    "env_str",
    "environment",
    "exact_origin",
    "is_production",
    "redis_url",
    "secret",
    "stream_options",
]

Environment = Literal["development", "test", "production"]
ENVIRONMENTS: Final = ("development", "test", "production")
DEFAULT_REDIS: Final = "redis://127.0.0.1:6379"
_REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")

# DEVELOPMENT ONLY. The shared secrets every service uses when none is configured, so that `make
# run`, the tests and the demo work with no configuration; they are public (in this repository).
# In production `secret()` refuses them, whichever variable they are given to. 32 bytes or more:
# PyJWT warns (InsecureKeyLengthWarning) about shorter HMAC keys.
DEV_JWT_SECRET: Final = "varcade-DEVELOPMENT-ONLY-jwt-secret-never-in-production"
DEV_GAME_SERVER_TOKEN: Final = "varcade-DEVELOPMENT-ONLY-game-server-token-never-in-production"
_DEVELOPMENT_SECRETS: Final = frozenset((DEV_JWT_SECRET, DEV_GAME_SERVER_TOKEN))


class ConfigError(ValueError):
    """A missing or bad configuration value; the message names the variable."""


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


def environment() -> Environment:
    """``VARCADE_ENV``: ``development`` (default), ``test`` or ``production``."""
    value = (_raw("VARCADE_ENV") or "development").strip().lower()
    if value not in ENVIRONMENTS:
        raise ConfigError(f"VARCADE_ENV must be one of {', '.join(ENVIRONMENTS)}, got {value!r}")
    return cast(Environment, value)


def is_production() -> bool:
    """True when ``VARCADE_ENV=production`` (no dev conveniences, no default secrets)."""
    return environment() == "production"


def env_str(name: str, default: str) -> str:
    """The variable's text, or ``default`` when unset or empty."""
    value = _raw(name)
    return default if value is None else value


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    """An integer variable; a non-integer or a value below ``minimum`` raises
    :class:`ConfigError`."""
    text = _raw(name)
    if text is None:
        value = default
    else:
        try:
            value = int(text.strip())
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {text!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    """A number variable (e.g. ``TICK_SECONDS``); a non-number or a value below ``minimum``
    raises."""
    text = _raw(name)
    if text is None:
        value = default
    else:
        try:
            value = float(text.strip())
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{name} must be a finite number, got {text!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str] | tuple[str, ...]) -> list[str]:
    """A comma-separated list (e.g. ``CORS_ORIGINS``); blanks around items and empty items are
    dropped."""
    text = _raw(name)
    if text is None:
        return list(default)
    return [item.strip() for item in text.split(",") if item.strip()]


#: The arcade page's origin in development (CLIENT_PORT 8090): what both HTTP APIs let call them.
DEFAULT_CORS_ORIGINS: Final = ("http://127.0.0.1:8090", "http://localhost:8090")


#: ``CORS_ORIGINS=*`` on its own: any origin, outside production only (a development convenience).
ANY_ORIGIN: Final = "*"

# A host name as browsers put it in an origin (lowercase; no wildcard, no user, no path).
_LABEL: Final = r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?"
_HOST_NAME: Final = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def exact_origin(text: str, variable: str = "CORS_ORIGINS") -> str:
    """One browser origin, ``scheme://host[:port]`` (http or https; a host name, an IPv4 address or
    a bracketed IPv6 address; no path, query, fragment, user or wildcard), lowercased and without
    its scheme's default port, as a browser sends it in ``Origin``. Anything else raises
    :class:`ConfigError` naming ``variable``."""
    value = text.strip()
    problem = (
        f"{variable}: {value!r} is not an origin: give scheme://host[:port] exactly "
        "(e.g. https://arcade.example.com or http://127.0.0.1:8090), without a path or a wildcard"
    )
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ConfigError(problem) from None
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    if scheme not in _DEFAULT_PORTS or not host:
        raise ConfigError(problem)
    if ":" in host:  # IPv6, written in brackets
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(problem) from None
        written = f"[{host}]"
    elif _HOST_NAME.fullmatch(host):
        written = host
    else:
        raise ConfigError(problem)
    with_port = written if port is None else f"{written}:{port}"
    # Whatever else the text holds (a path, "?", "#", "user@", an empty port) makes it differ.
    if value.lower() != f"{scheme}://{with_port}":
        raise ConfigError(problem)
    return f"{scheme}://{written if port == _DEFAULT_PORTS[scheme] else with_port}"


def cors_origins(name: str = "CORS_ORIGINS") -> tuple[str, ...]:
    """``CORS_ORIGINS``: the browser origins allowed to call an HTTP API, comma-separated, each an
    exact origin (:func:`exact_origin`: compared whole, never as a prefix or a pattern).

    A lone ``*`` means any origin, outside production only (a development convenience); ``*`` in
    production, ``*`` beside other entries and any entry that is not an origin raise
    :class:`ConfigError` naming the variable."""
    values = env_list(name, DEFAULT_CORS_ORIGINS)
    if ANY_ORIGIN in values:
        if is_production():
            raise ConfigError(
                f"{name} must list exact origins in production; '*' (any origin) is refused"
            )
        if len(values) > 1:
            raise ConfigError(f"{name}: '*' (any origin, development only) must be the only entry")
        return (ANY_ORIGIN,)
    return tuple(dict.fromkeys(exact_origin(value, name) for value in values))


def bind_host(name: str = "BIND_HOST") -> str:
    """The address a server listens on: ``BIND_HOST`` for the HTTP APIs (gunicorn),
    ``METRICS_HOST`` for a worker's ``/metrics`` and ``/healthz``.

    Unset: loopback (``127.0.0.1``) in development and test, so that nothing else on the network
    reaches a developer's arcade; all interfaces (``0.0.0.0``) in production, where a container's
    port must be reachable by its proxy or orchestrator. An IP address (IPv6 without brackets) or a
    host name; anything else raises :class:`ConfigError` naming the variable."""
    default = "0.0.0.0" if is_production() else "127.0.0.1"
    value = env_str(name, default).strip()
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOST_NAME.fullmatch(value.lower()):
            raise ConfigError(
                f"{name} must be an IP address or a host name (e.g. 127.0.0.1 or 0.0.0.0), "
                f"got {value!r}"
            ) from None
    return value


def env_json(name: str, default: Any) -> Any:
    """A JSON variable (e.g. ``GAME_SERVERS``); ``default`` (a Python value) when unset. Invalid
    JSON raises."""
    text = _raw(name)
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{name} must be valid JSON: {exc}") from None


def redis_url(name: str, db: int) -> str:
    """The Redis URL in ``name`` if set, else ``$VARCADE_REDIS/<db>`` (``VARCADE_REDIS`` without a
    db number)."""
    explicit = _raw(name)
    if explicit is not None:
        url, source = explicit.strip(), name
    else:
        base = env_str("VARCADE_REDIS", DEFAULT_REDIS).strip().rstrip("/")
        url, source = f"{base}/{db}", "VARCADE_REDIS"
        if base.startswith("unix://"):
            url = f"{base}?db={db}"
    if not url.startswith(_REDIS_SCHEMES):
        raise ConfigError(
            f"{source} must be a Redis URL (redis://, rediss:// or unix://), got {url!r}"
        )
    return url


#: The shortest secret worth the name: 32 bytes, 256 bits, what HMAC-SHA256 (HS256) wants as a key
#: (``python3 -c "import secrets; print(secrets.token_hex(32))"`` prints 64 characters).
MIN_SECRET_BYTES: Final = 32


def secret(name: str, development_default: str, *, min_bytes: int = 0) -> str:
    """A secret: in production it must be set and differ from the development default (and from
    :data:`DEV_JWT_SECRET` / :data:`DEV_GAME_SERVER_TOKEN`); elsewhere the development default
    stands in, so ``make run`` works with no configuration.

    ``min_bytes`` (e.g. :data:`MIN_SECRET_BYTES`): in production, a value shorter than this many
    UTF-8 bytes is refused too (:class:`ConfigError` naming the variable and both lengths, never
    the value). Outside production short values are accepted (tests use them). 0: no minimum.
    """
    value = _raw(name)
    if environment() == "production":
        if value is None:
            raise ConfigError(f"{name} must be set in production")
        if value == development_default or value in _DEVELOPMENT_SECRETS:
            raise ConfigError(f"{name} must not be the development default in production")
        size = len(value.encode("utf-8", "surrogateescape"))
        if size < min_bytes:
            raise ConfigError(
                f"{name} is too short for production ({size} bytes, at least {min_bytes})"
            )
        return value
    return development_default if value is None else value


def distinct_secrets(**secrets: str) -> None:
    """In production, refuse two of the given secrets being equal: ``distinct_secrets(
    JWT_SECRET=config.jwt_secret, GAME_SERVER_TOKEN=config.game_server_token)`` raises
    :class:`ConfigError` naming both variables (never the value) when they are the same, since
    whoever holds one would then hold the other. Outside production it checks nothing."""
    if environment() != "production":
        return
    seen: dict[str, str] = {}
    for name, value in secrets.items():
        other = seen.get(value)
        if other is not None:
            raise ConfigError(f"{other} and {name} must be different secrets in production")
        seen[value] = name


class StreamOptions(TypedDict):
    """`EventStreamWorker` tuning, as keyword arguments: ``Worker(url, **stream_options())``."""

    batch_size: int
    block_ms: int
    claim_idle_ms: int
    max_deliveries: int
    heartbeat_ttl_ms: int
    consumer: str | None


#: The library's defaults (`EventStreamWorker`'s signature uses them): 500 events per read, a 1 s
#: blocking read, stale entries taken over after 30 s idle, dead-lettered on the 5th delivery, a
#: consumer whose heartbeat is 5 s old is dead (its pending entries are taken over at once), and a
#: consumer name unique to the process.
STREAM_DEFAULTS: Final = StreamOptions(
    batch_size=500,
    block_ms=1000,
    claim_idle_ms=30_000,
    max_deliveries=5,
    heartbeat_ttl_ms=5_000,
    consumer=None,
)


def stream_options() -> StreamOptions:
    """Stream worker tuning from ``STREAM_BATCH_SIZE``, ``STREAM_BLOCK_MS``,
    ``STREAM_CLAIM_IDLE_MS``, ``STREAM_MAX_DELIVERIES``, ``STREAM_HEARTBEAT_TTL_MS`` and
    ``STREAM_CONSUMER`` (a consumer name that survives restarts, e.g. a StatefulSet pod's name;
    it must be unique among the group's live processes) (unset: :data:`STREAM_DEFAULTS`), so every
    service tunes its workers the same way without spelling the names."""
    defaults = STREAM_DEFAULTS
    return StreamOptions(
        batch_size=env_int("STREAM_BATCH_SIZE", defaults["batch_size"], minimum=1),
        block_ms=env_int("STREAM_BLOCK_MS", defaults["block_ms"], minimum=0),
        claim_idle_ms=env_int("STREAM_CLAIM_IDLE_MS", defaults["claim_idle_ms"], minimum=1),
        max_deliveries=env_int("STREAM_MAX_DELIVERIES", defaults["max_deliveries"], minimum=1),
        heartbeat_ttl_ms=env_int(
            "STREAM_HEARTBEAT_TTL_MS", defaults["heartbeat_ttl_ms"], minimum=1000
        ),
        consumer=_raw("STREAM_CONSUMER"),
    )
