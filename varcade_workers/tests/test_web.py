"""web: JSON errors, CORS, /healthz, request metrics, /metrics under several gunicorn workers."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask import Flask, abort, jsonify, request
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from varcade_workers.testing import free_port, serving
from varcade_workers.web import OTHER_PRODUCT, init_flask_app

ORIGIN = "http://127.0.0.1:8090"


def make_app(redis_client: Any, product_ids: list[str] | None = None) -> Flask:
    app = Flask("webtest")

    @app.get("/games/<product_id>/<game_id>")
    def game(product_id: str, game_id: str) -> Any:
        return jsonify(game_id=game_id)

    @app.get("/known/<product_id>")
    def known(product_id: str) -> Any:
        if product_id != "exrps":
            abort(400, "Invalid product Id")
        return jsonify([])

    @app.post("/echo")
    def echo() -> Any:
        return jsonify(request.get_json())

    @app.get("/boom")
    def boom() -> Any:
        raise RuntimeError("secret internals")

    @app.get("/count/<product_id>/<game_id>")
    def count(product_id: str, game_id: str) -> Any:
        return jsonify(count=redis_client.incr(f"count:{game_id}"))

    init_flask_app(
        app,
        service="webtest",
        redis_client=redis_client,
        cors_origins=[ORIGIN, ""],
        product_ids=product_ids,
    )
    return app


@pytest.fixture
def client(fake_redis: Any) -> FlaskClient:
    return make_app(fake_redis).test_client()


def count(endpoint: str, product_id: str, status: str, method: str = "GET") -> float:
    labels = {
        "service": "webtest",
        "method": method,
        "endpoint": endpoint,
        "product_id": product_id,
        "status": status,
    }
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


def test_healthz_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_503_when_redis_is_away() -> None:
    # A plain redis-py 8 client: it would retry 3 times with backoff (about 4.5 s) before failing;
    # /healthz pings through its own no-retry probe client instead.
    dead = redis.Redis(port=free_port())
    started = time.perf_counter()
    response = make_app(dead).test_client().get("/healthz")
    print(f"healthz 503 after {time.perf_counter() - started:.3f} s")
    assert response.status_code == 503
    assert "redis" in response.get_json()["message"]


def test_redis_outage_in_a_view_is_503_json_with_ids_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = redis.Redis(port=free_port(), retry=None, socket_connect_timeout=0.5)
    response = make_app(dead).test_client().get("/count/exrps/g1")
    assert response.status_code == 503
    assert "temporarily unavailable" in response.get_json()["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    [record] = [r for r in caplog.records if r.getMessage() == "storage unavailable"]
    assert (record.product_id, record.game_id) == ("exrps", "g1")  # type: ignore[attr-defined]


def test_healthz_with_a_real_redis(data_redis: redis.Redis) -> None:
    assert make_app(data_redis).test_client().get("/healthz").status_code == 200


def test_http_errors_are_json(client: FlaskClient) -> None:
    response = client.get("/no/such/path")
    assert response.status_code == 404
    assert response.is_json and response.get_json()["message"]

    response = client.delete("/echo")
    assert response.status_code == 405
    assert response.is_json and response.get_json()["message"]
    assert "POST" in response.headers["Allow"]

    response = client.get("/known/nope")
    assert response.status_code == 400
    assert response.get_json() == {"message": "Invalid product Id"}

    response = client.post("/echo", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.is_json and response.get_json()["message"]


def test_unhandled_exception_is_a_logged_json_500(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="varcade_workers.web"):
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.get_json() == {"message": "Internal server error"}
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and "secret internals" not in body
    [record] = [r for r in caplog.records if r.name == "varcade_workers.web"]
    assert record.exc_info is not None and "secret internals" in str(record.exc_info[1])


def test_cors_preflight_allows_authorization(client: FlaskClient) -> None:
    response = client.options(
        "/echo",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]

    response = client.get("/games/exrps/g1", headers={"Origin": ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    # CORS headers on errors too, so a browser can read the JSON message.
    assert (
        client.get("/nope", headers={"Origin": ORIGIN}).headers.get("Access-Control-Allow-Origin")
        == ORIGIN
    )


def test_cors_refuses_other_origins(client: FlaskClient) -> None:
    response = client.get("/games/exrps/g1", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_metrics_labels_use_endpoints_never_paths(client: FlaskClient) -> None:
    before = count("game", "exrps", "200")
    client.get("/games/exrps/game-4f2a9")
    client.get("/games/exrps/game-77c1e")
    assert count("game", "exrps", "200") == before + 2

    before_404 = count("unmatched", "", "404")
    client.get("/games/exrps")  # no route
    assert count("unmatched", "", "404") == before_404 + 1

    # A product the service refused is not a label value of its own.
    before_bad = count("known", OTHER_PRODUCT, "400")
    client.get("/known/made-up-product")
    assert count("known", OTHER_PRODUCT, "400") == before_bad + 1

    text = client.get("/metrics").get_data(as_text=True)
    assert "http_request_duration_seconds_bucket" in text
    assert 'endpoint="game"' in text
    assert "game-4f2a9" not in text and "made-up-product" not in text and "/games" not in text


def test_known_product_ids_label_only_known_products(fake_redis: Any) -> None:
    client = make_app(fake_redis, product_ids=["exrps"]).test_client()
    before = count("game", OTHER_PRODUCT, "200")
    client.get("/games/unknown-prod/g1")
    assert count("game", OTHER_PRODUCT, "200") == before + 1


# -- multiprocess metrics -------------------------------------------------------------------------

MULTIPROC_SCRIPT = """
import fakeredis
from flask import Flask
from varcade_workers.web import init_flask_app

app = Flask("mp")
app.add_url_rule("/items/<product_id>", "items", lambda product_id: "ok")
init_flask_app(app, service="mp", redis_client=fakeredis.FakeRedis(), cors_origins=[])
client = app.test_client()
for _ in range(3):
    client.get("/items/exrps")
print(client.get("/metrics").get_data(as_text=True))
"""


def test_multiprocess_metrics_directory(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MULTIPROC_SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    line = 'http_requests_total{endpoint="items",method="GET",product_id="exrps",service="mp",'
    assert any(row.startswith(line) and row.endswith(" 3.0") for row in out.splitlines()), out
    assert list(tmp_path.glob("*.db"))  # values live in files, shared by processes


GUNICORN_APP = """
import os, time
import redis
from flask import Flask, jsonify
from varcade_workers.web import init_flask_app


def create_app():
    app = Flask("gtest")

    @app.get("/slow/<product_id>")
    def slow(product_id):
        time.sleep(0.05)  # overlapping requests: the other worker's turn to accept comes sooner
        return jsonify(pid=os.getpid())

    client = redis.Redis.from_url(os.environ["TEST_REDIS"])
    init_flask_app(app, service="gtest", redis_client=client, cors_origins=[])
    return app
"""

GUNICORN_CONF = """
import os

os.environ.setdefault("PORT", "1")
from varcade_workers.gunicorn_conf import *  # noqa: E402,F403
"""


@pytest.fixture
def gunicorn_server(tmp_path: Path, redis_base: str) -> Iterator[tuple[str, Path]]:
    (tmp_path / "gapp.py").write_text(textwrap.dedent(GUNICORN_APP))
    (tmp_path / "gunicorn.conf.py").write_text(textwrap.dedent(GUNICORN_CONF))
    prom = tmp_path / "prom"
    prom.mkdir()
    (prom / "counter_99999.db").write_bytes(b"stale garbage from a previous run")
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(prom),
        "TEST_REDIS": f"{redis_base}/3",
    }
    url = f"http://127.0.0.1:{port}"
    with serving(
        [sys.executable, "-m", "gunicorn", "gapp:create_app()"],
        env=env,
        cwd=tmp_path,
        ready_url=f"{url}/healthz",
        start_wait=60,
        stop_wait=30,
    ):
        yield url, prom


def test_metrics_add_up_across_gunicorn_workers(gunicorn_server: tuple[str, Path]) -> None:
    url, prom = gunicorn_server
    assert not (prom / "counter_99999.db").exists()  # wiped at start
    # Which worker accepts a connection is up to the kernel (a threaded worker keeps accepting while
    # its threads are busy): send bursts until both workers have answered some requests.
    pids: set[int] = set()
    sent = 0
    with ThreadPoolExecutor(4) as pool:
        while len(pids) < 2 and sent < 80:
            responses = list(
                pool.map(lambda _: requests.get(f"{url}/slow/exrps", timeout=30), range(4))
            )
            sent += len(responses)
            pids |= {r.json()["pid"] for r in responses}
    assert len(pids) == 2  # both workers answered some requests
    text = requests.get(f"{url}/metrics", timeout=10).text
    total = sum(
        float(row.rsplit(" ", 1)[1])
        for row in text.splitlines()
        if row.startswith("http_requests_total{") and 'endpoint="slow"' in row
    )
    assert total == sent, text  # every worker's requests, whichever worker answered /metrics
    assert json.loads(requests.get(f"{url}/healthz", timeout=10).text) == {"status": "ok"}


def test_gunicorn_conf_star_import_carries_every_setting() -> None:
    """A service's gunicorn.conf.py is one star import: a setting left out of __all__ is lost."""
    namespace: dict[str, object] = {}
    exec("from varcade_workers.gunicorn_conf import *", namespace)
    assert namespace["control_socket_disable"] is True  # no per-user socket shared by every API
    assert namespace["workers"] and namespace["bind"] and callable(namespace["child_exit"])
