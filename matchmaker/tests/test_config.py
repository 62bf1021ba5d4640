"""Configuration from the environment; production refuses development secrets."""

import json

import pytest
from matchmaker.config import DEV_GAME_SERVER_TOKEN, DEV_JWT_SECRET, Config, parse_products
from varcade_workers.settings import ConfigError

from varcade_workers import settings

VARIABLES = (
    "VARCADE_ENV", "VARCADE_REDIS", "REDIS_URL", "EVENT_STREAM_URL", "JWT_SECRET",
    "GAME_SERVER_TOKEN", "GAME_SERVERS", "CORS_ORIGINS", "STREAM_MAX_DELIVERIES",
    "ORDER_WAIT_SECONDS",
)  # fmt: skip


PROD_JWT = "production-jwt-secret-of-at-least-32-bytes"
PROD_GS = "production-game-server-token-of-32-bytes-or-more"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_stream_tuning_comes_from_the_library(monkeypatch):
    assert Config.from_env().stream == settings.STREAM_DEFAULTS
    monkeypatch.setenv("STREAM_MAX_DELIVERIES", "3")
    assert Config.from_env().stream["max_deliveries"] == 3


def test_development_defaults():
    config = Config.from_env()
    assert config.redis_url == "redis://127.0.0.1:6379/0"
    assert config.event_stream_url == "redis://127.0.0.1:6379/1"
    assert config.jwt_secret == DEV_JWT_SECRET
    product = config.products["exrps"]
    assert product.game_server_url == "http://127.0.0.1:8080"
    assert product.game_socket_url == "127.0.0.1:8085"
    assert product.settings == {"num_players": 2}
    assert "http://127.0.0.1:8090" in config.cors_origins


def test_varcade_redis_moves_both_databases(monkeypatch):
    monkeypatch.setenv("VARCADE_REDIS", "redis://redis:6379")
    config = Config.from_env()
    assert config.redis_url == "redis://redis:6379/0"
    assert config.event_stream_url == "redis://redis:6379/1"


@pytest.mark.parametrize("missing", ["JWT_SECRET", "GAME_SERVER_TOKEN"])
def test_production_refuses_a_missing_secret(monkeypatch, missing):
    monkeypatch.setenv("VARCADE_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", PROD_JWT)
    monkeypatch.setenv("GAME_SERVER_TOKEN", PROD_GS)
    monkeypatch.delenv(missing)
    with pytest.raises(ConfigError, match=missing):
        Config.from_env()


@pytest.mark.parametrize(
    ("name", "default"),
    [("JWT_SECRET", DEV_JWT_SECRET), ("GAME_SERVER_TOKEN", DEV_GAME_SERVER_TOKEN)],
)
def test_production_refuses_a_default_secret(monkeypatch, name, default):
    monkeypatch.setenv("VARCADE_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", PROD_JWT)
    monkeypatch.setenv("GAME_SERVER_TOKEN", PROD_GS)
    monkeypatch.setenv(name, default)
    with pytest.raises(ConfigError, match=name):
        Config.from_env()


def test_production_with_real_secrets_starts(monkeypatch):
    monkeypatch.setenv("VARCADE_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", PROD_JWT)
    monkeypatch.setenv("GAME_SERVER_TOKEN", PROD_GS)
    config = Config.from_env()
    assert (config.jwt_secret, config.game_server_token) == (PROD_JWT, PROD_GS)


def test_game_servers_from_json(monkeypatch):
    monkeypatch.setenv(
        "GAME_SERVERS",
        json.dumps(
            [
                {
                    "product_id": "exrps",
                    "game_server_url": "http://game:8080/",
                    "game_socket_url": "game.example:8085",
                    "settings": {"num_players": 2},
                },
                {
                    "product_id": "chess",
                    "game_server_url": "https://chess",
                    "game_socket_url": "chess:1",
                },
            ]
        ),
    )
    products = Config.from_env().products
    assert set(products) == {"exrps", "chess"}
    assert products["exrps"].game_server_url == "http://game:8080"
    assert products["chess"].settings == {}


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        "{}",
        "[]",
        '[{"product_id": "x"}]',
        '[{"product_id": "x", "game_server_url": "ftp://x", "game_socket_url": "x:1"}]',
        '[{"product_id": "x", "game_server_url": "http://x", "game_socket_url": "x:1",'
        ' "settings": {"num_players": "two"}}]',
    ],
)
def test_bad_game_servers_name_the_variable(monkeypatch, value):
    monkeypatch.setenv("GAME_SERVERS", value)
    with pytest.raises(ConfigError, match="GAME_SERVERS"):
        Config.from_env()


def test_duplicate_products_are_refused():
    entry = {"product_id": "x", "game_server_url": "http://x", "game_socket_url": "x:1"}
    with pytest.raises(ConfigError, match="twice"):
        parse_products([entry, entry])


def test_order_wait_from_the_environment(monkeypatch):
    assert Config.from_env().order_wait_seconds == 15.0
    monkeypatch.setenv("ORDER_WAIT_SECONDS", "2.5")
    assert Config.from_env().order_wait_seconds == 2.5
    monkeypatch.setenv("ORDER_WAIT_SECONDS", "-1")
    with pytest.raises(ConfigError, match="ORDER_WAIT_SECONDS"):
        Config.from_env()


def test_production_refuses_short_or_shared_secrets(monkeypatch):
    monkeypatch.setenv("VARCADE_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", "a")
    monkeypatch.setenv("GAME_SERVER_TOKEN", PROD_GS)
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        Config.from_env()
    monkeypatch.setenv("JWT_SECRET", PROD_GS)
    with pytest.raises(ConfigError, match=r"JWT_SECRET.*GAME_SERVER_TOKEN|GAME_SERVER_TOKEN.*JWT"):
        Config.from_env()


def test_the_worker_needs_no_jwt_secret(monkeypatch):
    monkeypatch.setenv("VARCADE_ENV", "production")
    monkeypatch.setenv("GAME_SERVER_TOKEN", PROD_GS)
    config = Config.from_env(player_api=False)
    assert config.game_server_token == PROD_GS
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        Config.from_env()
