"""`make chaos`: the arcade's crash, order and poison drill (python -m tools.chaos).

Each step starts its own private Redis (free port, its own folder under the run directory) and the
processes it needs with the very definitions `make run` uses (tools/run/stack.py, free ports,
default settings), does something nasty to them (SIGKILL a worker at random moments, SIGSTOP the
game server, restart Redis, feed the stream poison), then compares what the services hold with what
an in-order application of the stream computes with the services' own pure functions.

Modules: `context` (options, run directory, a step's private Redis and processes), `redis_node`
(a private redis-server), `fleet` (start/kill/restart processes, logs to files), `groups`
(consumer-group progress, takeover delays), `killer` (SIGKILL at random moments, restart at once),
`writer` (events written over time, in bursts), `stream_io` (the stream read back as bytes),
`lobby_model` and `stats_model` (scenarios and their in-order outcome, computed with the services'
own code), `live_games` (scripted players, and the events their messages prove were buffered),
`poison` (the stream fuzzer), `report` (figures and the summary table), `step_*` (the six steps),
`__main__` (the command line).

Importing the package puts the services' project folders on `sys.path`, the way each service runs
from its own folder, so `matchmaker`, `stats_tracker` and `game_rps` import as they do there.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICE_DIRS = (ROOT / "matchmaker", ROOT / "stats_tracker", ROOT / "game_rps")

for _path in (ROOT, *SERVICE_DIRS):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
