"""The stats tracker's configuration, read from the environment once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stats_tracker.products import Product, build_products
from varcade_workers import settings

DEFAULT_PRODUCTS = {"exrps": "wins"}


@dataclass(frozen=True)
class Config:
    redis_url: str
    event_stream_url: str
    products: dict[str, Product]
    cors_origins: tuple[str, ...]
    #: EventStreamWorker tuning (STREAM_BATCH_SIZE, STREAM_BLOCK_MS, STREAM_CLAIM_IDLE_MS,
    #: STREAM_MAX_DELIVERIES), read by the library.
    stream: settings.StreamOptions = field(
        default_factory=lambda: settings.StreamOptions(**settings.STREAM_DEFAULTS)
    )

    @classmethod
    def from_env(cls) -> Config:
        """Read REDIS_URL, EVENT_STREAM_URL, STATS_PRODUCTS, CORS_ORIGINS, STREAM_*; fail on a bad
        one."""
        return cls(
            redis_url=settings.redis_url("REDIS_URL", 2),
            event_stream_url=settings.redis_url("EVENT_STREAM_URL", 1),
            products=parse_products(settings.env_json("STATS_PRODUCTS", DEFAULT_PRODUCTS)),
            cors_origins=settings.cors_origins(),
            stream=settings.stream_options(),
        )


def parse_products(value: Any) -> dict[str, Product]:
    """`STATS_PRODUCTS`: a JSON object {product_id: "wins" | "elo"}, at least one product."""
    if not isinstance(value, dict) or not value:
        raise settings.ConfigError(
            'STATS_PRODUCTS must be a non-empty JSON object such as {"exrps": "wins"}'
        )
    for product_id, scoring in value.items():
        if not product_id or not isinstance(scoring, str):
            raise settings.ConfigError(
                f"STATS_PRODUCTS: product {product_id!r} needs a scoring name (wins or elo)"
            )
    try:
        return build_products(value)
    except ValueError as error:
        raise settings.ConfigError(f"STATS_PRODUCTS: {error}") from None
