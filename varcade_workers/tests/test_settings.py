"""settings: environment reading, secrets refused in production, errors naming the variable."""

from __future__ import annotations

import inspect
import warnings

import pytest
from varcade_workers.settings import ConfigError

from varcade_workers import EventStreamWorker, settings

STREAM_VARIABLES = (
    "STREAM_BATCH_SIZE",
    "STREAM_BLOCK_MS",
    "STREAM_CLAIM_IDLE_MS",
    "STREAM_MAX_DELIVERIES",
    "STREAM_HEARTBEAT_TTL_MS",
    "STREAM_CONSUMER",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    names = ("VARCADE_ENV", "VARCADE_REDIS", "REDIS_URL", "JWT_SECRET", "N", "F", "J", "L")
    for name in (*names, *STREAM_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_environment(clean_env: pytest.MonkeyPatch) -> None:
    assert settings.environment() == "development"
    clean_env.setenv("VARCADE_ENV", "Production")
    assert settings.environment() == "production"
    assert settings.is_production()
    clean_env.setenv("VARCADE_ENV", "staging")
    with pytest.raises(ConfigError, match="VARCADE_ENV"):
        settings.environment()


def test_env_str_treats_empty_as_unset(clean_env: pytest.MonkeyPatch) -> None:
    assert settings.env_str("N", "d") == "d"
    clean_env.setenv("N", "")
    assert settings.env_str("N", "d") == "d"
    clean_env.setenv("N", "v")
    assert settings.env_str("N", "d") == "v"


def test_env_int(clean_env: pytest.MonkeyPatch) -> None:
    assert settings.env_int("N", 5) == 5
    clean_env.setenv("N", " 42 ")
    assert settings.env_int("N", 5) == 42
    clean_env.setenv("N", "4x2")
    with pytest.raises(ConfigError, match=r"^N must be an integer"):
        settings.env_int("N", 5)
    clean_env.setenv("N", "0")
    with pytest.raises(ConfigError, match="N must be at least 1"):
        settings.env_int("N", 5, minimum=1)


def test_env_float(clean_env: pytest.MonkeyPatch) -> None:
    assert settings.env_float("F", 1.0) == 1.0
    clean_env.setenv("F", "0.05")
    assert settings.env_float("F", 1.0, minimum=0.001) == 0.05
    for bad in ("fast", "nan", "inf"):
        clean_env.setenv("F", bad)
        with pytest.raises(ConfigError, match=r"^F "):
            settings.env_float("F", 1.0)


def test_env_json_and_list(clean_env: pytest.MonkeyPatch) -> None:
    assert settings.env_json("J", {"exrps": "wins"}) == {"exrps": "wins"}
    clean_env.setenv("J", '{"exrps": "elo"}')
    assert settings.env_json("J", None) == {"exrps": "elo"}
    clean_env.setenv("J", "{exrps: elo}")
    with pytest.raises(ConfigError, match=r"^J must be valid JSON"):
        settings.env_json("J", None)
    assert settings.env_list("L", ("a",)) == ["a"]
    clean_env.setenv("L", " http://a:1 , ,http://b:2,")
    assert settings.env_list("L", ()) == ["http://a:1", "http://b:2"]


def test_redis_url(clean_env: pytest.MonkeyPatch) -> None:
    assert settings.redis_url("REDIS_URL", 2) == "redis://127.0.0.1:6379/2"
    clean_env.setenv("VARCADE_REDIS", "redis://cache:6380/")
    assert settings.redis_url("REDIS_URL", 1) == "redis://cache:6380/1"
    clean_env.setenv("REDIS_URL", "redis://other:6379/9")
    assert settings.redis_url("REDIS_URL", 1) == "redis://other:6379/9"
    clean_env.setenv("REDIS_URL", "cache:6379")
    with pytest.raises(ConfigError, match="REDIS_URL"):
        settings.redis_url("REDIS_URL", 1)
    clean_env.delenv("REDIS_URL")
    clean_env.setenv("VARCADE_REDIS", "http://cache")
    with pytest.raises(ConfigError, match="VARCADE_REDIS"):
        settings.redis_url("REDIS_URL", 1)


def test_secret_defaults_outside_production(clean_env: pytest.MonkeyPatch) -> None:
    assert settings.secret("JWT_SECRET", "dev-secret") == "dev-secret"
    clean_env.setenv("JWT_SECRET", "s3cr3t")
    assert settings.secret("JWT_SECRET", "dev-secret") == "s3cr3t"


def test_production_refuses_missing_or_default_secrets(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("VARCADE_ENV", "production")
    with pytest.raises(ConfigError, match="JWT_SECRET must be set"):
        settings.secret("JWT_SECRET", "dev-secret")
    clean_env.setenv("JWT_SECRET", "")
    with pytest.raises(ConfigError, match="JWT_SECRET must be set"):
        settings.secret("JWT_SECRET", "dev-secret")
    clean_env.setenv("JWT_SECRET", "dev-secret")
    with pytest.raises(ConfigError, match="JWT_SECRET must not be the development default"):
        settings.secret("JWT_SECRET", "dev-secret")
    clean_env.setenv("JWT_SECRET", "a-real-secret")
    assert settings.secret("JWT_SECRET", "dev-secret") == "a-real-secret"


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_stream_options_default_to_the_workers_defaults(clean_env: pytest.MonkeyPatch) -> None:
    options = settings.stream_options()
    assert options == settings.STREAM_DEFAULTS
    defaults = inspect.signature(EventStreamWorker.__init__).parameters
    assert {name: defaults[name].default for name in options} == dict(options)


def test_stream_options_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    values = ("50", "0", "200", "3", "2000", "worker-0")
    for name, value in zip(STREAM_VARIABLES, values, strict=True):
        clean_env.setenv(name, value)
    assert settings.stream_options() == {
        "batch_size": 50,
        "block_ms": 0,
        "claim_idle_ms": 200,
        "max_deliveries": 3,
        "heartbeat_ttl_ms": 2000,
        "consumer": "worker-0",
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STREAM_BATCH_SIZE", "0"),
        ("STREAM_BLOCK_MS", "-1"),
        ("STREAM_CLAIM_IDLE_MS", "soon"),
        ("STREAM_MAX_DELIVERIES", "0"),
        ("STREAM_HEARTBEAT_TTL_MS", "999"),
    ],
)
def test_stream_options_reject_bad_values(
    clean_env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        settings.stream_options()


def test_development_secrets_are_long_enough_and_refused_in_production(
    clean_env: pytest.MonkeyPatch,
) -> None:
    for value in (settings.DEV_JWT_SECRET, settings.DEV_GAME_SERVER_TOKEN):
        assert len(value.encode()) >= 32  # PyJWT's minimum for an HMAC-SHA256 key
        assert "DEVELOPMENT" in value
    assert settings.DEV_JWT_SECRET != settings.DEV_GAME_SERVER_TOKEN
    assert settings.secret("JWT_SECRET", settings.DEV_JWT_SECRET) == settings.DEV_JWT_SECRET
    clean_env.setenv("VARCADE_ENV", "production")
    for value in (settings.DEV_JWT_SECRET, settings.DEV_GAME_SERVER_TOKEN):
        clean_env.setenv("JWT_SECRET", value)  # either development value, under any name
        with pytest.raises(ConfigError, match="JWT_SECRET must not be the development default"):
            settings.secret("JWT_SECRET", "another-default")


def test_development_jwt_secret_raises_no_key_length_warning() -> None:
    jwt = pytest.importorskip("jwt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        token = jwt.encode({"sub": "u1"}, settings.DEV_JWT_SECRET, algorithm="HS256")
        assert jwt.decode(token, settings.DEV_JWT_SECRET, algorithms=["HS256"])["sub"] == "u1"


def test_cors_origins_default_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORS_ORIGINS", raising=False)
    assert settings.cors_origins() == ("http://127.0.0.1:8090", "http://localhost:8090")
    monkeypatch.setenv("CORS_ORIGINS", " https://a.example , ,https://b.example")
    assert settings.cors_origins() == ("https://a.example", "https://b.example")


def test_secret_minimum_length_is_enforced_in_production_only(
    clean_env: pytest.MonkeyPatch,
) -> None:
    short = "x" * (settings.MIN_SECRET_BYTES - 1)
    clean_env.setenv("GAME_SERVER_TOKEN", short)
    for env in ("development", "test"):
        clean_env.setenv("VARCADE_ENV", env)
        assert settings.secret("GAME_SERVER_TOKEN", "dev", min_bytes=32) == short
    clean_env.setenv("VARCADE_ENV", "production")
    with pytest.raises(ConfigError) as refused:
        settings.secret("GAME_SERVER_TOKEN", "dev", min_bytes=settings.MIN_SECRET_BYTES)
    assert str(refused.value) == (
        "GAME_SERVER_TOKEN is too short for production (31 bytes, at least 32)"
    )
    assert short not in str(refused.value)  # the message never shows the secret
    assert settings.secret("GAME_SERVER_TOKEN", "dev") == short  # no minimum unless asked
    exact = "y" * 32
    clean_env.setenv("GAME_SERVER_TOKEN", exact)
    assert settings.secret("GAME_SERVER_TOKEN", "dev", min_bytes=32) == exact


def test_secret_minimum_counts_utf8_bytes(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("VARCADE_ENV", "production")
    clean_env.setenv("JWT_SECRET", "é" * 16)  # 16 characters, 32 bytes
    assert settings.secret("JWT_SECRET", "dev", min_bytes=32) == "é" * 16
    clean_env.setenv("JWT_SECRET", "é" * 15 + "e")  # 31 bytes
    with pytest.raises(ConfigError, match=r"JWT_SECRET is too short .*31 bytes"):
        settings.secret("JWT_SECRET", "dev", min_bytes=32)


def test_secret_minimum_does_not_hide_the_other_refusals(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("VARCADE_ENV", "production")
    with pytest.raises(ConfigError, match="must be set in production"):
        settings.secret("JWT_SECRET", "dev", min_bytes=32)
    clean_env.setenv("JWT_SECRET", settings.DEV_JWT_SECRET)  # long enough, but public
    with pytest.raises(ConfigError, match="must not be the development default"):
        settings.secret("JWT_SECRET", settings.DEV_JWT_SECRET, min_bytes=32)


def test_distinct_secrets_refuses_equal_secrets_in_production(
    clean_env: pytest.MonkeyPatch,
) -> None:
    same = "s" * 40
    settings.distinct_secrets(JWT_SECRET=same, GAME_SERVER_TOKEN=same)  # development: no check
    clean_env.setenv("VARCADE_ENV", "test")
    settings.distinct_secrets(JWT_SECRET=same, GAME_SERVER_TOKEN=same)
    clean_env.setenv("VARCADE_ENV", "production")
    settings.distinct_secrets(JWT_SECRET=same, GAME_SERVER_TOKEN="t" * 40)
    settings.distinct_secrets()
    settings.distinct_secrets(JWT_SECRET=same)
    with pytest.raises(ConfigError) as refused:
        settings.distinct_secrets(JWT_SECRET=same, OTHER="u" * 40, GAME_SERVER_TOKEN=same)
    assert str(refused.value) == (
        "JWT_SECRET and GAME_SERVER_TOKEN must be different secrets in production"
    )
    assert same not in str(refused.value)
