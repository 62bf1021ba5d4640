"""Step 1, matchmaker order: the lobby after many games' events, with the worker SIGKILLed.

Games are stored in the matchmaker's repository as after a join (host and guest), their events
are written to the stream over some 20-30 s while the matchmaker worker is SIGKILLed at random
moments and restarted at once. Then, once the group has consumed the stream, every game's lobby
state must equal the in-order application of its events (lobby_model). Also shown: the worst
takeover delay (a kill until the killed consumer's pending entries are delivered again).
"""

from __future__ import annotations

import time
from pathlib import Path

from matchmaker.events_worker import GROUP as MATCHMAKER_GROUP

from tools.chaos import lobby_model
from tools.chaos.context import MATCHMAKER_WORKER, ChaosRun
from tools.chaos.groups import TakeoverWatch, holds_entries
from tools.chaos.killer import Killer, add_takeover_figures, kill_while_writing, takeover_figures
from tools.chaos.report import StepResult, must_be, shown
from tools.chaos.stream_io import parse_stream

STEP = "1-matchmaker-order"
TITLE = "matchmaker order under SIGKILL"
#: Longest wait for the group to consume the stream once writing and kills are over.
CONSUME_TIMEOUT = 150.0


def count_curated(log: Path) -> int:
    """Games curation reset or purged during the step (from the worker's log)."""
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text(errors="replace").splitlines() if "game curated" in line)


def run(ctx: ChaosRun) -> StepResult:
    result = StepResult(STEP, TITLE)
    rng = ctx.step_rng(STEP)
    options = ctx.options
    say = ctx.sayer(STEP)

    scripts = [lobby_model.game_script(rng) for _ in range(options.games)]
    stream_events = lobby_model.interleave(rng, scripts)
    duration = max(15.0, options.kills * 1.2)
    say(f"{len(scripts)} games, {len(stream_events)} events to write over {duration:.0f}s")
    with ctx.arcade(STEP, [MATCHMAKER_WORKER]) as arcade:
        repository, initial = arcade.store_lobby_games(scripts, time.time())
        say(f"stored {len(initial)} games (host and guest, state created)")
        stream = arcade.stream
        watch = TakeoverWatch(stream, MATCHMAKER_GROUP).start()
        killer = Killer(
            arcade.fleet,
            [MATCHMAKER_WORKER],
            options.kills,
            rng,
            {MATCHMAKER_WORKER: watch},
            say,
            in_hand=lambda _name, pid: holds_entries(stream, MATCHMAKER_GROUP, pid),
        )
        caught_up = kill_while_writing(
            killer, stream, stream_events, duration, [MATCHMAKER_GROUP], CONSUME_TIMEOUT
        )
        done, waited, states = caught_up.done, caught_up.waited, caught_up.states
        say(f"group consumed the stream: {done} after {waited:.1f}s ({states[0].describe()})")
        time.sleep(watch.interval * 3)
        watch.stop()
        wrong = lobby_model.compare(repository, initial, parse_stream(stream), time.time())
        curated = count_curated(arcade.fleet.log_path(MATCHMAKER_WORKER))
    for game in wrong[:5]:
        say(f"wrong game {game.describe()}")
    holding, worst, _never = takeover_figures(killer.kills)
    say(
        f"wrong games {len(wrong)}/{len(initial)}; kills leaving entries pending {holding}; "
        f"worst takeover delay {worst if worst is None else round(worst, 1)}s"
    )
    result.add(must_be("wrong games", len(wrong)))
    result.add(must_be("entries left pending", states[0].pending))
    result.add(shown("games / events / kills", f"{len(initial)} / {len(stream_events)} / "
                     f"{len(killer.kills)}"))  # fmt: skip
    add_takeover_figures(result, killer.kills, waited)
    result.add(shown("games curated during the step", str(curated)))
    return result
