"""json_errors: every way a handler can fail ends as JSON {"message"} (both apps use it)."""

from __future__ import annotations

import json
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from conftest import run
from game_rps.json_errors import BadRequest, with_json_errors

log = logging.getLogger("test.json_errors")


def answer(exc: BaseException, messages: dict[int, str] | None = None) -> tuple[int, object]:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise exc

    async def body() -> tuple[int, object]:
        request = make_mocked_request("GET", "/somewhere")
        response = await with_json_errors(request, handler, log, messages)
        assert isinstance(response, web.Response) and response.text is not None
        return response.status, json.loads(response.text)

    return run(body())


def test_bad_request_keeps_its_status_and_message() -> None:
    assert answer(BadRequest("Bad gameId.")) == (400, {"message": "Bad gameId."})
    assert answer(BadRequest("Player not in game.", status=404)) == (
        404,
        {"message": "Player not in game."},
    )


def test_aiohttp_errors_use_the_reason_or_the_given_message() -> None:
    assert answer(web.HTTPMethodNotAllowed("POST", ["GET"])) == (
        405,
        {"message": "Method Not Allowed"},
    )
    assert answer(web.HTTPNotFound(), {404: "Not found"}) == (404, {"message": "Not found"})


def test_a_redirect_is_not_an_error() -> None:
    with pytest.raises(web.HTTPFound):
        answer(web.HTTPFound("/elsewhere"))


def test_an_unexpected_exception_is_a_logged_generic_500(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="test.json_errors"):
        assert answer(KeyError("secret detail")) == (500, {"message": "Internal server error."})
    assert "secret detail" in caplog.text  # in the log (traceback), not in the answer
