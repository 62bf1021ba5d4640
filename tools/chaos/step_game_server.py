"""Step 4, game server: SIGSTOP it, then SIGKILL it during live games, and watch the lobby.

With the whole arcade running (short TICK_SECONDS, scripted players):
1. SIGSTOP the game server for longer than the matchmaker's game-server timeout: `create_game`
   must answer a 4xx within that timeout (plus 1 s); after SIGCONT a whole game must work.
2. Live games (both players playing) and lobby games (created but never connected; the host
   connected and waiting) on the server, then SIGKILL it: the events its players saw but the
   stream never got were lost with the in-memory buffer (shown). Restarted at once, a whole game
   must work again.
3. The dead server's games stay in the matchmaker until curation finds them expired: the lobby
   games (60 s) are waited for and must be cleared; the live ones (in_progress, 1200 s) are listed
   with the time they would take.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import time
from collections import Counter

import aiohttp
from matchmaker.config import Config as MatchmakerConfig
from matchmaker.games import EXPIRY_SECONDS
from matchmaker.repository import GameRepository

from tools.chaos.context import ALL_PROCESSES, GAME_SERVER, Arcade, ChaosRun
from tools.chaos.live_games import (
    LiveMatch,
    gone_from,
    lost_events,
    never_picks,
    numbered_players,
    observed_events,
    play_checked_match,
    start_match,
    stream_kinds,
    wait_started,
)
from tools.chaos.report import StepResult, must, shown
from tools.run.arcade_api import Arcade as ArcadeApi
from tools.run.arcade_api import ArcadeError, Player
from tools.run.scripted import poll, seat

STEP = "4-game-server"
TITLE = "game server SIGKILL / SIGSTOP"
LIVE_GAMES = 3
LOBBY_GAMES = 3  # of each kind: created only, host waiting
#: Games of the dead server expiring within this many seconds of the kill are waited for.
CURATION_BUDGET = 75.0


def create_status(api: ArcadeApi, host: Player) -> tuple[int, str]:
    try:
        api.create_game(host)
    except ArcadeError as exc:
        return exc.status, exc.message
    except OSError as exc:
        return 0, f"no answer: {exc}"
    return 200, ""


async def scenario(ctx: ChaosRun, arcade: Arcade, result: StepResult) -> None:
    say = ctx.sayer(STEP)

    config, fleet = arcade.config, arcade.fleet
    secret = config.extra_env["JWT_SECRET"]
    api = ArcadeApi(config.page_url, config.matchmaker_url, config.stats_url, timeout=30)
    repository = GameRepository(arcade.matchmaker_data)
    stream = arcade.stream
    timeout = MatchmakerConfig().game_server_timeout
    someone = numbered_players(secret)
    gone = gone_from(repository)

    async with aiohttp.ClientSession() as session:
        # 1. SIGSTOP: the matchmaker must give up on the server within its timeout.
        hold = timeout + 2.0
        fleet.send(GAME_SERVER, signal.SIGSTOP)
        stopped = time.monotonic()
        say(f"SIGSTOP game server for {hold:.1f}s (matchmaker game-server timeout {timeout:.1f}s)")
        status, message = await asyncio.to_thread(create_status, api, someone())
        elapsed = time.monotonic() - stopped
        await asyncio.sleep(max(0.0, stopped + hold - time.monotonic()))
        fleet.send(GAME_SERVER, signal.SIGCONT)
        say(f"create_game while stopped: {status} after {elapsed:.1f}s ({message}); SIGCONT")
        result.add(
            must(
                "create_game while SIGSTOPped",
                f"{status} in {elapsed:.1f}s",
                400 <= status < 500 and elapsed <= timeout + 1.0,
                f"4xx in <={timeout + 1.0:.1f}s",
            )
        )
        problem = await play_checked_match(api, session, someone(), someone(), gone, 1)
        say(f"a whole game after SIGCONT: {problem or 'ok'}")
        result.add(must("lobby works after SIGCONT", problem or "yes", not problem, "yes"))

        # 2. Live and lobby games, then SIGKILL.
        lives: list[LiveMatch] = []
        for n in range(LIVE_GAMES):
            lives.append(await start_match(api, session, someone(), someone(), 10 + n))
        await asyncio.gather(*(wait_started(live.match.host) for live in lives))
        created = [
            (await asyncio.to_thread(api.create_game, someone()))["game_id"]
            for _ in range(LOBBY_GAMES)
        ]
        waiting = []
        for _ in range(LOBBY_GAMES):
            host = someone()
            game = await asyncio.to_thread(api.create_game, host)
            await seat(game, host, session, fighter="aru", strategy=never_picks)
            game_id = str(game["game_id"])
            await poll(functools.partial(api.listed, game_id), "the game listed")
            waiting.append(game["game_id"])
        await asyncio.sleep(1.0)
        in_play = sum(1 for live in lives if not all(p.done() for p in live.plays))
        pid = fleet.kill(GAME_SERVER)
        killed = time.monotonic()
        await asyncio.wait_for(
            asyncio.gather(*(p for live in lives for p in live.plays), return_exceptions=True), 20
        )
        observed: Counter[str] = Counter()
        lost = 0
        for live in lives:
            seen = observed_events(live.players())
            observed.update(seen)
            lost += lost_events(seen, stream_kinds(stream, live.game_id))
        total = sum(observed.values())
        say(
            f"SIGKILL game server pid {pid} with {in_play} of {LIVE_GAMES} games in play and "
            f"{2 * LOBBY_GAMES} lobby games: {lost} of {total} events its players saw never "
            "reached the stream"
        )
        result.add(
            shown("events lost at SIGKILL (in-memory buffer)", f"{lost} of {total} seen by players")
        )
        new_pid = fleet.restart(GAME_SERVER)
        back = await asyncio.to_thread(fleet.wait_healthy, [GAME_SERVER], 60)
        say(f"restarted as pid {new_pid}, healthy after {back:.1f}s")
        problem = await play_checked_match(api, session, someone(), someone(), gone, 2)
        say(f"a whole game after the restart: {problem or 'ok'}")
        result.add(must("lobby works after restart", problem or "yes", not problem, "yes"))

        # 3. Curation of the dead server's games.
        dead = [live.game_id for live in lives] + created + waiting
        games = {gid: repository.get("exrps", gid) for gid in dead}
        now = time.time()
        states = Counter(g.state if g else "(gone)" for g in games.values())
        say(
            "dead server's games in the matchmaker: "
            + ", ".join(f"{n} {s}" for s, n in states.items())
        )
        due = {gid: g.expires_at for gid, g in games.items() if g is not None}
        wait_for = {gid: at for gid, at in due.items() if at - now <= CURATION_BUDGET}
        later = {gid: at for gid, at in due.items() if gid not in wait_for}
        cleared: dict[str, float] = {}
        interval = MatchmakerConfig().curation_interval
        deadline = time.monotonic() + max([0.0, *(at - now for at in wait_for.values())])
        deadline += interval + 10.0
        say(
            f"waiting for curation to clear {len(wait_for)} of them (expiry "
            f"{EXPIRY_SECONDS['created']:.0f}s/{EXPIRY_SECONDS['creator_joined']:.0f}s "
            f"+ curation every {interval:.0f}s)"
        )
        while len(cleared) < len(wait_for) and time.monotonic() < deadline:
            for gid in wait_for:
                if gid not in cleared and gone(gid):
                    cleared[gid] = time.monotonic() - killed
            await asyncio.sleep(0.5)
        slowest = max(cleared.values(), default=0.0)
        say(f"curation cleared {len(cleared)}/{len(wait_for)}, the last {slowest:.0f}s after kill")
        result.add(
            must(
                "dead server's lobby games cleared by curation",
                f"{len(cleared)}/{len(wait_for)} (last {slowest:.0f}s after the kill)",
                len(cleared) == len(wait_for),
                f"{len(wait_for)}/{len(wait_for)}",
            )
        )
        if later:
            longest = max(later.values()) - now
            kinds = Counter(g.state for gid in later if (g := games[gid]) is not None)
            text = ", ".join(f"{n} {s} ({EXPIRY_SECONDS[s]:.0f}s)" for s, n in kinds.items())
            say(f"left for later (not waited for): {text}; the last expires in {longest:.0f}s")
            result.add(shown("dead server's live games: stay until expiry", f"{text}"))


def run(ctx: ChaosRun) -> StepResult:
    result = StepResult(STEP, TITLE)
    with ctx.arcade(STEP, ALL_PROCESSES) as arcade:
        asyncio.run(scenario(ctx, arcade, result))
    return result
