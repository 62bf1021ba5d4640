"""The stats tracker's OpenAPI document (GET /openapi.json): valid OpenAPI 3.1, the house rules
(concrete statuses, JSON error bodies, no default), exactly the routes the app registers, and
real answers that conform to it."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import TEST_PRODUCTS
from stats_tracker.app import create_app
from stats_tracker.repository import leaderboard_key, stats_key
from varcade_workers.testing import check_answer, check_openapi, served_openapi

from stats_tracker import openapi
from varcade_workers import openapi as oa

TOP = "/leaderboards/top_ten/{product_id}"
RANK = "/leaderboards/rank/{product_id}/{user_id}"
STATS = "/stats/{product_id}/{user_id}"


@pytest.fixture
def app(config: Any) -> Any:
    return create_app(config)


@pytest.fixture
def doc(app: Any) -> dict[str, Any]:
    return served_openapi(app.test_client())


def test_the_document_is_valid_openapi_3_1_with_concrete_statuses_and_json_errors(
    doc: dict[str, Any],
) -> None:
    check_openapi(doc)


def test_the_document_lists_exactly_the_routes_the_app_registers(
    app: Any, doc: dict[str, Any]
) -> None:
    assert oa.flask_routes(app) == oa.operations(doc)


def test_the_document_says_what_the_configuration_does(config: Any, doc: dict[str, Any]) -> None:
    assert doc == openapi.document(config.products)
    product = doc["paths"][STATS]["get"]["parameters"][0]
    assert product["schema"]["enum"] == sorted(TEST_PRODUCTS)
    counters = doc["paths"][STATS]["get"]["responses"]["200"]["content"]["application/json"]
    assert set(counters["schema"]["properties"]) == {
        "games", "wins", "losses", "rock_selection_count", "paper_selection_count",
        "scissors_selection_count", "botch_selection_count",
    }  # fmt: skip
    assert "security" not in doc["paths"][STATS]["get"]  # no token: read only


def _check(doc: dict[str, Any], path: str, response: Any) -> None:
    check_answer(doc, path, "GET", response)


def test_real_answers_conform_to_the_document(
    app: Any, doc: dict[str, Any], data_redis: Any
) -> None:
    data_redis.zadd(leaderboard_key("exrps"), {"a": 1, "b": 4})
    data_redis.zadd(leaderboard_key("rated"), {"a": 1016.25})
    data_redis.hset(stats_key("exrps", "a"), mapping={"games": 3, "wins": 2, "losses": 1})
    client = app.test_client()
    for product in ("exrps", "rated", "x"):
        _check(doc, TOP, client.get(f"/leaderboards/top_ten/{product}"))
    for place in ("exrps/b", "exrps/z", "x/a", "exrps/a%2Fb"):
        _check(doc, RANK, client.get(f"/leaderboards/rank/{place}"))
    for url in ("/stats/exrps/a", "/stats/rated/nobody", "/stats/x/a", "/stats/exrps/a%2Fb"):
        _check(doc, STATS, client.get(url))
    _check(doc, "/healthz", client.get("/healthz"))
    _check(doc, "/metrics", client.get("/metrics"))
