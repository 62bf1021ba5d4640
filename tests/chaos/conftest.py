"""The chaos tests: the real workers as processes on a private Redis (see test_crash_order.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from varcade_workers.testing import RedisServer  # noqa: E402

import tools.chaos  # noqa: E402,F401  (puts the services' folders on sys.path)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server of this module's own (free port, temporary folder), stopped at the end."""
    with RedisServer() as server:
        yield server
