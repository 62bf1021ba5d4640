"""gunicorn settings: the shared ones, and the stats tracker's default port (spec: 5000)."""

import os

from varcade_workers.gunicorn_conf import *  # noqa: F403

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
