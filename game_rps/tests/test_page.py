"""The page server: the development token service, the configuration it hands the page, and the
static client itself (every file index.html and the JS modules reference must really be served)."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from game_rps.fighters import FIGHTERS, WEAPON_NAMES
from game_rps.page import PageConfig, create_page_app
from varcade_workers.player_tokens import TokenRules, verify
from varcade_workers.settings import ConfigError

from game_rps import page

SECRET = "test-secret-for-the-page-tests-0123456789"
OTHER_SECRET = "another-secret-of-the-same-length-0123456"
SHARED_SECRET = "shared-with-the-matchmaker-0123456789abcdef"


class Reply:
    def __init__(self, status: int, headers: Any, text: str, json_body: Any) -> None:
        self.status = status
        self.headers = headers
        self.text = text
        self.json = json_body


class SyncClient:
    """Requests against one app on a real socket (free port), from plain synchronous tests."""

    def __init__(self, app: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = self._loop.run_until_complete(self._start(app))

    @staticmethod
    async def _start(app: Any) -> TestClient:
        client = TestClient(TestServer(app))
        await client.start_server()
        return client

    def __call__(self, method: str, path: str, **kwargs: Any) -> Reply:
        return self._loop.run_until_complete(self._request(method, path, **kwargs))

    async def _request(self, method: str, path: str, **kwargs: Any) -> Reply:
        resp = await self._client.request(method, path, **kwargs)
        text = await resp.text()
        body = await resp.json() if resp.content_type == "application/json" else None
        return Reply(resp.status, resp.headers, text, body)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.close())
        self._loop.close()


@pytest.fixture
def serve() -> Any:
    """serve(app) -> a SyncClient; every server is closed after the test."""
    clients: list[SyncClient] = []

    def start(app: Any) -> SyncClient:
        clients.append(SyncClient(app))
        return clients[-1]

    yield start
    for client in clients:
        client.close()


@pytest.fixture
def call(serve: Any) -> SyncClient:
    """A client of a development page app signed with SECRET."""
    return serve(create_page_app(PageConfig(environment="development", jwt_secret=SECRET)))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("VARCADE_ENV", "JWT_SECRET", "MATCHMAKER_URL", "STATS_TRACKER_URL", "JWT_ISSUER",
                 "JWT_AUDIENCE", "JWT_MAX_AGE_SECONDS", "JWT_REQUIRE_EXP"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# ------------------------------------------------------------------ token service


def test_dev_token_is_a_player_token_signed_with_the_secret(call: SyncClient) -> None:
    reply = call("POST", "/dev/token", json={"username": "alice"})
    assert reply.status == 200
    assert reply.json["username"] == "alice"
    claims = jwt.decode(reply.json["token"], SECRET, algorithms=["HS256"])
    assert claims["user_id"] == reply.json["user_id"]
    assert claims["username"] == "alice"
    assert reply.headers["Cache-Control"] == "no-store"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            reply.json["token"], "another-secret-of-the-same-length-0123456", algorithms=["HS256"]
        )


def test_dev_token_passes_the_matchmakers_token_rules(
    call: SyncClient, clean_env: pytest.MonkeyPatch, serve: Any
) -> None:
    # The matchmaker requires exp by default (varcade_workers.player_tokens): a dev token has it.
    claims = verify(call("POST", "/dev/token", json={"username": "alice"}).json["token"], SECRET)
    assert claims["exp"] - claims["iat"] == 24 * 3600
    # ... and the issuer, audience and maximum age the environment sets for both sides.
    clean_env.setenv("JWT_ISSUER", "varcade-dev")
    clean_env.setenv("JWT_AUDIENCE", "varcade-matchmaker")
    clean_env.setenv("JWT_MAX_AGE_SECONDS", "600")
    clean_env.setenv("JWT_SECRET", SHARED_SECRET)
    token = serve(create_page_app())("POST", "/dev/token", json={"username": "bob"}).json["token"]
    claims = verify(token, SHARED_SECRET, TokenRules.from_env())
    assert (claims["iss"], claims["aud"], claims["exp"] - claims["iat"]) == (
        "varcade-dev",
        "varcade-matchmaker",
        600,
    )


def test_same_username_same_user_id_across_restarts(call: SyncClient, serve: Any) -> None:
    other = serve(create_page_app(PageConfig(environment="development", jwt_secret=SECRET)))
    first = call("POST", "/dev/token", json={"username": "bob"}).json
    again = other("POST", "/dev/token", json={"username": "  bob "}).json
    carol = call("POST", "/dev/token", json={"username": "carol"}).json
    assert first["user_id"] == again["user_id"]
    assert again["username"] == "bob"
    assert carol["user_id"] != first["user_id"]
    uuid.UUID(first["user_id"])  # a well-formed id


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "string"),
        ({"username": None}, "string"),
        ({"username": 42}, "string"),
        ({"username": ""}, "empty"),
        ({"username": "   "}, "empty"),
        ({"username": "x" * (page.USERNAME_MAX_LENGTH + 1)}, "at most"),
        ({"username": "\u200b\u202e\n"}, "empty"),  # invisible characters are cleaned away
        (["alice"], "object"),
    ],
)
def test_dev_token_rejects_bad_usernames(call: SyncClient, body: Any, fragment: str) -> None:
    reply = call("POST", "/dev/token", json=body)
    assert reply.status == 400
    assert fragment in reply.json["message"]


def test_dev_token_accepts_the_longest_name(call: SyncClient) -> None:
    name = "é" * page.USERNAME_MAX_LENGTH
    reply = call("POST", "/dev/token", json={"username": name})
    assert reply.status == 200
    assert reply.json["username"] == name


@pytest.mark.parametrize("data", [b"{not json", b"", b"\xff\xfe"])
def test_dev_token_malformed_json_is_400(call: SyncClient, data: bytes) -> None:
    reply = call("POST", "/dev/token", data=data, headers={"Content-Type": "application/json"})
    assert reply.status == 400
    assert "JSON" in reply.json["message"]


def test_dev_token_only_answers_post(call: SyncClient) -> None:
    reply = call("GET", "/dev/token")
    assert reply.status == 405
    assert "message" in reply.json


def test_production_has_no_token_service(clean_env: pytest.MonkeyPatch, serve: Any) -> None:
    clean_env.setenv("VARCADE_ENV", "production")
    clean_env.setenv("JWT_SECRET", "a-real-production-secret-0123456789abcdef")
    call = serve(create_page_app())
    reply = call("POST", "/dev/token", json={"username": "alice"})
    assert reply.status == 404
    assert reply.json == {"message": "Not found"}
    assert call("GET", "/config.json").json["devTokens"] is False
    assert call("GET", "/").status == 200  # the page itself is still served


def test_production_needs_no_jwt_secret(clean_env: pytest.MonkeyPatch, serve: Any) -> None:
    # Only /dev/token signs tokens, and production has none: the secret is neither read nor kept.
    clean_env.setenv("VARCADE_ENV", "production")
    assert PageConfig.from_env().jwt_secret == ""
    clean_env.setenv("JWT_SECRET", page.DEV_JWT_SECRET)  # even the public value is harmless here
    call = serve(create_page_app())
    assert call("POST", "/dev/token", json={"username": "alice"}).status == 404
    assert call("GET", "/").status == 200


def test_development_refuses_a_bad_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("VARCADE_ENV", "staging")
    with pytest.raises(ConfigError, match="VARCADE_ENV"):
        create_page_app()


def test_test_mode_mints_tokens_with_the_environment_secret(
    clean_env: pytest.MonkeyPatch, serve: Any
) -> None:
    clean_env.setenv("VARCADE_ENV", "test")
    clean_env.setenv("JWT_SECRET", SHARED_SECRET)
    reply = serve(create_page_app())("POST", "/dev/token", json={"username": "dave"})
    assert reply.status == 200
    claims = jwt.decode(
        reply.json["token"], "shared-with-the-matchmaker-0123456789abcdef", algorithms=["HS256"]
    )
    assert claims["username"] == "dave"


# ------------------------------------------------------------------ configuration


def test_config_reflects_the_service_urls(clean_env: pytest.MonkeyPatch, serve: Any) -> None:
    clean_env.setenv("MATCHMAKER_URL", "http://mm.example:7050/")
    clean_env.setenv("STATS_TRACKER_URL", "https://stats.example")
    reply = serve(create_page_app())("GET", "/config.json")
    assert reply.status == 200
    assert reply.json["matchmakerUrl"] == "http://mm.example:7050"
    assert reply.json["statsTrackerUrl"] == "https://stats.example"
    assert reply.json["productId"] == "exrps"
    assert reply.json["devTokens"] is True
    assert reply.headers["Cache-Control"] == "no-store"


def test_config_defaults(clean_env: pytest.MonkeyPatch, serve: Any) -> None:
    reply = serve(create_page_app())("GET", "/config.json")
    assert reply.json["matchmakerUrl"] == "http://127.0.0.1:5050"
    assert reply.json["statsTrackerUrl"] == "http://127.0.0.1:5000"


def test_fighters_served_are_the_engine_table(call: SyncClient) -> None:
    served = call("GET", "/fighters.json").json
    in_config = call("GET", "/config.json").json["fighters"]
    assert served == in_config
    assert [f["id"] for f in served] == list(FIGHTERS)
    for item in served:
        fighter = FIGHTERS[item["id"]]
        assert item["name"] == fighter.name
        assert item["health"] == fighter.health
        assert [w["name"] for w in item["weapons"]] == list(WEAPON_NAMES)
        for index, weapon in enumerate(item["weapons"]):
            assert weapon["id"] == index
            stats = fighter.weapons[index]
            assert (weapon["base"], weapon["modifier"], weapon["mitigation"]) == (
                stats.base,
                stats.modifier,
                stats.mitigation,
            )


def test_healthz(call: SyncClient) -> None:
    reply = call("GET", "/healthz")
    assert reply.status == 200
    assert reply.json == {"status": "ok"}


# ------------------------------------------------------------------ the static client


def _index_assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


def test_index_page_and_every_asset_it_references(call: SyncClient) -> None:
    index = call("GET", "/")
    assert index.status == 200
    assert index.headers["Content-Type"].startswith("text/html")
    assert index.headers["Cache-Control"] == "no-cache"
    assert "Content-Security-Policy" in index.headers
    assert 'type="module"' in index.text
    assets = _index_assets(index.text)
    assert "/static/style.css" in assets
    assert "/static/js/main.js" in assets
    for asset in assets:
        reply = call("GET", asset)
        assert reply.status == 200, asset
        expected = "text/css" if asset.endswith(".css") else "javascript"
        assert expected in reply.headers["Content-Type"], asset
        assert reply.headers["Cache-Control"] == "no-cache"
        assert "Last-Modified" in reply.headers or "ETag" in reply.headers


def test_every_imported_js_module_is_served(call: SyncClient) -> None:
    js_dir = Path(page.CLIENT_DIR) / "js"
    imports: set[str] = set()
    for source in js_dir.glob("*.js"):
        imports.update(re.findall(r'from\s+"\./([\w.-]+\.js)"', source.read_text()))
    assert {"api.js", "battle.js", "session.js"} <= imports
    for name in imports:
        reply = call("GET", f"/static/js/{name}")
        assert reply.status == 200, name
        assert "javascript" in reply.headers["Content-Type"]


def test_page_has_the_documented_test_hooks(call: SyncClient) -> None:
    html = call("GET", "/").text
    for hook in (
        'id="username"',
        'id="sign-in"',
        'id="create-game"',
        'id="open-games"',
        'id="start-battle"',
        'data-weapon="0"',
        'data-weapon="1"',
        'data-weapon="2"',
        'id="p1-health"',
        'id="p2-health"',
        'id="status"',
        'id="winner"',
        'id="leaderboard"',
        'id="my-stats"',
    ):
        assert hook in html, hook


def test_unknown_paths_and_traversal_are_json_404(call: SyncClient) -> None:
    for path in (
        "/nope",
        "/static/nope.js",
        "/static/../game_rps/page.py",
        "/static/..%2fgame_rps%2fpage.py",
    ):
        reply = call("GET", path)
        assert reply.status in (403, 404), path
        assert "DEV_JWT_SECRET" not in reply.text
    reply = call("GET", "/nope")
    assert reply.json == {"message": "Not found"}
    assert reply.headers["Cache-Control"] == "no-store"


def test_directory_listing_is_off(call: SyncClient) -> None:
    assert call("GET", "/static/").status in (403, 404)
    assert call("GET", "/static/js/").status in (403, 404)
