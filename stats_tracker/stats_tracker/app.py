"""The stats tracker HTTP API.

`create_app()` is the factory gunicorn runs: `gunicorn 'stats_tracker.app:create_app()'`.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify
from varcade_workers.logs import setup_logging
from varcade_workers.redis_clients import redis_client
from varcade_workers.web import init_flask_app

from stats_tracker import leaderboards, openapi, player_stats
from stats_tracker.config import Config
from stats_tracker.repository import StatsRepository

SERVICE = "stats_tracker"


def create_app(config: Config | None = None) -> Flask:
    """Build the app from `config` (default: the environment)."""
    setup_logging(SERVICE)
    config = config or Config.from_env()
    client = redis_client(config.redis_url)
    app = Flask(__name__, static_folder=None)  # an API: no /static/ route
    app.config["STATS_PRODUCTS"] = config.products
    app.config["STATS_REPOSITORY"] = StatsRepository(client)
    init_flask_app(
        app,
        service=SERVICE,
        redis_client=client,
        cors_origins=list(config.cors_origins),
        product_ids=list(config.products),
    )
    app.register_blueprint(leaderboards.blueprint)
    app.register_blueprint(player_stats.blueprint)
    document = openapi.document(config.products)

    def openapi_document() -> Response:
        return jsonify(document)

    app.add_url_rule("/openapi.json", "openapi", openapi_document, methods=["GET"])
    return app
