"""Configuration comes from the environment; a bad value fails at start, naming the variable."""

from __future__ import annotations

import pytest
from game_rps.config import DEV_GAME_SERVER_TOKEN, Config
from varcade_workers.settings import ConfigError

VARS = ("CONTROL_PORT", "WS_PORT", "CLIENT_PORT", "TICK_SECONDS", "EVENT_STREAM_MAXLEN",
        "EVENT_STREAM_URL", "VARCADE_REDIS", "GAME_SERVER_TOKEN", "VARCADE_ENV",
        "EVENT_WRITE_UNHEALTHY_SECONDS")  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARS:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_the_conventions() -> None:
    config = Config.from_env()
    assert (config.control_port, config.ws_port, config.client_port) == (8080, 8085, 8090)
    assert config.tick_seconds == 1.0 and config.event_stream_maxlen == 1_000_000
    assert config.event_stream_url == "redis://127.0.0.1:6379/1"
    assert config.game_server_token == DEV_GAME_SERVER_TOKEN
    assert config.event_write_unhealthy_seconds == 10.0


def test_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICK_SECONDS", "0.25")
    monkeypatch.setenv("WS_PORT", "9000")
    monkeypatch.setenv("EVENT_STREAM_MAXLEN", "5000")
    monkeypatch.setenv("VARCADE_REDIS", "redis://redis:6379")
    monkeypatch.setenv("EVENT_WRITE_UNHEALTHY_SECONDS", "2.5")
    config = Config.from_env()
    assert config.event_write_unhealthy_seconds == 2.5
    assert (config.tick_seconds, config.ws_port, config.event_stream_maxlen) == (0.25, 9000, 5000)
    assert config.event_stream_url == "redis://redis:6379/1"


@pytest.mark.parametrize(
    ("name", "value"),
    [("TICK_SECONDS", "fast"), ("TICK_SECONDS", "0"), ("CONTROL_PORT", "http"),
     ("EVENT_STREAM_MAXLEN", "0"), ("EVENT_WRITE_UNHEALTHY_SECONDS", "soon"),
     ("EVENT_WRITE_UNHEALTHY_SECONDS", "0")],
)  # fmt: skip
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        Config.from_env()


def test_production_needs_a_real_service_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VARCADE_ENV", "production")
    with pytest.raises(ConfigError, match="GAME_SERVER_TOKEN"):
        Config.from_env()
    real = "r" * 32
    monkeypatch.setenv("GAME_SERVER_TOKEN", real)
    assert Config.from_env().game_server_token == real
