"""The game server's OpenAPI documents: the control API's and the page's (each at GET /openapi.json
of its port): valid OpenAPI 3.1, the house rules (concrete statuses, JSON error bodies, no
default), exactly the routes each app registers, and real answers that conform to them."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from conftest import SERVICE_TOKEN, run, running_server
from game_rps.control_api import MAX_BODY_BYTES, MAX_USERNAME_CHARS, create_control_app
from game_rps.page import PageConfig, create_page_app
from varcade_workers.testing import check_openapi

from game_rps import openapi
from varcade_workers import openapi as oa


def aiohttp_routes(app: web.Application) -> set[tuple[str, str]]:
    """(path, METHOD) of every route, HEAD (which add_get adds by itself) left out."""
    return {
        (route.resource.canonical, route.method)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }


async def _answer(response: aiohttp.ClientResponse) -> tuple[int, Any, str]:
    media = response.content_type
    body = await response.json() if media == "application/json" else await response.text()
    return response.status, body, media


def test_both_documents_are_valid_and_keep_the_house_rules() -> None:
    control = openapi.control_document(
        max_body_bytes=MAX_BODY_BYTES, max_username_chars=MAX_USERNAME_CHARS
    )
    for doc in (control, openapi.page_document()):
        check_openapi(doc)
    assert control["paths"]["/create_game"]["post"]["security"] == [{"serviceToken": []}]
    assert "security" not in control["paths"]["/healthz"]["get"]


def test_the_control_api_serves_its_document_and_answers_as_it_says(stream_url: str) -> None:
    async def body() -> None:
        async with running_server(stream_url) as h:
            async with h.session.get(h.control_url + "/openapi.json") as r:  # no token needed
                status, doc, media = await _answer(r)
            assert (status, media) == (200, "application/json")
            assert doc == openapi.control_document(
                max_body_bytes=MAX_BODY_BYTES, max_username_chars=MAX_USERNAME_CHARS
            )
            # the routes of the app the server runs (the same factory, the same arguments)
            app = create_control_app(h.server.registry, SERVICE_TOKEN, h.server.redis)
            assert aiohttp_routes(app) == oa.operations(doc)

            seat = {"gameId": "doc-game", "userId": "host", "username": "Host"}
            calls: list[tuple[str, Any, str | None]] = [
                ("/create_game", seat, SERVICE_TOKEN),
                ("/create_game", seat, SERVICE_TOKEN),  # exists: 400
                ("/create_game", seat, None),  # 401
                ("/create_game", {"gameId": 5}, SERVICE_TOKEN),  # 400
                ("/join_game", {**seat, "userId": "guest"}, SERVICE_TOKEN),
                ("/join_game", {**seat, "gameId": "nope"}, SERVICE_TOKEN),  # 400
                ("/remove_player", {"gameId": "doc-game", "userId": "stranger"}, SERVICE_TOKEN),
                ("/remove_player", {"gameId": "doc-game", "userId": "guest"}, SERVICE_TOKEN),
                ("/remove_game", {"gameId": "doc-game"}, SERVICE_TOKEN),
                ("/remove_game", {"gameId": "doc-game"}, SERVICE_TOKEN),  # null
            ]
            for path, payload, token in calls:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                async with h.session.post(h.control_url + path, json=payload, headers=headers) as r:
                    status, answer, media = await _answer(r)
                assert oa.conformance(doc, path, "POST", status, answer, media) == [], path
            for path in ("/healthz", "/livez", "/metrics"):
                async with h.session.get(h.control_url + path) as r:
                    status, answer, media = await _answer(r)
                assert oa.conformance(doc, path, "GET", status, answer, media) == [], path

    run(body())


def test_the_page_serves_its_document_and_answers_as_it_says() -> None:
    async def body() -> None:
        for environment in ("development", "production"):
            app = create_page_app(PageConfig(environment=environment))
            client = TestClient(TestServer(app))
            await client.start_server()
            try:
                r = await client.get("/openapi.json")
                status, doc, media = await _answer(r)
                assert (status, media) == (200, "application/json")
                assert doc == openapi.page_document()
                assert aiohttp_routes(app) == oa.operations(doc)
                token_answers = []
                for payload in ({"username": "Ann"}, {"username": ""}, [1]):
                    r = await client.post("/dev/token", json=payload)
                    answer = await _answer(r)
                    token_answers.append(answer[0])
                    assert oa.conformance(doc, "/dev/token", "POST", *answer) == []
                expected = [404] * 3 if environment == "production" else [200, 400, 400]
                assert token_answers == expected
                big = await client.post("/dev/token", data=b"x" * 20_000)
                assert oa.conformance(doc, "/dev/token", "POST", *await _answer(big)) == []
                for path, template in (
                    ("/", "/"),
                    ("/config.json", "/config.json"),
                    ("/fighters.json", "/fighters.json"),
                    ("/healthz", "/healthz"),
                    ("/static/js/main.js", "/static/{path}"),
                    ("/static/style.css", "/static/{path}"),
                    ("/static/README.md", "/static/{path}"),
                ):
                    r = await client.get(path)
                    answer = await _answer(r)
                    assert oa.conformance(doc, template, "GET", *answer) == [], path
                r = await client.get("/", headers={"If-None-Match": "*"})
                assert r.status == 304
            finally:
                await client.close()

    run(body())
