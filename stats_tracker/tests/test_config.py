"""Configuration from the environment."""

import pytest
from stats_tracker.config import Config
from stats_tracker.scoring import EloScoring, WinsScoring
from varcade_workers.settings import ConfigError

from varcade_workers import settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in (
        "REDIS_URL",
        "EVENT_STREAM_URL",
        "STATS_PRODUCTS",
        "CORS_ORIGINS",
        "VARCADE_REDIS",
        "STREAM_BATCH_SIZE",
        "STREAM_CLAIM_IDLE_MS",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_stats_db_2_stream_db_1_and_exrps_by_wins():
    config = Config.from_env()
    assert config.redis_url == "redis://127.0.0.1:6379/2"
    assert config.event_stream_url == "redis://127.0.0.1:6379/1"
    assert list(config.products) == ["exrps"]
    assert isinstance(config.products["exrps"].scoring, WinsScoring)
    assert "http://127.0.0.1:8090" in config.cors_origins


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv("VARCADE_REDIS", "redis://redis:6379")
    monkeypatch.setenv("STATS_PRODUCTS", '{"exrps": "elo", "chess": "wins"}')
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    config = Config.from_env()
    assert config.redis_url == "redis://redis:6379/2"
    assert config.event_stream_url == "redis://redis:6379/1"
    assert isinstance(config.products["exrps"].scoring, EloScoring)
    assert config.products["chess"].counters.names == ("games", "wins", "losses")
    assert config.cors_origins == ("https://a.example", "https://b.example")


def test_stream_tuning_comes_from_the_library(monkeypatch):
    assert Config.from_env().stream == settings.STREAM_DEFAULTS
    monkeypatch.setenv("STREAM_BATCH_SIZE", "50")
    monkeypatch.setenv("STREAM_CLAIM_IDLE_MS", "200")
    stream = Config.from_env().stream
    assert (stream["batch_size"], stream["claim_idle_ms"]) == (50, 200)
    monkeypatch.setenv("STREAM_BATCH_SIZE", "0")
    with pytest.raises(ConfigError, match="STREAM_BATCH_SIZE"):
        Config.from_env()


@pytest.mark.parametrize("value", ['{"exrps": "glicko"}', "[]", "{}", '{"exrps": 3}', "not json"])
def test_bad_stats_products_fail_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("STATS_PRODUCTS", value)
    with pytest.raises(ConfigError, match="STATS_PRODUCTS"):
        Config.from_env()
