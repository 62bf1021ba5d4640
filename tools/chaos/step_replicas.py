"""Step 3, replicas: steps 1 and 2 at once, with two replicas of each worker in the same groups.

One stream carries the lobby games of step 1 and the finished games of step 2; two matchmaker
workers share the `matchmaker` group and two stats workers the `stats_tracker` group, and a random
one of the four is SIGKILLed and restarted at each kill. Wrong games, lost and double-counted must
be 0; the Elo difference is shown, not checked (two replicas may apply a player's games in either
order unless the service orders them).
"""

from __future__ import annotations

import random
import time

from matchmaker.events_worker import GROUP as MATCHMAKER_GROUP
from stats_tracker.events_worker import GROUP as STATS_GROUP

from tools.chaos import lobby_model, stats_model
from tools.chaos.context import (
    ELO_PRODUCT,
    MATCHMAKER_WORKER,
    STATS_PRODUCTS,
    STATS_WORKER,
    ChaosRun,
)
from tools.chaos.groups import TakeoverWatch, holds_entries
from tools.chaos.killer import Killer, add_takeover_figures, kill_while_writing
from tools.chaos.report import StepResult, must_be, shown
from tools.chaos.step_stats_once import PLAYERS_PER_PRODUCT, stats_figures
from tools.chaos.stream_io import parse_stream
from varcade_workers import events

STEP = "3-replicas"
TITLE = "two replicas of each worker, with kills"
CONSUME_TIMEOUT = 150.0


def merge(
    rng: random.Random, first: list[events.Event], second: list[events.Event]
) -> list[events.Event]:
    """A random interleaving that keeps each list's own order."""
    out: list[events.Event] = []
    i = j = 0
    while i < len(first) or j < len(second):
        left = len(first) - i
        if j >= len(second) or (left and rng.random() < left / (left + len(second) - j)):
            out.append(first[i])
            i += 1
        else:
            out.append(second[j])
            j += 1
    return out


def run(ctx: ChaosRun) -> StepResult:
    result = StepResult(STEP, TITLE)
    rng = ctx.step_rng(STEP)
    options = ctx.options
    say = ctx.sayer(STEP)

    scripts = [lobby_model.game_script(rng) for _ in range(options.games)]
    lobby_events = lobby_model.interleave(rng, scripts)
    stats_events = stats_model.stats_stream(
        rng, options.events, list(STATS_PRODUCTS), PLAYERS_PER_PRODUCT
    )
    stream_events = merge(rng, lobby_events, stats_events)
    duration = max(20.0, options.kills * 1.5)
    say(
        f"{len(scripts)} lobby games and {len(stats_events)} stats events: "
        f"{len(stream_events)} events to write over {duration:.0f}s"
    )
    replicas = {MATCHMAKER_WORKER: 1, STATS_WORKER: 1}
    with ctx.arcade(STEP, [MATCHMAKER_WORKER, STATS_WORKER], replicas=replicas) as arcade:
        fleet = arcade.fleet
        stream = arcade.stream
        repository, initial = arcade.store_lobby_games(scripts, time.time())
        group_of = {
            name: MATCHMAKER_GROUP if name.startswith(MATCHMAKER_WORKER) else STATS_GROUP
            for name in fleet.names
        }
        watches = {
            group: TakeoverWatch(stream, group, sole_consumer=False).start()
            for group in (MATCHMAKER_GROUP, STATS_GROUP)
        }
        killer = Killer(
            fleet,
            fleet.names,
            options.kills,
            rng,
            {name: watches[group] for name, group in group_of.items()},
            say,
            in_hand=lambda name, pid: holds_entries(stream, group_of[name], pid),
        )
        caught_up = kill_while_writing(
            killer,
            stream,
            stream_events,
            duration,
            [MATCHMAKER_GROUP, STATS_GROUP],
            CONSUME_TIMEOUT,
            consumers="both groups",
        )
        done, waited, states = caught_up.done, caught_up.waited, caught_up.states
        say(f"consumed: {done} after {waited:.1f}s ({'; '.join(p.describe() for p in states)})")
        for watch in watches.values():
            watch.stop()
        parsed = parse_stream(stream)
        wrong = lobby_model.compare(repository, initial, parsed, time.time())
        expected = stats_model.replay(parsed, stats_model.products(STATS_PRODUCTS))
        diff = stats_model.compare(arcade.stats_data, expected, ELO_PRODUCT)
    for game in wrong[:5]:
        say(f"wrong game {game.describe()}")
    for example in diff.examples:
        say(f"off: {example}")
    say(
        f"wrong games {len(wrong)}/{len(initial)}; lost {diff.lost}, double-counted "
        f"{diff.doubled}, largest Elo difference {diff.elo_max_diff:.2f}"
    )
    result.add(must_be("wrong games", len(wrong)))
    stats_figures(result, diff, elo_checked=False)
    result.add(must_be("entries left pending", sum(s.pending for s in states)))
    result.add(
        shown(
            "games / events / kills",
            f"{len(initial)} / {len(stream_events)} / {len(killer.kills)}",
        )
    )
    add_takeover_figures(result, killer.kills, waited)
    return result
