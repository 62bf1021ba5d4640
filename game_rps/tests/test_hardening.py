"""Abuse-proofing: bad input is a 4xx with a JSON body on every port of the game server (control
API, WebSocket, page), never a 500, plain text or a logged traceback; the page serves only its own
files, and signs only clean, bounded player names (start-up settings: test_startup.py)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import re
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from conftest import SERVICE_TOKEN, run
from game_rps.config import Config
from game_rps.page import CLIENT_DIR, PageConfig, create_page_app, user_id_for
from game_rps.server import GameServer

from varcade_workers import names

SECRET = "hardening-tests-jwt-secret-0123456789abcdef"
PORTS = ("control", "ws", "page")


# ------------------------------------------------------------------ raw HTTP


class Answer:
    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:])
        }

    @property
    def json(self) -> Any:
        assert self.headers.get("content-type", "").startswith("application/json"), self.headers
        return json.loads(self.body)


async def exchange(port: int, data: bytes) -> Answer:
    """Send raw bytes, read the answer until the server closes (requests say Connection: close;
    aiohttp closes after refusing a request it cannot parse)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return Answer(await asyncio.wait_for(reader.read(), 10))
    finally:
        writer.close()


def request(
    method: str, path: str, headers: bytes = b"", body: bytes = b"", *, length: bool = True
) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n".encode()
    if length:
        head += f"Content-Length: {len(body)}\r\n".encode()
    return head + headers + b"\r\n" + body


AUTH = f"Authorization: Bearer {SERVICE_TOKEN}\r\n".encode()
JSON = b"Content-Type: application/json\r\n"


class Ports:
    def __init__(self, server: GameServer) -> None:
        self.server = server
        self.by_name = {
            "control": server.control_port,
            "ws": server.ws_port,
            "page": server.client_port,
        }

    def __getitem__(self, name: str) -> int:
        return self.by_name[name]

    def ask(self, name: str, data: bytes) -> Answer:
        return run(exchange(self[name], data))


@contextlib.asynccontextmanager
async def game_server(stream_url: str, **page: Any) -> AsyncIterator[GameServer]:
    config = Config(
        event_stream_url=stream_url,
        game_server_token=SERVICE_TOKEN,
        control_port=0,
        ws_port=0,
        client_port=0,
        tick_seconds=0.05,
    )
    page_config = PageConfig(environment="development", jwt_secret=SECRET, **page)
    server = GameServer(config, page_app=lambda: create_page_app(page_config))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def ports(stream_url: str) -> Iterator[Ports]:
    """The three ports of one in-process game server (page in development, signed with SECRET),
    on a loop of its own so that the synchronous tests below can talk to it."""
    loop = asyncio.new_event_loop()
    manager = game_server(stream_url)
    server = loop.run_until_complete(manager.__aenter__())

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield Ports(server)
    finally:
        asyncio.run_coroutine_threadsafe(manager.__aexit__(None, None, None), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record of the test is checked: none may carry a traceback (a refused request is
    one line, not an 'Error handling request' with a stack)."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    with_traceback = [r for r in caplog.records if r.exc_info or r.exc_text]
    assert not with_traceback, [(r.name, r.getMessage()) for r in with_traceback]


# ------------------------------------------------------------------ 1. control API headers


@pytest.mark.parametrize(
    "authorization",
    [
        b"Bearer \xe9\xff\xfe",  # Latin-1 / not UTF-8: was a 500 (UnicodeEncodeError)
        "Bearer é€".encode(),  # UTF-8, not ASCII
        b"Bearer " + SERVICE_TOKEN.encode() + b"\xe9",  # the right token plus one byte
        b"\xe9\xff " + SERVICE_TOKEN.encode(),  # a non-UTF-8 scheme
        b"Bearer",
        b"Bearer " + b"x" * 8000,
        b"Basic " + SERVICE_TOKEN.encode(),
    ],
)
def test_control_api_bad_authorization_is_401_json(
    ports: Ports, no_tracebacks: pytest.LogCaptureFixture, authorization: bytes
) -> None:
    body = json.dumps({"gameId": "g-auth", "userId": "u1", "username": "U1"}).encode()
    answer = ports.ask(
        "control",
        request("POST", "/create_game", b"Authorization: " + authorization + b"\r\n" + JSON, body),
    )
    assert answer.status == 401
    assert answer.json == {"message": "Missing or invalid service token."}


def test_control_api_right_token_still_works(ports: Ports) -> None:
    body = json.dumps({"gameId": "g-auth-ok", "userId": "u1", "username": "U1"}).encode()
    answer = ports.ask("control", request("POST", "/create_game", AUTH + JSON, body))
    assert answer.status == 200
    assert re.fullmatch(r"[0-9a-f]{32}", answer.json["gameToken"])


# ------------------------------------------------------------------ 4. requests aiohttp refuses

MALFORMED = {
    "control character in a header": request("GET", "/healthz", b"X-Note: a\x01b\r\n"),
    "NUL in a header": request("GET", "/healthz", b"X-Note: a\x00b\r\n"),
    "control character in Authorization": request("POST", "/x", b"Authorization: B\x1b\r\n"),
    "header over the limit": request("GET", "/healthz", b"X-Big: " + b"a" * 9000 + b"\r\n"),
    "URL over the limit": request("GET", "/" + "a" * 9000),
    "too many headers": request("GET", "/", b"".join(b"X-%d: a\r\n" % i for i in range(200))),
    "not HTTP": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
    "bad method": b"G\x00T / HTTP/1.1\r\nHost: test\r\n\r\n",
    "bad Content-Length": b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: qq\r\n\r\n",
    "huge Content-Length": b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
    "bad chunk": request("POST", "/x", b"Transfer-Encoding: chunked\r\n", b"zz\r\n", length=False),
    "unsupported Content-Encoding": request("POST", "/x", b"Content-Encoding: br\r\n", b"xx"),
    "bad query byte": b"GET /?a=\xff HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
}


@pytest.mark.parametrize("port", PORTS)
@pytest.mark.parametrize("case", list(MALFORMED))
def test_requests_aiohttp_refuses_are_json_on_every_port(
    ports: Ports, no_tracebacks: pytest.LogCaptureFixture, port: str, case: str
) -> None:
    answer = ports.ask(port, MALFORMED[case])
    assert answer.status == 400, answer.body
    message = answer.json["message"]
    assert message.startswith("Bad request: ") and message.endswith("."), message
    assert message.isprintable() and len(message) < 120
    for echoed in ("aaaa", "\x01", "\x1b", "qq", "zz", "garbage", "\ufffd"):
        assert echoed not in message  # the request's bytes are never echoed back
    logged = [r.getMessage() for r in no_tracebacks.records]
    assert logged.count("malformed request refused") == 1  # one line per refused request


def test_oversized_lines_say_what_the_limit_is(ports: Ports) -> None:
    for port in PORTS:
        answer = ports.ask(port, MALFORMED["header over the limit"])
        assert answer.json == {
            "message": "Bad request: the request line or a header is too long "
            "(at most 8190 bytes each)."
        }


@pytest.mark.parametrize("port", ["control", "page"])
def test_an_unreadable_compressed_body_is_400_json(
    ports: Ports, no_tracebacks: pytest.LogCaptureFixture, port: str
) -> None:
    path = "/create_game" if port == "control" else "/dev/token"
    broken_deflate = gzip.compress(b"")[:10] + b"\xff" * 20  # a gzip header, then garbage
    for body in (b"not gzip at all", broken_deflate):
        answer = ports.ask(
            port, request("POST", path, AUTH + JSON + b"Content-Encoding: gzip\r\n", body)
        )
        assert answer.status == 400
        assert answer.json == {"message": "The request body cannot be read (malformed encoding)."}


def test_the_websocket_port_answers_json_too(ports: Ports) -> None:
    post = ports.ask("ws", request("POST", "/", JSON, b"{}"))
    assert (post.status, post.json) == (405, {"message": "Method Not Allowed"})
    plain = ports.ask("ws", request("GET", "/?game_token=x&user_id=y"))
    assert plain.status == 400 and "message" in plain.json


# ------------------------------------------------------------------ 2. /dev/token bodies


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000,  # deeper than the JSON parser's recursion limit: was a 500
        b'{"username": ' + b"1" * 5000 + b"}",  # 5,000 digits: int() refuses them, was a 500
        b'{"username": "alice", "n": -' + b"9" * 5000 + b"}",
        b'{"username": "a"}' + b" x",
        b'"\xff\xfe"',  # not UTF-8
    ],
)
def test_dev_token_bad_json_is_400_with_a_message(
    ports: Ports, no_tracebacks: pytest.LogCaptureFixture, body: bytes
) -> None:
    answer = ports.ask("page", request("POST", "/dev/token", JSON, body))
    assert answer.status == 400
    assert answer.json == {"message": "Request body must be JSON."}


def test_dev_token_ignores_an_unknown_charset(ports: Ports) -> None:
    # JSON is UTF-8; a made-up charset used to raise LookupError (a 500).
    body = json.dumps({"username": "zoë"}).encode()
    answer = ports.ask(
        "page",
        request("POST", "/dev/token", b"Content-Type: application/json; charset=bogus\r\n", body),
    )
    assert answer.status == 200 and answer.json["username"] == "zoë"


# ------------------------------------------------------------------ 2. /static/


def test_a_very_long_static_name_is_404_json(
    ports: Ports, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    for path in ("/static/" + "a" * 5000, "/static/js/" + "b" * 300 + ".js", "/" + "c" * 5000):
        answer = ports.ask("page", request("GET", path))
        assert (answer.status, answer.json) == (404, {"message": "Not found"}), path


@pytest.fixture
def client_copy(tmp_path: Path) -> Path:
    """The real client folder plus the kinds of files the page must never be served."""
    client = tmp_path / "client"
    shutil.copytree(CLIENT_DIR, client)
    (client / "package.json").write_text('{"name": "client"}')
    (client / "package-lock.json").write_text("{}")
    (client / ".env").write_text("JWT_SECRET=oops")
    (client / "js" / ".hidden.js").write_text("export {};")
    (client / "js" / "main.test.js").write_text("export {};")
    (client / "notes.txt").write_text("notes")
    (client / "assets").mkdir()
    (client / "assets" / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (client / "node_modules" / "lib").mkdir(parents=True)
    (client / "node_modules" / "lib" / "index.js").write_text("export {};")
    outside = tmp_path / "secret.js"
    outside.write_text("export const secret = 1;")
    (client / "js" / "linked.js").symlink_to(outside)
    return client


def test_static_serves_only_what_the_page_needs(stream_url: str, client_copy: Path) -> None:
    async def body() -> dict[str, int]:
        async with game_server(stream_url, client_dir=client_copy) as server:
            statuses = {}
            for path in (
                "/static/style.css",
                "/static/js/main.js",
                "/static/js/battle.js",
                "/static/assets/logo.svg",
                "/static/index.html",
                "/static/README.md",
                "/static/tests/session.test.mjs",
                "/static/tests/battle.test.mjs",
                "/static/package.json",
                "/static/package-lock.json",
                "/static/.env",
                "/static/js/.hidden.js",
                "/static/js/main.test.js",
                "/static/notes.txt",
                "/static/node_modules/lib/index.js",
                "/static/js/linked.js",
                "/static/js/../README.md",
                "/static/js/%2e%2e/README.md",
                "/static/js//main.js",
                "/static/js",
                "/static/",
            ):
                answer = await exchange(server.client_port, request("GET", path))
                statuses[path] = answer.status
                if answer.status != 200:
                    assert answer.json == {"message": "Not found"}, path
            return statuses

    statuses = run(body())
    served = {path for path, status in statuses.items() if status == 200}
    assert served == {
        "/static/style.css",
        "/static/js/main.js",
        "/static/js/battle.js",
        "/static/assets/logo.svg",
        "/static/index.html",
    }, statuses
    assert set(statuses.values()) == {200, 404}


def test_static_files_revalidate_and_ignore_ranges(ports: Ports) -> None:
    first = ports.ask("page", request("GET", "/static/js/main.js"))
    assert first.status == 200
    assert first.headers["content-type"].startswith("text/javascript")
    assert first.headers["cache-control"] == "no-cache"
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    again = ports.ask(
        "page", request("GET", "/static/js/main.js", f"If-None-Match: {etag}\r\n".encode())
    )
    assert again.status == 304 and again.body == b""
    since = ports.ask(
        "page", request("GET", "/static/js/main.js", f"If-Modified-Since: {modified}\r\n".encode())
    )
    assert since.status == 304
    changed = ports.ask("page", request("GET", "/static/js/main.js", b'If-None-Match: "other"\r\n'))
    assert changed.status == 200 and changed.body == first.body
    for rng in (b"bytes=0-1", b"bytes=99999999-", b"bytes=zz", b"bytes=5-1,2-3"):
        # Ranges are not served (the files are small): the whole file, never a plain-text 416.
        whole = ports.ask("page", request("GET", "/", b"Range: " + rng + b"\r\n"))
        assert whole.status == 200 and whole.body.startswith(b"<!doctype html>"), rng
    head = ports.ask("page", request("HEAD", "/static/style.css"))
    assert head.status == 200 and head.body == b""


# ------------------------------------------------------------------ 3. player names


def test_the_page_and_the_server_bound_names_alike() -> None:
    html = (CLIENT_DIR / "index.html").read_text()
    field = re.search(r"<input[^>]*id=\"username\"[^>]*>", html, re.S)
    assert field is not None
    assert f'maxlength="{names.USERNAME_MAX_LENGTH}"' in field.group(0)
    main_js = (CLIENT_DIR / "js" / "main.js").read_text()
    assert '$("username").value.trim()' in main_js  # the page trims, as the server's rule does


@pytest.mark.parametrize(
    ("sent", "name"),
    [
        ("bob\u202e", "bob"),  # right-to-left override
        ("\u2067al\u200bice\u2069", "alice"),  # isolates, zero-width space
        ("bad\nname", "bad name"),
        ("  eve\x00\x1b[2J  ", "eve[2J"),  # NUL, ESC
        ("\ufeffzoe\u00ad", "zoe"),
        ("mallory" + "\u200b" * 200, "mallory"),
    ],
)
def test_dev_token_cleans_the_name_it_signs(ports: Ports, sent: str, name: str) -> None:
    answer = ports.ask(
        "page", request("POST", "/dev/token", JSON, json.dumps({"username": sent}).encode())
    )
    assert answer.status == 200, answer.body
    issued = answer.json
    claims = jwt.decode(issued["token"], SECRET, algorithms=["HS256"])
    assert issued["username"] == claims["username"] == name
    assert issued["user_id"] == claims["user_id"] == user_id_for(name)


@pytest.mark.parametrize(
    ("sent", "fragment"),
    [
        ("x" * 4096, "at most 32 characters"),  # several KB
        ("x" * 33, "at most 32 characters, got 33"),
        ("🎮" * 17, "got 34"),  # counted like the page's maxlength (UTF-16)
        ("\u202e\u200b\u2066", "must not be empty"),
        ("\u3164", "must not be empty"),  # Hangul filler: an invisible "name"
    ],
)
def test_dev_token_refuses_names_outside_the_bounds(ports: Ports, sent: str, fragment: str) -> None:
    answer = ports.ask(
        "page", request("POST", "/dev/token", JSON, json.dumps({"username": sent}).encode())
    )
    assert answer.status == 400
    assert fragment in answer.json["message"]
