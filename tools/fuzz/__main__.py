"""`make fuzz`: python -m tools.fuzz [--size full|short] [--seed N] [--run-dir DIR] [--skip PART]

Starts its own stack (tools/fuzz/stack.py: a private Redis and the processes of `make run` on free
ports, abuse limits raised for the run), fuzzes the HTTP APIs with schemathesis against their own
OpenAPI documents (tools/fuzz/http.py) and the game's WebSocket (tools/fuzz/ws.py), stops the
stack, then runs the stream poison step of `make chaos` (tools/chaos/step_poison.py, on a private
stack of its own). Prints, per API, the requests sent, the 5xx seen and the answers that break the
document, then the WebSocket figures and the poison step's, as one table.

Exit status 0 when every checked figure is as it must be, 1 otherwise, 2 for bad options.
`--size short` (make test-fuzz) runs the same code with small sizes and a fixed seed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import requests

from tools.chaos.context import ChaosRun, Options
from tools.chaos.report import (
    StepResult,
    guarded,
    interrupt_on_sigterm,
    must,
    must_be,
    print_summary,
    shown,
)
from tools.fuzz.http import Api, ApiReport, fuzz_api
from tools.fuzz.sizes import SIZES, Sizes
from tools.fuzz.stack import FuzzStack
from tools.fuzz.ws import ROUND_TRIP_GOAL_MS, WsFuzz, WsReport
from tools.run.arcade_api import Arcade

PARTS = ("http", "ws", "poison")
SHOWN_FAILURES = 8


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.fuzz",
        description="Fuzz the arcade's HTTP APIs, WebSocket and event stream (a private stack).",
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="full", help="full (default)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--run-dir", type=Path, default=None, help="logs (default: a temp dir)")
    parser.add_argument(
        "--skip", action="append", choices=PARTS, default=[], help="leave a part out (repeatable)"
    )
    return parser.parse_args(argv)


def _secured(url: str) -> set[tuple[str, str]]:
    """The (path, METHOD) the document served at `url` says need a token."""
    doc = requests.get(url.rstrip("/") + "/openapi.json", timeout=10).json()
    return {
        (path, method.upper())
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and op.get("security")
    }


def http_apis(stack: FuzzStack, arcade: Arcade) -> list[Api]:
    """The four documents, with the tokens their secured operations need: a player's JWT from
    `/dev/token` for the matchmaker (another player's for join_game), the service token for the
    control API."""
    host = arcade.sign_in("fuzz host")
    guest = arcade.sign_in("fuzz guest")
    lobby = _secured(stack.config.matchmaker_url)
    control = _secured(stack.control_url)

    def lobby_headers(op: object) -> dict[str, str]:
        path, method = getattr(op, "path", ""), getattr(op, "method", "").upper()
        if (path, method) not in lobby:
            return {}
        player = guest if "join_game" in path else host
        return {"Authorization": f"Bearer {player.token}"}

    def control_headers(op: object) -> dict[str, str]:
        key = (getattr(op, "path", ""), getattr(op, "method", "").upper())
        return {"Authorization": f"Bearer {stack.service_token}"} if key in control else {}

    return [
        Api("matchmaker", stack.config.matchmaker_url, lobby_headers),
        Api("stats_tracker", stack.config.stats_url),
        Api("game control API", stack.control_url, control_headers),
        Api("page (/dev/token)", stack.config.page_url),
    ]


def api_result(report: ApiReport) -> StepResult:
    result = StepResult(f"http {report.name}", f"schemathesis on {report.name}")
    result.add(shown("operations / requests sent", f"{report.operations} / {report.requests}"))
    result.add(shown("stateful scenarios", str(report.scenarios)))
    for note in report.notes:
        result.add(shown("note", note))
    statuses = ", ".join(f"{s}: {n}" for s, n in sorted(report.statuses.items()))
    result.add(shown("answers by status", statuses))
    result.add(must_be("5xx seen", report.server_errors))
    result.add(must_be("answers breaking the document", report.nonconforming))
    for text, times in report.failures.most_common(SHOWN_FAILURES):
        result.add(shown(f"failure x{times}", text))
    if report.errors:
        result.error = "; ".join(report.errors)[:500]
    return result


def ws_result(
    report: WsReport, stack_checks: dict[str, int], *, flooders: int, check_round_trip: bool
) -> StepResult:
    result = StepResult("ws", "WebSocket fuzzer and floods")
    result.add(
        shown(
            "games / frames / pings",
            f"{report.games} / {report.frames} / {report.pings}",
        )
    )
    result.add(shown("frames whose answers were checked", str(report.answers_checked)))
    result.add(must_be("answers or closes not as documented", report.protocol_breaks))
    for text, times in report.mismatches.most_common(SHOWN_FAILURES):
        result.add(shown(f"mismatch x{times}", text))
    result.add(must_be("internal errors (1011) sent", report.internal_errors))
    for ending, times in sorted(report.endings.items()):
        result.add(shown("socket ending", f"{ending} x{times}"))
    result.add(shown("refused connects checked", str(report.refusals)))
    result.add(
        must(
            "other games played to the end",
            f"{report.quiet_done}/{report.quiet_total}",
            report.quiet_done == report.quiet_total,
            f"{report.quiet_total}/{report.quiet_total}",
        )
    )
    median = report.round_trip_median_ms
    if median is not None:
        label = f"another game's round trip median, {flooders} sockets flooding (ms)"
        value = f"{median:.2f} (p95 {report.round_trip_p95_ms:.2f})"
        if check_round_trip:
            goal = f"< {ROUND_TRIP_GOAL_MS:.0f}"
            result.add(must(label, value, median < ROUND_TRIP_GOAL_MS, goal))
        else:
            result.add(shown(f"{label}, goal < {ROUND_TRIP_GOAL_MS:.0f}", value))
    for label, value in stack_checks.items():
        result.add(must_be(label, value))
    if report.errors:
        result.error = "; ".join(report.errors)[:500]
    return result


def stack_checks(stack: FuzzStack) -> dict[str, int]:
    """Crashes and bugs the services showed: processes gone, probes failing, error log lines."""
    alive = stack.alive()
    healthy = stack.healthy()
    bad = stack.bad_log_lines()
    for line in bad[:10]:
        print(f"    log: {line[:300]}")
    return {
        "processes that exited": sum(not up for up in alive.values()),
        "health probes failing at the end": sum(not ok for ok in healthy.values()),
        "error or traceback lines in the services' logs": len(bad),
    }


def run(
    args: argparse.Namespace, sizes: Sizes, run_dir: Path, say: Callable[[str], None]
) -> list[StepResult]:
    results: list[StepResult] = []
    if "http" in args.skip and "ws" in args.skip:
        stack_parts: list[str] = []
    else:
        stack_parts = [p for p in ("http", "ws") if p not in args.skip]
    if stack_parts:
        with FuzzStack(run_dir / "stack") as stack:
            say(f"stack: {stack.describe()}")
            arcade = Arcade(
                stack.config.page_url, stack.config.matchmaker_url, stack.config.stats_url
            )
            if "http" in stack_parts:
                for api in http_apis(stack, arcade):
                    say(f"http: schemathesis on {api.name} ({api.document_url})")
                    report = fuzz_api(
                        api,
                        examples=sizes.examples,
                        stateful_examples=sizes.stateful_examples,
                        stateful_steps=sizes.stateful_steps,
                        run_seed=args.seed,
                        say=lambda text: None,
                    )
                    say(f"http: {report.describe()}")
                    results.append(api_result(report))
            checks = stack_checks(stack) if "ws" not in stack_parts else {}
            if "ws" in stack_parts:
                say("ws: fuzzing the WebSocket")
                fuzz = WsFuzz(
                    arcade,
                    stack.control_url,
                    stack.ws_url,
                    stack.service_token,
                    args.seed,
                    games=sizes.ws_games,
                    batches=sizes.ws_batches,
                    batch_frames=sizes.ws_batch_frames,
                    quiet_games=sizes.quiet_games,
                    flooders=sizes.flooders,
                    probes=sizes.probes,
                    say=say,
                )
                ws_report = asyncio.run(fuzz.run())
                if ws_report.round_trip_median_ms is not None:
                    say(f"ws: {ws_report.flood_summary}")
                results.append(
                    ws_result(
                        ws_report,
                        stack_checks(stack),
                        flooders=sizes.flooders,
                        check_round_trip=sizes.check_round_trip,
                    )
                )
            elif checks:
                result = StepResult("stack", "the services after the fuzzing")
                for label, value in checks.items():
                    result.add(must_be(label, value))
                results.append(result)
            arcade.http.close()
    if "poison" not in args.skip and sizes.poison:
        say("poison: the stream poison step of make chaos (its own private stack)")
        from tools.chaos import step_poison

        ctx = ChaosRun(Options(seed=args.seed), run_dir / "chaos")
        results.append(guarded("6-poison", step_poison.TITLE, lambda: step_poison.run(ctx)))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = SIZES[args.size]
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="varcade-fuzz-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {text}", flush=True)

    interrupt_on_sigterm()
    print(f"fuzz: run directory {run_dir}; size {args.size} ({sizes}); seed {args.seed}")
    try:
        results = run(args, sizes, run_dir, say)
    except KeyboardInterrupt:
        print("fuzz: interrupted", file=sys.stderr)
        return 130
    return print_summary("fuzz", results, started, run_dir)


if __name__ == "__main__":
    sys.exit(main())
