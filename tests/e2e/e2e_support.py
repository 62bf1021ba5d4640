"""What the end-to-end tests share: the running stack's handle and a polling helper.

The fixture (conftest.py) starts the whole arcade as real processes, with the `make run` code.

Each test module gets its own stack on free ports (so it never collides with a running `make run`)
and its own Redis database, REDIS_DB (11 or 12, the end-to-end tests' share), flushed before and
after: the matchmaker's data, the stats and the event stream all live in it (their keys do not
overlap), so the two modules can run at the same time. A module sets TICK_SECONDS to choose the
game's pace. Logs go to artifacts/e2e/<module>.log; a failing test shows their tail.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
# tools.run from the root; game_rps.bot (the scripted player) from its project folder.
for path in (ROOT, ROOT / "game_rps"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import redis  # noqa: E402

from tools.run.arcade_api import Arcade  # noqa: E402
from tools.run.stack import StackConfig  # noqa: E402
from tools.run.supervisor import Supervisor  # noqa: E402

E2E_DBS = (11, 12)
ARTIFACTS = ROOT / "artifacts"
T = TypeVar("T")


@dataclass
class RunningStack:
    """A started arcade: its configuration, its processes, clients of its APIs and of its Redis."""

    config: StackConfig
    supervisor: Supervisor
    arcade: Arcade
    redis: redis.Redis  # the module's database: matchmaker data, stats and the event stream
    log_path: Path

    def log_tail(self, chars: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


def eventually(
    check: Callable[[], T], *, timeout: float = 20.0, interval: float = 0.1, what: str = ""
) -> T:
    """Poll `check` until it returns a truthy value (returned) or raise with its last answer.

    Waiting, not timing: the deadline only bounds a test that would otherwise hang."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what or check}; last: {last!r}")
        time.sleep(interval)
