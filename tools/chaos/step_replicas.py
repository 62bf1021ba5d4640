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
from matchmaker.games import Product
from stats_tracker.events_worker import GROUP as STATS_GROUP

from tools.chaos import lobby_model, stats_model
from tools.chaos.context import (
    ELO_PRODUCT,
    MATCHMAKER_WORKER,
    STATS_PRODUCTS,
    STATS_WORKER,
    ChaosRun,
)
from tools.chaos.groups import TakeoverWatch, holds_entries, wait_consumed
from tools.chaos.killer import Killer, takeover_figures
from tools.chaos.report import StepResult, must_be, shown
from tools.chaos.step_stats_once import PLAYERS_PER_PRODUCT, stats_figures
from tools.chaos.stream_io import parse_stream
from tools.chaos.writer import PacedWriter
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

    def say(text: str) -> None:
        ctx.say(STEP, text)

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
        repository = lobby_model.repository_for(arcade.matchmaker_data)
        product = Product(
            lobby_model.PRODUCT_ID,
            arcade.config.game_control_url,
            arcade.config.game_socket_address,
            {"num_players": 2},
        )
        now = time.time()
        initial = {s.game_id: lobby_model.initial_game(s, product, now) for s in scripts}
        lobby_model.store_games(repository, initial.values())
        group_of = {
            name: MATCHMAKER_GROUP if name.startswith(MATCHMAKER_WORKER) else STATS_GROUP
            for name in fleet.names
        }
        watches = {
            group: TakeoverWatch(stream, group, sole_consumer=False).start()
            for group in (MATCHMAKER_GROUP, STATS_GROUP)
        }
        writer = PacedWriter(stream, stream_events, duration, rng).start()
        killer = Killer(
            fleet,
            fleet.names,
            options.kills,
            rng,
            {name: watches[group] for name, group in group_of.items()},
            say,
            in_hand=lambda name, pid: holds_entries(stream, group_of[name], pid),
        )
        killer.run()
        writer.join()
        if writer.error is not None:
            raise writer.error
        say(f"kills done; wrote {writer.written} events; waiting for both groups to consume them")
        done, waited, states = wait_consumed(
            stream,
            [MATCHMAKER_GROUP, STATS_GROUP],
            timeout=CONSUME_TIMEOUT,
            on_wait=lambda s: say("waiting: " + "; ".join(p.describe() for p in s)),
            check=fleet.check_running,
        )
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
    holding, worst, never = takeover_figures(killer.kills)
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
    result.add(shown("kills that left entries pending", str(holding)))
    result.add(shown("worst takeover delay", "-" if worst is None else f"{worst:.1f}s"))
    if never:
        result.add(must_be("killed consumers never taken over", never))
    result.add(shown("time to consume after the kills", f"{waited:.1f}s"))
    return result
