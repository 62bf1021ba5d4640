"""`make run`: the whole arcade in the foreground; Ctrl-C stops everything.

Usage: python -m tools.run  (from the repository root, with the .venv interpreter)
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

from tools.run.redis_select import choose_redis
from tools.run.stack import PRODUCT_ID, ROOT, Ports, StackConfig, stack_specs
from tools.run.supervisor import ProcessFailed, Supervisor


def how_to_play(config: StackConfig) -> str:
    return f"""
  Varcade Games is running.

    Play:        {config.page_url}
                 Open it in two browser windows (or a normal and a private window): each
                 window is one player (the page keeps its token per window). Window 1 signs
                 in and creates a game; window 2 signs in with another name and joins it
                 from the list of open games. Pick a fighter, press start, throw weapons.
    Matchmaker:  {config.matchmaker_url}/game_lobby/{PRODUCT_ID}/open_games
    Leaderboard: {config.stats_url}/leaderboards/top_ten/{PRODUCT_ID}
    Demo:        make demo   (two scripted players play a game against this arcade)

  Ctrl-C stops everything.
"""


def main() -> int:
    run_dir = ROOT / ".run"
    run_dir.mkdir(exist_ok=True)
    ports = Ports()
    busy = ports.busy()
    if busy:
        listed = ", ".join(f"{name}={port}" for name, port in busy)
        print(f"run: ports in use ({listed}); is another `make run` running?", file=sys.stderr)
        return 1

    stop_requested = False
    supervisor: Supervisor | None = None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_requested
        if stop_requested:  # second Ctrl-C: do not wait for graceful shutdowns
            raise KeyboardInterrupt
        stop_requested = True
        if supervisor is not None:
            supervisor.request_stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    redis = choose_redis(run_dir, StackConfig(redis="").venv_bin)
    print(f"run: Redis: {redis.describe()} (databases: 0 matchmaker, 1 event stream, 2 stats)")
    try:
        if stop_requested:
            return 0
        config = StackConfig(redis=redis.url, ports=ports, run_dir=run_dir)
        supervisor = Supervisor(stack_specs(config))
        supervisor.start()
        try:
            supervisor.wait_healthy(timeout=90)
        except ProcessFailed as exc:
            if not stop_requested:
                supervisor.log("runner", f"the arcade did not start: {exc}")
                return 1
        if not stop_requested:
            print(how_to_play(config), flush=True)
            dead = supervisor.wait()
            if dead is not None:
                supervisor.log("runner", f"{dead} exited; stopping everything")
                return 1
        return 0
    finally:
        if supervisor is not None:
            supervisor.log("runner", "stopping")
            supervisor.stop()
        redis.stop()
        print("run: stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
