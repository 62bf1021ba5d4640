"""The HTTP API (Flask test client) against a real Redis (db 7)."""

import dataclasses
import time

import pytest
from stats_tracker.app import create_app
from stats_tracker.repository import leaderboard_key, stats_key
from varcade_workers.testing import free_port

EXRPS_ZEROS = {
    "games": 0,
    "wins": 0,
    "losses": 0,
    "rock_selection_count": 0,
    "paper_selection_count": 0,
    "scissors_selection_count": 0,
    "botch_selection_count": 0,
}


@pytest.fixture
def client(config):
    app = create_app(config)
    app.testing = True
    return app.test_client()


@pytest.mark.parametrize(
    "path", ["/leaderboards/top_ten/nope", "/stats/nope/u1", "/leaderboards/rank/nope/u1"]
)
def test_unknown_product_is_400_invalid_product_id(client, path):
    response = client.get(path)
    assert response.status_code == 400
    assert response.get_json() == {"message": "Invalid product Id"}


def test_known_product_without_games_has_an_empty_leaderboard(client):
    response = client.get("/leaderboards/top_ten/exrps")
    assert response.status_code == 200
    assert response.get_json() == []


def test_top_ten_is_ten_highest_first_with_numeric_scores(client, data_redis):
    data_redis.zadd(leaderboard_key("exrps"), {f"user{n:02}": n for n in range(12)})
    body = client.get("/leaderboards/top_ten/exrps").get_json()
    assert len(body) == 10
    assert body[0] == {"user_id": "user11", "score": 11}
    assert body[-1] == {"user_id": "user02", "score": 2}
    assert all(isinstance(entry["score"], int) for entry in body)


def test_elo_scores_are_numbers_with_two_decimals(client, data_redis):
    data_redis.zadd(leaderboard_key("rated"), {"a": 1016.123456, "b": 983.876544})
    assert client.get("/leaderboards/top_ten/rated").get_json() == [
        {"user_id": "a", "score": 1016.12},
        {"user_id": "b", "score": 983.88},
    ]


def test_unknown_player_of_a_known_product_has_every_counter_at_zero(client):
    response = client.get("/stats/exrps/nobody")
    assert response.status_code == 200
    assert response.get_json() == EXRPS_ZEROS
    assert client.get("/stats/rated/nobody").get_json() == {"games": 0, "wins": 0, "losses": 0}


def test_player_stats_are_numbers(client, data_redis):
    data_redis.hset(stats_key("exrps", "u1"), mapping={"games": 3, "wins": 2, "losses": 1})
    data_redis.hset(stats_key("exrps", "u1"), "paper_selection_count", 5)
    body = client.get("/stats/exrps/u1").get_json()
    assert body == {**EXRPS_ZEROS, "games": 3, "wins": 2, "losses": 1, "paper_selection_count": 5}


def test_player_rank(client, data_redis):
    data_redis.zadd(leaderboard_key("exrps"), {"a": 1, "b": 4, "c": 2})
    assert client.get("/leaderboards/rank/exrps/c").get_json() == {
        "user_id": "c",
        "score": 2,
        "rank": 2,
    }
    assert client.get("/leaderboards/rank/exrps/z").get_json() == {
        "user_id": "z",
        "score": 0,
        "rank": None,
    }


def test_cors_preflight_allows_the_configured_origin_only(client, origin):
    headers = {"Origin": origin, "Access-Control-Request-Method": "GET"}
    response = client.options("/stats/exrps/u1", headers=headers)
    assert response.status_code < 300
    assert response.headers["Access-Control-Allow-Origin"] == origin
    other = client.options(
        "/stats/exrps/u1",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "Access-Control-Allow-Origin" not in other.headers


def test_healthz_and_json_404(client):
    assert client.get("/healthz").status_code == 200
    missing = client.get("/no/such/path")
    assert missing.status_code == 404
    assert "message" in missing.get_json()


@pytest.mark.parametrize("path", ["/leaderboards/top_ten/exrps", "/stats/exrps/alice"])
def test_redis_outage_is_503_json_not_500(config, path):
    down = dataclasses.replace(config, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    response = create_app(down).test_client().get(path)
    assert response.status_code == 503
    assert "temporarily unavailable" in response.get_json()["message"]


def test_healthz_503_when_redis_is_unreachable(config):
    down = dataclasses.replace(config, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    started = time.perf_counter()
    response = create_app(down).test_client().get("/healthz")
    print(f"stats_tracker /healthz 503 after {time.perf_counter() - started:.3f} s")
    assert response.status_code == 503
    assert "redis" in response.get_json()["message"]
