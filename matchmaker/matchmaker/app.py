"""The matchmaker's Flask app factory: `gunicorn 'matchmaker.app:create_app()'`."""

from __future__ import annotations

import logging

import redis
from flask import Flask, Response, jsonify, request
from varcade_workers.logs import setup_logging
from varcade_workers.web import init_flask_app

from matchmaker import lobby
from matchmaker.config import Config
from matchmaker.services import Services, build_services

SERVICE = "matchmaker"

log = logging.getLogger(__name__)


def create_app(config: Config | None = None, *, services: Services | None = None) -> Flask:
    """Build the app from the environment (or from the given config/services, for tests).

    A bad or, in production, a default secret raises ConfigError here, so the server refuses to
    start.
    """
    if services is None:
        services = build_services(config or Config.from_env())
    setup_logging(SERVICE)
    app = Flask(SERVICE)
    app.extensions["matchmaker"] = services
    init_flask_app(
        app,
        service=SERVICE,
        redis_client=services.redis,
        cors_origins=list(services.config.cors_origins),
        product_ids=list(services.config.products),
    )
    app.register_blueprint(lobby.bp)
    app.register_error_handler(redis.RedisError, _storage_unavailable)
    return app


def _storage_unavailable(exc: redis.RedisError) -> tuple[Response, int]:
    """Redis being away is an outage, not a client error: 503, like /healthz."""
    args = request.view_args or {}
    where = {name: args[name] for name in ("product_id", "game_id") if name in args}
    log.error("storage unavailable", extra={**where, "error": repr(exc)})
    return jsonify(message="The game lobby is temporarily unavailable."), 503
