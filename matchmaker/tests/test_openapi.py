"""The matchmaker's OpenAPI document (GET /openapi.json): valid OpenAPI 3.1, the house rules
(concrete statuses, JSON error bodies, no default), exactly the routes the app registers, and
real answers that conform to it."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import auth
from matchmaker.app import create_app
from matchmaker.config import Config
from varcade_workers.testing import check_answer, check_openapi, served_openapi

from matchmaker import openapi
from varcade_workers import openapi as oa

CREATE = "/game_lobby/{product_id}/create_game"
JOIN = "/game_lobby/{product_id}/join_game/{game_id}"
OPEN = "/game_lobby/{product_id}/open_games"


@pytest.fixture
def app(services: Any) -> Any:
    return create_app(services=services)


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


def test_the_document_says_what_the_configuration_does(services: Any, doc: dict[str, Any]) -> None:
    assert doc == openapi.document(services.config)
    product = doc["paths"][CREATE]["post"]["parameters"][0]
    assert product["schema"]["enum"] == sorted(services.config.products)
    assert doc["paths"][CREATE]["post"]["security"] == [{"playerToken": []}]
    scheme = doc["components"]["securitySchemes"]["playerToken"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    statuses = {s for s in doc["paths"][CREATE]["post"]["responses"]}
    assert {"200", "400", "401", "409", "429", "503"} <= statuses
    assert {"200", "400", "401", "404", "429", "503"} <= set(
        doc["paths"][JOIN]["post"]["responses"]
    )
    # the limits quoted are the configured ones
    other = openapi.document(Config(environment="test", max_open_games_per_player=5))
    assert "(5)" in other["paths"][CREATE]["post"]["responses"]["409"]["description"]


def test_real_answers_conform_to_the_document(app: Any, doc: dict[str, Any]) -> None:
    client = app.test_client()
    created = client.post("/game_lobby/exrps/create_game", headers=auth("host-1"))
    assert created.status_code == 200
    check_answer(doc, CREATE, "POST", created)
    game_id = created.get_json()["game_id"]
    for response in (
        client.post("/game_lobby/exrps/create_game"),  # 401
        client.post("/game_lobby/nope/create_game", headers=auth("host-1")),  # 400
    ):
        check_answer(doc, CREATE, "POST", response)
    for response in (
        client.post(f"/game_lobby/exrps/join_game/{game_id}", headers=auth("guest-1")),  # 400
        client.post("/game_lobby/exrps/join_game/no-such-game", headers=auth("guest-1")),  # 404
        client.post("/game_lobby/exrps/join_game/a%2Fb", headers=auth("guest-1")),  # 404 no route
    ):
        check_answer(doc, JOIN, "POST", response)
    for query in ("", "?count=3&page=0", "?count=x", "?page=-1"):
        check_answer(doc, OPEN, "GET", client.get(f"/game_lobby/exrps/open_games{query}"))
    check_answer(doc, "/healthz", "GET", client.get("/healthz"))
    check_answer(doc, "/metrics", "GET", client.get("/metrics"))
