"""Abuse limits of the lobby (real Redis, fake game server): per-player create/join rates (429 with
Retry-After), open games per player (409), each a setting; player tokens need exp, and iss / aud /
age when configured (401)."""

from __future__ import annotations

import dataclasses
import threading
import time

import jwt
import pytest
from conftest import JWT_SECRET, auth
from matchmaker.app import create_app
from matchmaker.config import Config
from matchmaker.games import Game, Product
from matchmaker.repository import DELETE, GameRepository, TooManyOpenGames
from matchmaker.services import build_services
from varcade_workers.player_tokens import TokenRules
from varcade_workers.settings import ConfigError

from varcade_workers import events

LIFECYCLE = (events.CREATOR_JOINED, events.ALL_PLAYERS_JOINED, events.IN_PROGRESS, events.ENDED)


@pytest.fixture
def make_client(config, clock, data_redis):
    """A test client whose services use `config` changed by the given fields."""
    built = []

    def make(**changes):
        services = build_services(dataclasses.replace(config, **changes), clock=clock)
        built.append(services)
        return create_app(services=services).test_client(), services

    yield make
    for services in built:
        services.redis.close()


def create(client, user="c1", product="exrps", headers=None):
    return client.post(f"/game_lobby/{product}/create_game", headers=headers or auth(user))


def join(client, game_id, user="u2"):
    return client.post(f"/game_lobby/exrps/join_game/{game_id}", headers=auth(user))


# -- rates ----------------------------------------------------------------------------------------


def test_create_is_rate_limited_per_player_with_retry_after(make_client, game_server, clock):
    client, _ = make_client(create_rate_per_minute=4, max_open_games_per_player=0)
    clock.now = 1_699_999_990.0  # 50 s before the minute ends
    assert [create(client).status_code for _ in range(4)] == [200] * 4
    refused = create(client)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "50"
    assert refused.mimetype == "application/json"
    assert "create_game" in refused.get_json()["message"]
    assert len(game_server.paths()) == 4  # the game server never heard of the refused call
    # Another player (whatever their address) is not limited by the first one.
    assert create(client, "c2").status_code == 200
    clock.advance(50)
    assert create(client).status_code == 200


def test_three_hundred_creates_in_a_burst_leave_at_most_the_limits(make_client, game_server):
    """The issue's report: 300 create_game calls in 3.8 s, all 200, 300 games on the server."""
    client, services = make_client()  # the defaults: 10 a minute, 3 open games
    statuses = [create(client, "abuser").status_code for _ in range(300)]
    assert statuses[:3] == [200, 200, 200]
    assert set(statuses[3:10]) == {409} and set(statuses[10:]) == {429}
    assert len(game_server.games) == 3
    assert services.repository.open_game_count("exrps", "abuser") == 3


def test_join_is_rate_limited_per_player(make_client, game_server, clock):
    client, services = make_client(join_rate_per_minute=2)
    game_id = create(client, "c1").get_json()["game_id"]
    services.repository.update(
        "exrps", game_id, lambda g: g.with_state(events.CREATOR_JOINED, clock())
    )
    assert join(client, "no-such-game").status_code == 404  # every call counts
    assert join(client, game_id).status_code == 200
    refused = join(client, game_id, "u2")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "join_game" in refused.get_json()["message"]
    assert join(client, "no-such-game", "u3").status_code == 404  # others are not limited


def test_zero_turns_the_limits_off(make_client, game_server):
    client, _ = make_client(
        create_rate_per_minute=0, join_rate_per_minute=0, max_open_games_per_player=0
    )
    assert {create(client).status_code for _ in range(40)} == {200}
    assert {join(client, "nope").status_code for _ in range(40)} == {404}


# -- open games per player ------------------------------------------------------------------------


@pytest.fixture
def repo_game(services, clock):
    """A game of `creator` stored as the API would, in creator_joined (listed)."""

    def make(creator: str) -> str:
        product = services.config.products["exrps"]
        game = Game.new(product, creator_id=creator, creator_name="C", token="t", now=clock())
        services.repository.create(game)
        services.repository.update(
            "exrps", game.game_id, lambda g: g.with_state(events.CREATOR_JOINED, clock())
        )
        return game.game_id

    return make


def test_a_player_has_at_most_three_open_games(make_client, game_server, clock):
    client, services = make_client()
    repo = services.repository
    ids = [create(client).get_json()["game_id"] for _ in range(3)]
    refused = create(client)
    assert refused.status_code == 409
    assert "3 open games" in refused.get_json()["message"]
    assert len(game_server.paths()) == 3  # refused before the game server is asked
    assert create(client, "c2").status_code == 200  # per player
    # A game that ends frees a place...
    for state in LIFECYCLE:
        repo.update("exrps", ids[0], lambda g, s=state: g.with_state(s, clock()))
    assert repo.open_game_count("exrps", "c1") == 2
    ended = create(client)
    assert ended.status_code == 200
    # ... and so does a removed one (game_removed, curation).
    repo.update("exrps", ids[1], lambda g: DELETE)
    assert create(client).status_code == 200
    assert create(client).status_code == 409


def test_the_limit_is_a_setting(make_client, game_server):
    client, _ = make_client(max_open_games_per_player=1)
    assert create(client).status_code == 200
    assert create(client).status_code == 409


def test_a_create_that_loses_the_last_place_is_taken_back_from_the_server(
    make_client, game_server, monkeypatch
):
    """Two creates at once both pass the early check; the store counts again in its transaction,
    so the second is refused and its game removed from the game server."""
    client, services = make_client(max_open_games_per_player=1)
    assert create(client).status_code == 200
    monkeypatch.setattr(services.repository, "open_game_count", lambda *args: 0)
    refused = create(client)
    assert refused.status_code == 409
    assert game_server.paths() == ["/create_game", "/create_game", "/remove_game"]
    assert len(game_server.games) == 1


def test_concurrent_stores_take_exactly_the_places_left(services, clock):
    repo = services.repository
    product = services.config.products["exrps"]
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def store() -> None:
        game = Game.new(product, creator_id="racer", creator_name="R", token="t", now=clock())
        start.wait()
        try:
            repo.create(game, max_open_per_creator=3)
            outcome = "stored"
        except TooManyOpenGames:
            outcome = "refused"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=store) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 5 + ["stored"] * 3
    assert repo.open_game_count("exrps", "racer") == 3


def test_the_index_follows_every_change(services, clock, data_redis, repo_game):
    repo: GameRepository = services.repository
    key = repo.creator_key("exrps", "c1")
    game_id = repo_game("c1")
    assert data_redis.smembers(key) == {game_id}
    # A player joins and leaves, the game is reset by curation: still open.
    repo.update("exrps", game_id, lambda g: g.with_player("u2", clock()))
    repo.update("exrps", game_id, lambda g: g.without_player("u2", clock()))
    repo.update("exrps", game_id, lambda g: g.reset(clock()))
    assert data_redis.smembers(key) == {game_id}
    # A game whose key disappeared behind the repository's back is not counted, and is pruned.
    data_redis.delete(repo.game_key("exrps", game_id))
    assert repo.open_game_count("exrps", "c1") == 0
    assert data_redis.smembers(key) == set()
    # Other products count apart.
    other = Product("other", "http://gs", "gs:1", {"num_players": 2})
    repo.create(Game.new(other, creator_id="c1", creator_name="C", token="t", now=clock()))
    assert repo.open_game_count("exrps", "c1") == 0
    assert repo.open_game_count("other", "c1") == 1


# -- settings -------------------------------------------------------------------------------------

LIMIT_VARIABLES = (
    "MAX_OPEN_GAMES_PER_PLAYER",
    "CREATE_RATE_PER_MINUTE",
    "JOIN_RATE_PER_MINUTE",
    "JWT_REQUIRE_EXP",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_MAX_AGE_SECONDS",
)


@pytest.fixture
def clean_env(monkeypatch):
    for name in (*LIMIT_VARIABLES, "VARCADE_ENV", "CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_limits_and_token_rules_from_the_environment(clean_env):
    config = Config.from_env()
    assert (
        config.max_open_games_per_player,
        config.create_rate_per_minute,
        config.join_rate_per_minute,
    ) == (3, 10, 30)
    assert config.token_rules == TokenRules(require_exp=True)
    clean_env.setenv("MAX_OPEN_GAMES_PER_PLAYER", "0")
    clean_env.setenv("CREATE_RATE_PER_MINUTE", "1000")
    clean_env.setenv("JOIN_RATE_PER_MINUTE", "2000")
    clean_env.setenv("JWT_REQUIRE_EXP", "false")
    clean_env.setenv("JWT_ISSUER", "https://portal.example")
    clean_env.setenv("JWT_AUDIENCE", "varcade")
    clean_env.setenv("JWT_MAX_AGE_SECONDS", "86400")
    config = Config.from_env()
    assert (
        config.max_open_games_per_player,
        config.create_rate_per_minute,
        config.join_rate_per_minute,
    ) == (0, 1000, 2000)
    assert config.token_rules == TokenRules(
        require_exp=False,
        issuer="https://portal.example",
        audience="varcade",
        max_age_seconds=86400,
    )


@pytest.mark.parametrize("name", LIMIT_VARIABLES[:3])
def test_a_bad_limit_names_the_variable(clean_env, name):
    clean_env.setenv(name, "-1")
    with pytest.raises(ConfigError, match=name):
        Config.from_env()


def test_cors_patterns_and_production_star_are_refused(clean_env):
    clean_env.setenv("CORS_ORIGINS", "https://*.example.com")
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        Config.from_env()
    clean_env.setenv("VARCADE_ENV", "production")
    clean_env.setenv("JWT_SECRET", "j" * 40)
    clean_env.setenv("GAME_SERVER_TOKEN", "g" * 40)
    clean_env.setenv("CORS_ORIGINS", "*")
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        Config.from_env()


# -- tokens ---------------------------------------------------------------------------------------


def bearer(claims: dict[str, object]) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode(claims, JWT_SECRET, algorithm='HS256')}"}


def test_a_token_without_exp_is_401_json(make_client, game_server):
    """It used to be accepted forever."""
    client, _ = make_client()
    response = create(client, headers=bearer({"user_id": "c1", "username": "Ann"}))
    assert response.status_code == 401
    assert response.mimetype == "application/json"
    assert "exp" in response.get_json()["message"]
    assert game_server.calls == []
    # A portal whose tokens carry no exp: JWT_REQUIRE_EXP=false.
    lenient, _ = make_client(token_rules=TokenRules(require_exp=False))
    assert create(lenient, headers=bearer({"user_id": "c1", "username": "Ann"})).status_code == 200


def test_issuer_audience_and_age_when_configured(make_client, game_server):
    rules = TokenRules(issuer="https://portal.example", audience="varcade", max_age_seconds=600)
    client, _ = make_client(token_rules=rules)
    now = int(time.time())
    good = {"user_id": "c1", "username": "A", "exp": now + 60, "iat": now}
    good |= {"iss": "https://portal.example", "aud": "varcade"}
    assert create(client, headers=bearer(good)).status_code == 200
    for bad in (
        {**good, "iss": "https://evil.example"},
        {**good, "aud": "someone-else"},
        {k: v for k, v in good.items() if k != "iss"},
        {k: v for k, v in good.items() if k != "aud"},
        {**good, "iat": now - 700},
        {**good, "exp": now - 1},
    ):
        response = create(client, headers=bearer(bad))
        assert response.status_code == 401, bad
        assert response.get_json()["message"]
    assert len(game_server.paths()) == 1
