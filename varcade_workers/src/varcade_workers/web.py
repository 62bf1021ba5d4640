"""The HTTP plumbing every Flask service shares: JSON errors, CORS, ``/healthz``, Prometheus
metrics.

Needs the ``web`` extra (flask, flask-cors). In a service's app factory::

    def create_app() -> Flask:
        app = Flask(__name__)
        app.register_blueprint(leaderboards.blueprint)
        init_flask_app(app, service="stats_tracker", redis_client=data_redis,
                       cors_origins=config.CORS_ORIGINS, product_ids=config.PRODUCTS)
        return app

Errors: every HTTP error (``abort(400, "Invalid product Id")``, a 404 route, a 405, bad JSON)
answers ``{"message": ...}`` with its status and headers (``Allow``, ``WWW-Authenticate``...). An
unhandled exception is logged with its traceback and answers 500 ``{"message": "Internal server
error"}``: the body never shows a traceback.

Metrics: ``http_requests_total`` and ``http_request_duration_seconds``, labelled ``service``,
``method``, ``endpoint`` (the Flask endpoint name, never the raw path, so game ids never become
label values), ``product_id`` and ``status``. ``GET /metrics`` serves them; under gunicorn with
several workers, ``PROMETHEUS_MULTIPROC_DIR`` (set by :mod:`varcade_workers.gunicorn_conf`) makes it
report every worker's values, not just the one answering.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from typing import Any, Final

import prometheus_client
import redis
from flask import Flask, Response, g, jsonify, request
from flask_cors import CORS
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import multiprocess as prom_multiprocess
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from varcade_workers import settings
from varcade_workers.redis_clients import probe_client

__all__ = ["OTHER_PRODUCT", "init_flask_app", "metrics_payload"]

log = logging.getLogger(__name__)

OTHER_PRODUCT: Final = "other"
"""The ``product_id`` label of a request naming a product that is not known to be valid."""

_UNMATCHED: Final = "unmatched"  # endpoint label of a request no route matched (a 404)
_LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_metrics_lock = threading.Lock()
_metrics: tuple[Counter, Histogram] | None = None


def _request_metrics() -> tuple[Counter, Histogram]:
    """The process's request metrics, created on first use (once: a registry refuses duplicates)."""
    global _metrics
    with _metrics_lock:
        if _metrics is None:
            labels = ("service", "method", "endpoint", "product_id", "status")
            _metrics = (
                Counter("http_requests_total", "HTTP requests answered", labels),
                Histogram(
                    "http_request_duration_seconds",
                    "Time to answer an HTTP request",
                    labels,
                    buckets=_LATENCY_BUCKETS,
                ),
            )
        return _metrics


def metrics_payload() -> tuple[bytes, str]:
    """The Prometheus exposition of this process, or of every gunicorn worker (multiprocess)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prom_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return prometheus_client.generate_latest(registry), CONTENT_TYPE_LATEST
    return prometheus_client.generate_latest(), CONTENT_TYPE_LATEST


def _cors_origins(cors_origins: Iterable[str]) -> str | list[re.Pattern[str]]:
    """What flask-cors gets: each origin as a whole-string pattern, or ``"*"`` for a lone ``*``
    outside production. Anything that is not an exact origin raises ConfigError.

    flask-cors takes a string holding ``*``, ``[`` or ``?`` for a regular expression and matches
    it as a prefix: ``https://*.example.com`` let ``https://xexample.com.attacker.net`` in (and not
    ``https://a.example.com``)."""
    origins = [origin.strip() for origin in cors_origins if origin and origin.strip()]
    if settings.ANY_ORIGIN in origins:
        if settings.is_production() or len(origins) > 1:
            raise settings.ConfigError(
                "CORS origins: '*' (any origin) is only allowed alone, outside production"
            )
        return settings.ANY_ORIGIN
    exact = dict.fromkeys(settings.exact_origin(origin, "CORS origins") for origin in origins)
    return [re.compile(re.escape(origin) + r"\Z", re.IGNORECASE) for origin in exact]


def init_flask_app(
    app: Flask,
    *,
    service: str,
    redis_client: redis.Redis,
    cors_origins: Iterable[str],
    product_ids: Iterable[str] | None = None,
) -> Flask:
    """Add JSON errors, CORS, ``GET /healthz``, request metrics and ``GET /metrics`` to ``app``.

    ``cors_origins``: exact origins (``scheme://host[:port]``, e.g. from
    :func:`varcade_workers.settings.cors_origins`), each compared whole with a request's
    ``Origin``; a lone ``"*"`` allows any origin outside production. Anything else (a pattern, a
    path, ``*`` in production) raises :class:`~varcade_workers.settings.ConfigError`.

    ``product_ids``: the valid product ids, if known; the ``product_id`` label of any other value is
    :data:`OTHER_PRODUCT`, so requests for made-up products cannot create unbounded label values.
    Without it, a product id is used as a label only on a response below 400 (the service accepted
    it).
    """
    CORS(
        app,
        origins=_cors_origins(cors_origins),
        allow_headers=["Authorization", "Content-Type"],
        expose_headers=["Retry-After"],  # a 429's wait, readable by the page's script
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        max_age=600,
    )
    requests_total, latency = _request_metrics()
    known = frozenset(product_ids) if product_ids is not None else None

    def product_label(status: int) -> str:
        product = (request.view_args or {}).get("product_id")
        if not product:
            return ""
        if known is not None:
            return str(product) if product in known else OTHER_PRODUCT
        return str(product) if status < 400 else OTHER_PRODUCT

    @app.before_request
    def _start_timer() -> None:
        g._varcade_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.pop("_varcade_started", None)
        rule = request.url_rule
        labels = (
            service,
            request.method,
            rule.endpoint if rule is not None else _UNMATCHED,
            product_label(response.status_code),
            str(response.status_code),
        )
        requests_total.labels(*labels).inc()
        if started is not None:
            latency.labels(*labels).observe(time.perf_counter() - started)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> WerkzeugResponse:
        response = error.get_response()  # keeps Allow, WWW-Authenticate, Location...
        response.set_data(app.json.dumps({"message": error.description or error.name}))
        response.mimetype = "application/json"
        return response

    @app.errorhandler(redis.RedisError)
    def _storage_unavailable(error: redis.RedisError) -> tuple[Response, int]:
        # Redis away is an outage, not a bug nor the client's fault: 503 like /healthz.
        args = request.view_args or {}
        where: dict[str, object] = {
            name: args[name] for name in ("product_id", "game_id") if name in args
        }
        log.error("storage unavailable", extra={**where, "error": repr(error)})
        return jsonify(message=f"{service} is temporarily unavailable; try again shortly."), 503

    @app.errorhandler(Exception)
    def _unhandled(error: Exception) -> tuple[Response, int]:
        rule = request.url_rule
        log.error(
            "unhandled exception",
            exc_info=error,
            extra={
                "method": request.method,
                "endpoint": rule.endpoint if rule is not None else _UNMATCHED,
                "product_id": (request.view_args or {}).get("product_id", ""),
            },
        )
        return jsonify(message="Internal server error"), 500

    probe = probe_client(redis_client)  # no retry, 1 s timeout: a down Redis answers 503 at once

    def healthz() -> Any:
        try:
            probe.ping()
        except Exception as exc:  # any failure to reach Redis means unhealthy, never a 500
            log.warning(
                "healthz: redis unreachable", extra={"error": f"{type(exc).__name__}: {exc}"}
            )
            return jsonify(message=f"redis unreachable: {type(exc).__name__}"), 503
        return jsonify(status="ok")

    def metrics() -> Response:
        payload, content_type = metrics_payload()
        return Response(payload, content_type=content_type)

    app.add_url_rule("/healthz", "healthz", healthz, methods=["GET"])
    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
    return app
