"""gunicorn settings: the shared ones (varcade_workers.gunicorn_conf), default port 5000 (spec)."""

import os

os.environ.setdefault("PORT", "5000")
from varcade_workers.gunicorn_conf import *  # noqa: F403
