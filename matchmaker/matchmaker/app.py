"""The matchmaker's Flask app factory: `gunicorn 'matchmaker.app:create_app()'`."""

from __future__ import annotations

from flask import Flask, Response, jsonify
from varcade_workers.logs import setup_logging
from varcade_workers.web import init_flask_app

from matchmaker import lobby, openapi
from matchmaker.config import Config
from matchmaker.services import Services, build_services

SERVICE = "matchmaker"


def create_app(config: Config | None = None, *, services: Services | None = None) -> Flask:
    """Build the app from the environment (or from the given config/services, for tests).

    A bad or, in production, a default secret raises ConfigError here, so the server refuses to
    start.
    """
    if services is None:
        services = build_services(config or Config.from_env())
    setup_logging(SERVICE)
    app = Flask(SERVICE, static_folder=None)  # an API: no /static/ route
    app.extensions["matchmaker"] = services
    init_flask_app(
        app,
        service=SERVICE,
        redis_client=services.redis,
        cors_origins=list(services.config.cors_origins),
        product_ids=list(services.config.products),
    )
    app.register_blueprint(lobby.bp)
    document = openapi.document(services.config)

    def openapi_document() -> Response:
        return jsonify(document)

    app.add_url_rule("/openapi.json", "openapi", openapi_document, methods=["GET"])
    return app
