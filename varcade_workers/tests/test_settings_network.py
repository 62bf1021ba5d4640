"""settings: CORS origins are exact (no prefixes, no wildcards in production) and servers listen on
loopback by default outside production (BIND_HOST, METRICS_HOST)."""

from __future__ import annotations

import pytest
from varcade_workers.settings import ConfigError

from varcade_workers import settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("VARCADE_ENV", "CORS_ORIGINS", "BIND_HOST", "METRICS_HOST"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("text", "origin"),
    [
        ("http://127.0.0.1:8090", "http://127.0.0.1:8090"),
        ("HTTPS://Arcade.Example.COM", "https://arcade.example.com"),
        ("https://arcade.example.com:443", "https://arcade.example.com"),  # default port dropped
        ("http://arcade.example.com:80", "http://arcade.example.com"),
        ("https://arcade.example.com:8443", "https://arcade.example.com:8443"),
        ("http://[::1]:8090", "http://[::1]:8090"),
        ("  http://localhost:8090 ", "http://localhost:8090"),
    ],
)
def test_exact_origin_accepts_and_normalises_origins(text: str, origin: str) -> None:
    assert settings.exact_origin(text) == origin


@pytest.mark.parametrize(
    "text",
    [
        "*",
        "https://*.example.com",
        "https://arcade.example.com*",
        "https://arcade.example.com/",
        "https://arcade.example.com/path",
        "https://arcade.example.com?x=1",
        "https://arcade.example.com#top",
        "https://user@arcade.example.com",
        "https://arcade.example.com:",
        "https://arcade.example.com:99999",
        "https://arcade.example.com:port",
        "ftp://arcade.example.com",
        "arcade.example.com",
        "//arcade.example.com",
        "null",
        "http://",
        "http://-bad.example.com",
        "http://a..example.com",
        "http://[not-ipv6]:80",
        "http://arc ade.example.com",
        "https://arcade.example.com.*",
        "https://arcade\\.example\\.com",
    ],
)
def test_anything_but_an_origin_is_refused_naming_the_variable(text: str) -> None:
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        settings.exact_origin(text)


def test_cors_origins_are_exact_and_deduplicated(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CORS_ORIGINS", "https://a.example, HTTPS://A.example:443,http://b.example:81")
    assert settings.cors_origins() == ("https://a.example", "http://b.example:81")


@pytest.mark.parametrize("environment", ["development", "test", "production"])
def test_a_pattern_is_refused_in_every_environment(
    clean_env: pytest.MonkeyPatch, environment: str
) -> None:
    """A '*' inside an entry used to become a regex that flask-cors matched as a prefix, so
    https://*.example.com let https://xexample.com.attacker.net in."""
    clean_env.setenv("VARCADE_ENV", environment)
    clean_env.setenv("CORS_ORIGINS", "https://*.example.com")
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        settings.cors_origins()


def test_a_lone_star_means_any_origin_outside_production_only(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("CORS_ORIGINS", "*")
    for environment in ("development", "test"):
        clean_env.setenv("VARCADE_ENV", environment)
        assert settings.cors_origins() == (settings.ANY_ORIGIN,)
    clean_env.setenv("VARCADE_ENV", "production")
    with pytest.raises(ConfigError, match=r"CORS_ORIGINS.*production"):
        settings.cors_origins()


def test_a_star_beside_origins_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CORS_ORIGINS", "http://127.0.0.1:8090,*")
    with pytest.raises(ConfigError, match=r"CORS_ORIGINS.*only entry"):
        settings.cors_origins()


def test_production_takes_exact_origins(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("VARCADE_ENV", "production")
    clean_env.setenv("CORS_ORIGINS", "https://arcade.example.com")
    assert settings.cors_origins() == ("https://arcade.example.com",)


def test_cors_origins_reads_another_variable_when_told(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OTHER_ORIGINS", "https://*.example.com")
    with pytest.raises(ConfigError, match="OTHER_ORIGINS"):
        settings.cors_origins("OTHER_ORIGINS")


@pytest.mark.parametrize("name", ["BIND_HOST", "METRICS_HOST"])
def test_servers_listen_on_loopback_outside_production(
    clean_env: pytest.MonkeyPatch, name: str
) -> None:
    assert settings.bind_host(name) == "127.0.0.1"  # development by default
    clean_env.setenv("VARCADE_ENV", "test")
    assert settings.bind_host(name) == "127.0.0.1"
    clean_env.setenv("VARCADE_ENV", "production")
    assert settings.bind_host(name) == "0.0.0.0"
    clean_env.setenv(name, "10.1.2.3")
    assert settings.bind_host(name) == "10.1.2.3"
    clean_env.setenv("VARCADE_ENV", "development")
    clean_env.setenv(name, "0.0.0.0")
    assert settings.bind_host(name) == "0.0.0.0"
    clean_env.setenv(name, "::1")
    assert settings.bind_host(name) == "::1"
    clean_env.setenv(name, "api.internal")
    assert settings.bind_host(name) == "api.internal"


@pytest.mark.parametrize("value", ["0.0.0.0:5050", "http://0.0.0.0", "*", "a b", "[::1]"])
def test_a_bad_bind_host_names_the_variable(clean_env: pytest.MonkeyPatch, value: str) -> None:
    clean_env.setenv("METRICS_HOST", value)
    with pytest.raises(ConfigError, match="METRICS_HOST"):
        settings.bind_host("METRICS_HOST")
    assert settings.bind_host("BIND_HOST") == "127.0.0.1"
