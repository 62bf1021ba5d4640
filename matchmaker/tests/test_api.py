"""The HTTP API against a real Redis and a fake game server over real HTTP."""

from __future__ import annotations

import dataclasses
import time

import pytest
import redis
from conftest import CLIENT_TIMEOUT, auth
from matchmaker.app import create_app
from matchmaker.games import Game, GameList
from matchmaker.services import RATE_PREFIX, build_services
from varcade_workers.testing import free_port

from varcade_workers import events

ORIGIN = "http://127.0.0.1:8090"


@pytest.fixture
def app(services):
    return create_app(services=services)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def repo(services):
    return services.repository


def stored(data_redis) -> list[str]:
    """Every key but the per-player rate counters (a refused call counts too)."""
    return [key for key in data_redis.keys("*") if not key.startswith(f"{RATE_PREFIX}:")]


def create(client, user="c1", product="exrps"):
    return client.post(f"/game_lobby/{product}/create_game", headers=auth(user))


def join(client, game_id, user="u2", product="exrps"):
    return client.post(f"/game_lobby/{product}/join_game/{game_id}", headers=auth(user))


def listed_game(client, repo, clock, user="c1") -> str:
    """A game whose host has connected (creator_joined): listed in the lobby."""
    game_id = create(client, user).get_json()["game_id"]
    repo.update("exrps", game_id, lambda g: g.with_state(events.CREATOR_JOINED, clock()))
    return game_id


# -- create_game ---------------------------------------------------------------------------------


def test_create_game_asks_the_server_and_stores_a_pending_game(
    client, repo, game_server, clock, data_redis
):
    response = create(client, "c1")
    assert response.status_code == 200
    game = response.get_json()
    assert game["product_id"] == "exrps"
    assert game["creator_id"] == "c1"
    assert game["creator_name"] == "name-c1"
    assert game["players"] == ["c1"]
    assert game["settings"] == {"num_players": 2}
    assert game["state"] == "created"
    assert game["_last_updated"] == clock()
    assert game["game_server_url"] == game_server.url
    assert game["target_game_server"] == "127.0.0.1:8085"
    path, body = game_server.calls[0]
    assert path == "/create_game"
    assert body == {"gameId": game["game_id"], "userId": "c1", "username": "name-c1"}
    assert game["token"] == game_server.games[game["game_id"]]["token"]
    # the creator's own seat token, passed on from the game server and nowhere stored
    assert game["seat_token"] == game_server.games[game["game_id"]]["seats"]["c1"]
    assert game["seat_token"] not in data_redis.get(f"matchmaker:exrps:game:{game['game_id']}")
    assert repo.get("exrps", game["game_id"]) == Game.from_dict(game)
    assert repo.list_ids("exrps", GameList.PENDING) == [game["game_id"]]
    assert client.get("/game_lobby/exrps/open_games").get_json() == []  # pending: not listed


def test_create_game_unknown_product_is_400_and_calls_nobody(client, game_server):
    response = create(client, product="nope")
    assert response.status_code == 400
    assert "product" in response.get_json()["message"]
    assert game_server.calls == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": auth("c1")["Authorization"][:-3] + "AAA"},  # signature tampered
    ],
)
def test_create_game_without_a_valid_token_is_401(client, game_server, headers):
    response = client.post("/game_lobby/exrps/create_game", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["message"]
    assert game_server.calls == []


def test_create_game_server_error_is_400_and_stores_nothing(client, game_server, data_redis):
    game_server.fail["/create_game"] = (500, {"message": "kaput"})
    response = create(client)
    assert response.status_code == 400
    assert "kaput" in response.get_json()["message"]
    assert stored(data_redis) == []


def test_create_game_server_down_is_400_and_stores_nothing(client, data_redis):
    response = create(client, product="downrps")
    assert response.status_code == 400
    assert "unreachable" in response.get_json()["message"]
    assert stored(data_redis) == []


def test_create_game_server_too_slow_is_400_and_stores_nothing(client, game_server, data_redis):
    game_server.delay["/create_game"] = CLIENT_TIMEOUT * 4
    response = create(client)
    assert response.status_code == 400
    assert "in time" in response.get_json()["message"]
    assert stored(data_redis) == []


def test_create_game_bad_server_reply_is_400(client, game_server, data_redis):
    game_server.fail["/create_game"] = (200, {"noToken": True})
    response = create(client)
    assert response.status_code == 400
    assert stored(data_redis) == []
    for bad in (5, "", ["a"]):
        game_server.fail["/create_game"] = (200, {"gameToken": "t" * 32, "seatToken": bad})
        response = create(client)
        assert response.status_code == 400 and "seatToken" in response.get_json()["message"]
        assert stored(data_redis) == []


def test_a_game_server_without_seat_tokens_gives_a_null_seat_token(client, game_server, repo):
    """A product whose game server issues no seat tokens (before issue 13) still works."""
    game_server.fail["/create_game"] = (200, {"gameToken": "t" * 32})
    game = create(client, "c1").get_json()
    assert game["token"] == "t" * 32 and game["seat_token"] is None
    assert repo.get("exrps", game["game_id"]) == Game.from_dict(game)


def test_storage_failure_after_the_server_created_the_game_removes_it(
    config, clock, game_server, data_redis, caplog
):
    # Without the open-games check, which reads storage before the game server is asked.
    broken = build_services(dataclasses.replace(config, max_open_games_per_player=0), clock=clock)
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # no Redis listens there
    broken.repository.redis = redis.Redis.from_url(nowhere, socket_connect_timeout=0.5)
    client = create_app(services=broken).test_client()
    response = create(client)
    assert response.status_code == 503
    assert response.get_json()["message"]
    assert game_server.paths() == ["/create_game", "/remove_game"]
    created_id = game_server.calls[0][1]["gameId"]
    assert game_server.calls[1][1] == {"gameId": created_id}
    assert game_server.games == {}
    outage = [r for r in caplog.records if r.getMessage() == "storage unavailable"]
    assert [getattr(r, "product_id", None) for r in outage] == ["exrps"]


# -- join_game -----------------------------------------------------------------------------------


def test_join_game_adds_the_player_and_moves_the_game_to_active(
    client, repo, game_server, clock, data_redis
):
    game_id = listed_game(client, repo, clock)
    assert [g["game_id"] for g in client.get("/game_lobby/exrps/open_games").get_json()] == [
        game_id
    ]
    clock.advance(5)
    response = join(client, game_id, "u2")
    assert response.status_code == 200
    game = response.get_json()
    assert game["players"] == ["c1", "u2"]
    assert game["token"] == game_server.games[game_id]["token"]
    seats = game_server.games[game_id]["seats"]
    assert game["seat_token"] == seats["u2"] != seats["c1"]  # the joiner's own, not the host's
    stored = data_redis.get(f"matchmaker:exrps:game:{game_id}")
    assert seats["u2"] not in stored and seats["c1"] not in stored and "seat" not in stored
    assert game["state"] == "creator_joined"
    assert game["_last_updated"] == clock()
    assert game_server.calls[-1] == (
        "/join_game",
        {"gameId": game_id, "userId": "u2", "username": "name-u2"},
    )
    assert repo.list_ids("exrps", GameList.ACTIVE) == [game_id]
    assert client.get("/game_lobby/exrps/open_games").get_json() == []


def test_join_unknown_game_is_404(client, game_server):
    response = join(client, "no-such-game")
    assert response.status_code == 404
    assert response.get_json()["message"]
    assert game_server.calls == []


def test_join_game_of_another_product_is_404(client, repo, clock):
    game_id = listed_game(client, repo, clock)
    assert join(client, game_id, product="downrps").status_code == 404


def test_join_unknown_product_is_400(client):
    assert join(client, "g1", product="nope").status_code == 400


def test_join_without_token_is_401(client, repo, clock):
    game_id = listed_game(client, repo, clock)
    assert client.post(f"/game_lobby/exrps/join_game/{game_id}").status_code == 401


def test_join_game_not_in_creator_joined_is_400(client, repo, game_server):
    game_id = create(client).get_json()["game_id"]  # still `created`
    response = join(client, game_id)
    assert response.status_code == 400
    assert "not open" in response.get_json()["message"]
    assert game_server.paths() == ["/create_game"]


def test_join_own_game_is_400(client, repo, clock, game_server):
    game_id = listed_game(client, repo, clock, user="c1")
    response = join(client, game_id, "c1")
    assert response.status_code == 400
    assert "own game" in response.get_json()["message"]
    assert "/join_game" not in game_server.paths()


def test_join_full_game_is_400(client, repo, clock):
    game_id = listed_game(client, repo, clock)
    assert join(client, game_id, "u2").status_code == 200
    response = join(client, game_id, "u3")
    assert response.status_code == 400
    assert repo.get("exrps", game_id).players == ("c1", "u2")


def test_join_refused_by_the_server_is_400_and_changes_nothing(client, repo, clock, game_server):
    game_id = listed_game(client, repo, clock)
    game_server.fail["/join_game"] = (400, {"message": "Game is full."})
    response = join(client, game_id)
    assert response.status_code == 400
    assert "Game is full." in response.get_json()["message"]
    assert repo.get("exrps", game_id).players == ("c1",)
    assert repo.list_ids("exrps", GameList.LOBBY) == [game_id]


def test_join_server_slow_is_400_and_changes_nothing(client, repo, clock, game_server):
    game_id = listed_game(client, repo, clock)
    game_server.delay["/join_game"] = CLIENT_TIMEOUT * 4
    response = join(client, game_id)
    assert response.status_code == 400
    assert repo.get("exrps", game_id).players == ("c1",)


def test_join_server_down_is_400(client, repo, clock, game_server):
    game_id = listed_game(client, repo, clock)
    game_server.stop()
    response = join(client, game_id)
    assert response.status_code == 400
    assert repo.get("exrps", game_id).players == ("c1",)


def test_game_removed_while_joining_is_400_and_the_server_forgets_the_player(
    client, repo, clock, game_server, monkeypatch
):
    """The worker deletes the game between the API's check and its transaction."""
    game_id = listed_game(client, repo, clock)
    real_join = game_server.answer

    def answer(path, body):
        status, reply = real_join(path, body)
        if path == "/join_game":
            repo.redis.delete(repo.game_key("exrps", game_id))
        return status, reply

    monkeypatch.setattr(game_server, "answer", answer)
    response = join(client, game_id)
    assert response.status_code == 400
    assert game_server.paths()[-2:] == ["/join_game", "/remove_player"]


# -- open_games ----------------------------------------------------------------------------------


def test_open_games_oldest_first_without_private_fields(client, repo, clock, game_server):
    ids = []
    for n in range(3):
        ids.append(listed_game(client, repo, clock, user=f"c{n}"))
        clock.advance(1)
    response = client.get("/game_lobby/exrps/open_games")
    assert response.status_code == 200
    games = response.get_json()
    assert [g["game_id"] for g in games] == ids
    for game in games:
        assert not {"token", "seat_token", "state", "_last_updated"} & set(game)
        assert {"game_id", "creator_id", "creator_name", "players", "settings"} <= set(game)
    seats = {seat for g in game_server.games.values() for seat in g["seats"].values()}
    assert len(seats) == 3 and not any(seat in response.get_data(as_text=True) for seat in seats)


def test_open_games_paging_default_and_cap(client, repo, clock):
    ids = []
    for n in range(30):
        ids.append(listed_game(client, repo, clock, user=f"c{n}"))
        clock.advance(1)

    def page(query=""):
        response = client.get(f"/game_lobby/exrps/open_games{query}")
        assert response.status_code == 200
        return [g["game_id"] for g in response.get_json()]

    assert page() == ids[:10]
    assert page("?count=3&page=2") == ids[6:9]
    assert page("?count=100") == ids[:25]
    assert page("?count=25&page=1") == ids[25:]
    assert page("?page=3") == []
    assert page("?count=0") == []
    # Large integers are valid: count is capped, a page far beyond the end is empty.
    assert page("?count=99999999999999") == ids[:25]
    assert page("?page=99999999999999999999999999") == []
    assert page("?count=1&page=9223372036854775807") == []
    assert page(f"?count={'9' * 5000}&page={'9' * 5000}") == []


@pytest.mark.parametrize(
    "query",
    ["count=abc", "count=-1", "page=-1", "page=1.5", "count=", "page=x", "count=1e3", "page=0x1"],
)
def test_open_games_bad_arguments_are_400(client, query):
    response = client.get(f"/game_lobby/exrps/open_games?{query}")
    assert response.status_code == 400
    assert response.get_json()["message"]


def test_open_games_unknown_product_is_400(client):
    response = client.get("/game_lobby/nope/open_games")
    assert response.status_code == 400
    assert "product" in response.get_json()["message"]


# -- plumbing (from the library, checked here as this service uses it) ---------------------------


def test_cors_preflight_allows_authorization_from_the_page(client):
    response = client.options(
        "/game_lobby/exrps/create_game",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_cors_headers_on_a_real_response_and_not_for_strangers(client):
    ok = client.get("/game_lobby/exrps/open_games", headers={"Origin": ORIGIN})
    assert ok.headers["Access-Control-Allow-Origin"] == ORIGIN
    stranger = client.get("/game_lobby/exrps/open_games", headers={"Origin": "http://evil"})
    assert "Access-Control-Allow-Origin" not in stranger.headers


def test_healthz_and_metrics_per_endpoint_and_product(client, repo, clock):
    assert client.get("/healthz").status_code == 200
    game_id = listed_game(client, repo, clock)
    join(client, game_id)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'endpoint="lobby.create_game"' in metrics
    assert 'product_id="exrps"' in metrics
    assert game_id not in metrics


def test_unknown_route_is_json_404(client):
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.get_json()["message"]


def test_healthz_503_when_redis_is_unreachable(config):
    down = dataclasses.replace(config, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    app = create_app(down)
    started = time.perf_counter()
    response = app.test_client().get("/healthz")
    print(f"matchmaker /healthz 503 after {time.perf_counter() - started:.3f} s")
    assert response.status_code == 503
    assert "redis" in response.get_json()["message"]
