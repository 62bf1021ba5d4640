"""The matchmaker's configuration, read from the environment once, at start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from varcade_workers.player_tokens import TokenRules
from varcade_workers.settings import DEV_GAME_SERVER_TOKEN, DEV_JWT_SECRET, ConfigError

from matchmaker.games import Product
from varcade_workers import settings

# Development defaults (DEV_JWT_SECRET, DEV_GAME_SERVER_TOKEN) come from the library, shared with
# the game server; production refuses them (settings.secret).

DEFAULT_GAME_SERVERS: list[dict[str, Any]] = [
    {
        "product_id": "exrps",
        "game_server_url": "http://127.0.0.1:8080",
        "game_socket_url": "127.0.0.1:8085",
        "settings": {"num_players": 2},
    }
]

METRICS_PORT = 5051


@dataclass(frozen=True)
class Config:
    environment: str = "development"
    redis_url: str = "redis://127.0.0.1:6379/0"
    event_stream_url: str = "redis://127.0.0.1:6379/1"
    jwt_secret: str = DEV_JWT_SECRET
    game_server_token: str = DEV_GAME_SERVER_TOKEN
    products: Mapping[str, Product] = field(
        default_factory=lambda: parse_products(DEFAULT_GAME_SERVERS)
    )
    cors_origins: tuple[str, ...] = settings.DEFAULT_CORS_ORIGINS
    open_games_default_count: int = 10
    open_games_max_count: int = 25
    # Connect and read timeout of each call to a game server: a slow server must not hold a request.
    game_server_timeout: float = 3.0
    curation_interval: float = 5.0
    curation_batch: int = 100
    #: How long the worker holds an event whose predecessor (by `seq`) has not been applied yet.
    order_wait_seconds: float = 15.0
    #: What a player token must carry (JWT_REQUIRE_EXP, JWT_ISSUER, JWT_AUDIENCE,
    #: JWT_MAX_AGE_SECONDS): `exp` by default.
    token_rules: TokenRules = field(default_factory=TokenRules)
    #: Games a player may have created and not seen end, per product (0: no limit).
    max_open_games_per_player: int = 3
    #: create_game / join_game calls one player may make per minute (0: no limit).
    create_rate_per_minute: int = 10
    join_rate_per_minute: int = 30
    #: EventStreamWorker tuning (STREAM_BATCH_SIZE, STREAM_BLOCK_MS, STREAM_CLAIM_IDLE_MS,
    #: STREAM_MAX_DELIVERIES), read by the library.
    stream: settings.StreamOptions = field(
        default_factory=lambda: settings.StreamOptions(**settings.STREAM_DEFAULTS)
    )

    @classmethod
    def from_env(cls, *, player_api: bool = True) -> Config:
        """Raises ConfigError (naming the variable) for a bad or, in production, a default, short
        (under 32 bytes) or shared value. The worker (`player_api=False`) checks no player tokens,
        so it neither reads nor needs JWT_SECRET."""
        minimum = settings.MIN_SECRET_BYTES
        game_server_token = settings.secret(
            "GAME_SERVER_TOKEN", DEV_GAME_SERVER_TOKEN, min_bytes=minimum
        )
        jwt_secret = DEV_JWT_SECRET
        if player_api:
            jwt_secret = settings.secret("JWT_SECRET", DEV_JWT_SECRET, min_bytes=minimum)
            settings.distinct_secrets(JWT_SECRET=jwt_secret, GAME_SERVER_TOKEN=game_server_token)
        return cls(
            environment=settings.environment(),
            redis_url=settings.redis_url("REDIS_URL", 0),
            event_stream_url=settings.redis_url("EVENT_STREAM_URL", 1),
            jwt_secret=jwt_secret,
            game_server_token=game_server_token,
            products=parse_products(settings.env_json("GAME_SERVERS", DEFAULT_GAME_SERVERS)),
            cors_origins=settings.cors_origins(),
            open_games_default_count=settings.env_int("OPEN_GAMES_DEFAULT_COUNT", 10, minimum=1),
            open_games_max_count=settings.env_int("OPEN_GAMES_MAX_COUNT", 25, minimum=1),
            game_server_timeout=settings.env_float(
                "GAME_SERVER_TIMEOUT_SECONDS", 3.0, minimum=0.001
            ),
            curation_interval=settings.env_float("CURATION_INTERVAL_SECONDS", 5.0, minimum=0.01),
            curation_batch=settings.env_int("CURATION_BATCH", 100, minimum=1),
            order_wait_seconds=settings.env_float("ORDER_WAIT_SECONDS", 15.0, minimum=0.0),
            token_rules=TokenRules.from_env(),
            max_open_games_per_player=settings.env_int("MAX_OPEN_GAMES_PER_PLAYER", 3, minimum=0),
            create_rate_per_minute=settings.env_int("CREATE_RATE_PER_MINUTE", 10, minimum=0),
            join_rate_per_minute=settings.env_int("JOIN_RATE_PER_MINUTE", 30, minimum=0),
            stream=settings.stream_options(),
        )


def parse_products(value: Any, *, variable: str = "GAME_SERVERS") -> dict[str, Product]:
    """Validate the product registry: a JSON list of {product_id, game_server_url, game_socket_url,
    settings}."""
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{variable} must be a non-empty JSON list of products")
    products: dict[str, Product] = {}
    for index, entry in enumerate(value):
        where = f"{variable}[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be an object")
        texts = {}
        for key in ("product_id", "game_server_url", "game_socket_url"):
            text = entry.get(key)
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f"{where}.{key} must be a non-empty string")
            texts[key] = text.strip()
        if not texts["game_server_url"].startswith(("http://", "https://")):
            raise ConfigError(f"{where}.game_server_url must be an http(s) URL")
        product_settings = entry.get("settings", {})
        if not isinstance(product_settings, dict):
            raise ConfigError(f"{where}.settings must be an object")
        num_players = product_settings.get("num_players", 2)
        if not isinstance(num_players, int) or isinstance(num_players, bool) or num_players < 2:
            raise ConfigError(f"{where}.settings.num_players must be an integer >= 2")
        if texts["product_id"] in products:
            raise ConfigError(f"{where}.product_id {texts['product_id']!r} is listed twice")
        products[texts["product_id"]] = Product(
            product_id=texts["product_id"],
            game_server_url=texts["game_server_url"].rstrip("/"),
            game_socket_url=texts["game_socket_url"],
            settings=dict(product_settings),
        )
    return products
