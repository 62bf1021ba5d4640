"""web: CORS compares each origin whole (no prefixes, no patterns); '*' only alone, outside
production."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, jsonify
from varcade_workers.settings import ConfigError
from varcade_workers.web import init_flask_app
from werkzeug.exceptions import TooManyRequests

ALLOW = "Access-Control-Allow-Origin"


def cors_app(fake_redis: Any, origins: list[str]) -> Flask:
    app = Flask("corstest")

    @app.get("/things")
    def things() -> Any:
        return jsonify([])

    init_flask_app(app, service="corstest", redis_client=fake_redis, cors_origins=origins)
    return app


def allowed(app: Flask, origin: str) -> str | None:
    response = app.test_client().get("/things", headers={"Origin": origin})
    assert response.status_code == 200
    value = response.headers.get(ALLOW)
    return None if value is None else str(value)


@pytest.fixture(autouse=True)
def development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VARCADE_ENV", raising=False)


def test_only_the_exact_origins_are_allowed(fake_redis: Any) -> None:
    app = cors_app(fake_redis, ["http://127.0.0.1:8090", "https://arcade.example.com", ""])
    assert allowed(app, "http://127.0.0.1:8090") == "http://127.0.0.1:8090"
    assert allowed(app, "https://arcade.example.com") == "https://arcade.example.com"
    assert allowed(app, "https://ARCADE.example.com") == "https://ARCADE.example.com"
    for stranger in (
        "http://127.0.0.1:8090.attacker.net",
        "http://127.0.0.1:80901",
        "https://arcade.example.com.attacker.net",
        "https://arcade.example.co",
        "http://arcade.example.com",
        "https://arcade.example.com:8443",
        "null",
    ):
        assert allowed(app, stranger) is None, stranger


def test_an_ipv6_origin_is_exact_too(fake_redis: Any) -> None:
    """[ and ] made flask-cors take the origin for a regular expression (a character class)."""
    app = cors_app(fake_redis, ["http://[::1]:8090"])
    assert allowed(app, "http://[::1]:8090") == "http://[::1]:8090"
    assert allowed(app, "http://::8090") is None
    assert allowed(app, "http://[::1]:80901") is None


@pytest.mark.parametrize(
    "origin",
    ["https://*.example.com", "http://127.0.0.1:*", "https://arcade.example.com/", "arcade"],
)
def test_a_pattern_or_anything_but_an_origin_is_refused(fake_redis: Any, origin: str) -> None:
    with pytest.raises(ConfigError, match="CORS origins"):
        cors_app(fake_redis, ["http://127.0.0.1:8090", origin])


def test_a_lone_star_is_any_origin_in_development(fake_redis: Any) -> None:
    app = cors_app(fake_redis, ["*"])
    assert allowed(app, "https://anywhere.example") == "https://anywhere.example"


def test_a_star_beside_origins_is_refused(fake_redis: Any) -> None:
    with pytest.raises(ConfigError, match="CORS origins"):
        cors_app(fake_redis, ["http://127.0.0.1:8090", "*"])


def test_a_star_is_refused_in_production(fake_redis: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VARCADE_ENV", "production")
    with pytest.raises(ConfigError, match="production"):
        cors_app(fake_redis, ["*"])
    app = cors_app(fake_redis, ["https://arcade.example.com"])
    assert allowed(app, "https://arcade.example.com") == "https://arcade.example.com"


def test_a_page_can_read_retry_after(fake_redis: Any) -> None:
    app = Flask("retrytest")

    @app.post("/limited")
    def limited() -> Any:
        raise TooManyRequests("Too many requests.", retry_after=7)

    init_flask_app(
        app, service="retrytest", redis_client=fake_redis, cors_origins=["https://page.example"]
    )
    response = app.test_client().post("/limited", headers={"Origin": "https://page.example"})
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert response.get_json() == {"message": "Too many requests."}
    assert "retry-after" in response.headers["Access-Control-Expose-Headers"].lower()
