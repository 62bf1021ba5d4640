"""gunicorn settings: the shared ones, and the matchmaker's default port (spec: 5050)."""

import os

os.environ.setdefault("PORT", "5050")
from varcade_workers.gunicorn_conf import *  # noqa: F403
