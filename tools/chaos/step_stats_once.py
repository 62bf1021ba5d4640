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
from tools.chaos.groups import TakeoverWatch, holds_entries
from tools.chaos.killer import Killer, add_takeover_figures, kill_while_writing
from tools.chaos.report import Figure, StepResult, must_be, shown
from tools.chaos.stream_io import parse_stream

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
    say = ctx.sayer(STEP)

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
        killer = Killer(
            arcade.fleet,
            [STATS_WORKER],
            options.kills,
            rng,
            {STATS_WORKER: watch},
            say,
            in_hand=lambda _name, pid: holds_entries(stream, STATS_GROUP, pid),
        )
        caught_up = kill_while_writing(
            killer, stream, stream_events, duration, [STATS_GROUP], CONSUME_TIMEOUT
        )
        done, waited, states = caught_up.done, caught_up.waited, caught_up.states
        say(f"group consumed the stream: {done} after {waited:.1f}s ({states[0].describe()})")
        watch.stop()
        expected = stats_model.replay(parse_stream(stream), stats_model.products(STATS_PRODUCTS))
        diff = stats_model.compare(arcade.stats_data, expected, ELO_PRODUCT)
    for example in diff.examples:
        say(f"off: {example}")
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
    add_takeover_figures(result, killer.kills, waited)
    return result
