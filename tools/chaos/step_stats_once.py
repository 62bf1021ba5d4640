"""Step 2, stats exactly-once and order: leaderboards and counters after >= 10,000 events of two
products (one scored by wins, one by Elo), with the stats worker SIGKILLed and restarted.

Lost and double-counted are the players' `games` counters against an in-order replay of the stream
with the stats tracker's own code (stats_model); the Elo figure is the largest difference between
a stored rating and the replay's. All three must be 0.
"""

from __future__ import annotations

from stats_tracker.events_worker import GROUP as STATS_GROUP

from tools.chaos import stats_model
from tools.chaos.context import ELO_PRODUCT, STATS_PRODUCTS, STATS_WORKER, ChaosRun
from tools.chaos.groups import TakeoverWatch, holds_entries, wait_consumed
from tools.chaos.killer import Killer, takeover_figures
from tools.chaos.report import Figure, StepResult, must_be, shown
from tools.chaos.stream_io import parse_stream
from tools.chaos.writer import PacedWriter

STEP = "2-stats-exactly-once"
TITLE = "stats exactly-once and order under SIGKILL"
CONSUME_TIMEOUT = 150.0
PLAYERS_PER_PRODUCT = 40


def elo_figure(label: str, value: float, checked: bool) -> Figure:
    text = f"{value:.2f}"
    if not checked:
        return shown(label, text)
    return Figure(label, text, "0.00", text == "0.00")


def stats_figures(
    result: StepResult, diff: stats_model.StatsDiff, *, elo_checked: bool = True
) -> None:
    result.add(must_be("lost (games counters)", diff.lost))
    result.add(must_be("double-counted (games counters)", diff.doubled))
    result.add(must_be("other counters off (wins, losses, weapons)", diff.other_counters))
    result.add(must_be("wins leaderboard off", diff.board_entries_off))
    result.add(elo_figure("largest Elo difference", diff.elo_max_diff, elo_checked))


def run(ctx: ChaosRun) -> StepResult:
    result = StepResult(STEP, TITLE)
    rng = ctx.step_rng(STEP)
    options = ctx.options

    def say(text: str) -> None:
        ctx.say(STEP, text)

    products = list(STATS_PRODUCTS)
    stream_events = stats_model.stats_stream(rng, options.events, products, PLAYERS_PER_PRODUCT)
    duration = max(15.0, options.kills * 1.2)
    say(
        f"{len(stream_events)} events of finished games ({', '.join(products)}; "
        f"{PLAYERS_PER_PRODUCT} players each) to write over {duration:.0f}s"
    )
    with ctx.arcade(STEP, [STATS_WORKER]) as arcade:
        stream = arcade.stream
        watch = TakeoverWatch(stream, STATS_GROUP).start()
        writer = PacedWriter(stream, stream_events, duration, rng).start()
        killer = Killer(
            arcade.fleet,
            [STATS_WORKER],
            options.kills,
            rng,
            {STATS_WORKER: watch},
            say,
            in_hand=lambda _name, pid: holds_entries(stream, STATS_GROUP, pid),
        )
        killer.run()
        writer.join()
        if writer.error is not None:
            raise writer.error
        say(f"kills done; wrote {writer.written} events; waiting for the group to consume them")
        done, waited, states = wait_consumed(
            stream,
            [STATS_GROUP],
            timeout=CONSUME_TIMEOUT,
            on_wait=lambda s: say("waiting: " + "; ".join(p.describe() for p in s)),
            check=arcade.fleet.check_running,
        )
        say(f"group consumed the stream: {done} after {waited:.1f}s ({states[0].describe()})")
        watch.stop()
        expected = stats_model.replay(parse_stream(stream), stats_model.products(STATS_PRODUCTS))
        diff = stats_model.compare(arcade.stats_data, expected, ELO_PRODUCT)
    for example in diff.examples:
        say(f"off: {example}")
    holding, worst, never = takeover_figures(killer.kills)
    say(
        f"{expected.game_overs} game_over events; lost {diff.lost}, double-counted {diff.doubled}, "
        f"largest Elo difference {diff.elo_max_diff:.2f} ({diff.elo_worst or '-'})"
    )
    stats_figures(result, diff)
    result.add(must_be("entries left pending", states[0].pending))
    result.add(
        shown(
            "events / game_overs / kills",
            f"{len(stream_events)} / {expected.game_overs} / {len(killer.kills)}",
        )
    )
    result.add(shown("kills that left entries pending", str(holding)))
    result.add(shown("worst takeover delay", "-" if worst is None else f"{worst:.1f}s"))
    if never:
        result.add(must_be("killed consumers never taken over", never))
    result.add(shown("time to consume after the kills", f"{waited:.1f}s"))
    return result
