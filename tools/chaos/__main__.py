"""`make chaos`: python -m tools.chaos [--steps 1,2,...] [--games N] [--events N] [--kills N]
[--seed N] [--fsync always|everysec] [--tick SECONDS] [--run-dir DIR]

Runs the steps (default: all six), each printing its figures as it goes, then a summary table.
Exit status 0 when every checked figure is as it must be, 1 otherwise, 2 for bad options.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tools.chaos.context import ChaosRun, Options
from tools.chaos.redis_node import FSYNC_POLICIES
from tools.chaos.report import StepResult, guarded, interrupt_on_sigterm, print_summary

#: Step number -> (module, title).
STEPS: dict[str, tuple[str, str]] = {
    "1": ("step_matchmaker_order", "matchmaker order under SIGKILL"),
    "2": ("step_stats_once", "stats exactly-once and order under SIGKILL"),
    "3": ("step_replicas", "two replicas of each worker, with kills"),
    "4": ("step_game_server", "game server SIGKILL / SIGSTOP"),
    "5": ("step_redis_restart", "Redis restart under running services"),
    "6": ("step_poison", "poison entries and the dead-letters CLI"),
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.chaos",
        description="Crash, order and poison drill of the arcade (each step on a private Redis).",
    )
    parser.add_argument("--steps", default=",".join(STEPS), help="e.g. 1,2,6 (default: all)")
    parser.add_argument("--games", type=int, default=600, help="step 1/3: games (default 600)")
    parser.add_argument("--events", type=int, default=10_000, help="step 2/3: events (10000)")
    parser.add_argument("--kills", type=int, default=15, help="SIGKILLs per step (default 15)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--fsync", choices=FSYNC_POLICIES, default="always", help="Redis appendfsync (always)"
    )
    parser.add_argument(
        "--tick", type=float, default=0.05, help="TICK_SECONDS of the game server (0.05)"
    )
    parser.add_argument("--run-dir", type=Path, default=None, help="logs and data (a temp dir)")
    args = parser.parse_args(argv)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown or not steps:
        parser.error(f"--steps: unknown step(s) {unknown}; known: {', '.join(STEPS)}")
    if args.games < 1 or args.events < 1 or args.kills < 0:
        parser.error("--games and --events must be >= 1, --kills >= 0")
    args.steps = steps
    return args


def step_runner(number: str) -> Callable[[ChaosRun], StepResult]:
    module = importlib.import_module(f"tools.chaos.{STEPS[number][0]}")
    runner: Callable[[ChaosRun], StepResult] = module.run
    return runner


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="varcade-chaos-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    options = Options(
        games=args.games,
        events=args.events,
        kills=args.kills,
        seed=args.seed,
        fsync=args.fsync,
        tick_seconds=args.tick,
    )
    ctx = ChaosRun(options, run_dir)

    interrupt_on_sigterm()
    print(f"chaos: run directory {run_dir} (service logs: <step>/logs/, Redis: <step>/redis/)")
    print(
        f"chaos: steps {','.join(args.steps)}; games {options.games}, events {options.events}, "
        f"kills {options.kills}, seed {options.seed}, appendfsync {options.fsync}, "
        f"TICK_SECONDS {options.tick_seconds}; every other setting is the services' default",
        flush=True,
    )
    results: list[StepResult] = []
    started = time.monotonic()
    try:
        for number in args.steps:
            title = STEPS[number][1]
            ctx.say(f"step {number}", title)
            result = guarded(f"{number}", title, lambda n=number: step_runner(n)(ctx))
            results.append(result)
            verdict = "FAILED" if result.failed else "passed"
            ctx.say(f"step {number}", f"{verdict}")
    except KeyboardInterrupt:
        print("chaos: interrupted", file=sys.stderr)
        return 130
    return print_summary("chaos", results, started, run_dir)


if __name__ == "__main__":
    sys.exit(main())
