"""Step 5, Redis restart: SIGKILL Redis under the running arcade and a live game, start it again.

Redis runs with an append-only file (`appendfsync always` unless `--fsync everysec`), so a crash
keeps every acknowledged write. Before the crash: finished games (leaderboard, stats), lobby games,
two games being played. Figures: the recovery time (from Redis answering again until every
`/healthz` is 200 and a new game can be created; also from the crash), and the losses: events the
players saw that the stream never got, data written before the crash that is gone after it, and
`game_over` events the stats do not count once the workers have consumed the stream.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from matchmaker.events_worker import GROUP as MATCHMAKER_GROUP
from matchmaker.repository import GameRepository
from stats_tracker.events_worker import GROUP as STATS_GROUP

from tools.chaos import stats_model
from tools.chaos.context import ALL_PROCESSES, ELO_PRODUCT, STATS_PRODUCTS, Arcade, ChaosRun
from tools.chaos.groups import wait_consumed
from tools.chaos.live_games import (
    finish,
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
from tools.chaos.report import StepResult, must, must_be, shown
from tools.chaos.stream_io import parse_stream
from tools.run.arcade_api import Arcade as ArcadeApi
from tools.run.arcade_api import ArcadeError, Player
from tools.run.scripted import poll, seat
from tools.run.supervisor import http_ok

STEP = "5-redis-restart"
TITLE = "Redis restart under running services"
FINISHED_GAMES = 1
LIVE_GAMES = 2
RECOVERY_TIMEOUT = 60.0
STREAM = "game_event_stream"


@dataclass
class Snapshot:
    """What must survive a crash of Redis: facts written before it that nothing undoes."""

    stream_length: int
    groups: dict[str, str]  # group -> last delivered id
    lobby_games: list[str]  # games waiting for an opponent (no event changes them here)
    counters: dict[str, dict[str, str]]  # player_stats key -> counters
    leaderboards: dict[str, set[str]]  # leaderboard key -> members


def take_snapshot(arcade: Arcade, lobby_games: list[str]) -> Snapshot:
    stream, stats = arcade.stream, arcade.stats_data
    counters: dict[str, dict[str, str]] = {}
    for key in stats.scan_iter("player_stats:*"):
        values: Any = stats.hgetall(key)
        counters[str(key)] = {str(k): str(v) for k, v in values.items()}
    boards: dict[str, set[str]] = {
        str(key): {str(m) for m in stats.zrange(key, 0, -1)}  # type: ignore[union-attr]
        for key in stats.scan_iter("leaderboard:*")
    }
    return Snapshot(
        stream_length=int(stream.xlen(STREAM)),
        groups={str(g["name"]): str(g["last-delivered-id"]) for g in stream.xinfo_groups(STREAM)},
        lobby_games=list(lobby_games),
        counters=counters,
        leaderboards=boards,
    )


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def losses(before: Snapshot, after: Snapshot, present: Callable[[str], bool]) -> list[str]:
    """What `before` holds that `after` lacks (streams, groups, counters and boards only grow)."""
    lost: list[str] = []
    if after.stream_length < before.stream_length:
        lost.append(f"stream {before.stream_length} -> {after.stream_length} entries")
    for group, last in before.groups.items():
        now = after.groups.get(group)
        if now is None or _id(now) < _id(last):
            lost.append(f"group {group}: last delivered {last} -> {now}")
    lost.extend(f"lobby game {g} gone" for g in before.lobby_games if not present(g))
    for key, counters in before.counters.items():
        now_counters = after.counters.get(key, {})
        for name, value in counters.items():
            if int(now_counters.get(name, 0)) < int(value):
                lost.append(f"{key} {name} {value} -> {now_counters.get(name, 0)}")
    for key, members in before.leaderboards.items():
        missing = members - after.leaderboards.get(key, set())
        if missing:
            lost.append(f"{key}: {len(missing)} players gone")
    return lost


def creatable(api: ArcadeApi, host: Player) -> bool:
    try:
        api.create_game(host)
    except (ArcadeError, OSError):
        return False
    return True


async def scenario(ctx: ChaosRun, arcade: Arcade, result: StepResult) -> None:
    say = ctx.sayer(STEP)

    config, fleet, node = arcade.config, arcade.fleet, arcade.node
    secret = config.extra_env["JWT_SECRET"]
    api = ArcadeApi(config.page_url, config.matchmaker_url, config.stats_url, timeout=10)
    repository = GameRepository(arcade.matchmaker_data)
    someone = numbered_players(secret)
    gone = gone_from(repository)

    async with aiohttp.ClientSession() as session:
        for n in range(FINISHED_GAMES):
            problem = await play_checked_match(api, session, someone(), someone(), gone, n)
            if problem:
                raise RuntimeError(f"a game before the restart failed: {problem}")
        lobby: list[str] = []
        for _ in range(2):
            host = someone()
            game = await asyncio.to_thread(api.create_game, host)
            await seat(game, host, session, fighter="mai", strategy=never_picks)
            game_id = str(game["game_id"])
            await poll(functools.partial(api.listed, game_id), "the game listed")
            lobby.append(game["game_id"])
        stream = arcade.stream
        await asyncio.to_thread(wait_consumed, stream, [MATCHMAKER_GROUP, STATS_GROUP], timeout=30)
        lives = [
            await start_match(api, session, someone(), someone(), 20 + n) for n in range(LIVE_GAMES)
        ]
        await asyncio.gather(*(wait_started(live.match.host) for live in lives))
        await asyncio.sleep(1.0)
        before = await asyncio.to_thread(take_snapshot, arcade, lobby)
        say(
            f"{FINISHED_GAMES} game(s) finished, {len(lobby)} hosts waiting in the lobby, "
            f"{LIVE_GAMES} games in play, stream of {before.stream_length} entries; "
            f"SIGKILL Redis (appendfsync {node.fsync})"
        )

        node.kill()
        crashed = time.monotonic()
        await asyncio.sleep(0.5)  # the services notice
        load = node.start()
        up = time.monotonic()
        after = await asyncio.to_thread(take_snapshot, arcade, lobby)
        missing = losses(before, after, lambda g: not gone(g))
        say(f"Redis started again on the same port, answering after {load:.2f}s")
        urls = [url for name in fleet.names for url in fleet.spec(name).health_urls]
        probe = someone()
        recovered = None
        while time.monotonic() - up < RECOVERY_TIMEOUT:
            healthy = all(await asyncio.gather(*(asyncio.to_thread(http_ok, u) for u in urls)))
            if healthy and await asyncio.to_thread(creatable, api, probe):
                recovered = time.monotonic()
                break
            await asyncio.sleep(0.1)
        fleet.check_running()
        if recovered is None:
            say(f"not recovered after {RECOVERY_TIMEOUT:.0f}s")
            result.add(must("recovery time", "never", False, f"<={RECOVERY_TIMEOUT:.0f}s"))
        else:
            say(
                f"recovered (every /healthz 200, a game created) {recovered - up:.2f}s after "
                f"Redis answered, {recovered - crashed:.2f}s after the crash"
            )
            result.add(
                must(
                    "recovery time (from Redis up)",
                    f"{recovered - up:.2f}s",
                    True,
                    f"<={RECOVERY_TIMEOUT:.0f}s",
                )
            )
            result.add(shown("recovery time (from the crash)", f"{recovered - crashed:.2f}s"))

        finished = [await finish(live, timeout=120) for live in lives]
        say(f"the live games after the restart: {sum(finished)}/{LIVE_GAMES} played to the end")
        lost = 0
        seen = 0
        for live in lives:
            observed = observed_events(live.players())
            seen += sum(observed.values())
            lost += lost_events(observed, stream_kinds(stream, live.game_id))
        done, _, states = await asyncio.to_thread(
            wait_consumed, stream, [MATCHMAKER_GROUP, STATS_GROUP], timeout=60
        )
        expected = stats_model.replay(parse_stream(stream), stats_model.products(STATS_PRODUCTS))
        diff = stats_model.compare(arcade.stats_data, expected, ELO_PRODUCT)
        problem = await play_checked_match(api, session, someone(), someone(), gone, 99)
    for line in missing[:5]:
        say(f"lost: {line}")
    say(
        f"events lost {lost} of {seen} seen by players; data lost {len(missing)}; "
        f"game_over not counted {diff.lost}, counted twice {diff.doubled}; "
        f"workers consumed the stream: {done} ({'; '.join(s.describe() for s in states)})"
    )
    result.add(must_be("events lost (players saw, stream lacks)", lost))
    result.add(must_be("data written before the crash, lost", len(missing)))
    result.add(must_be("games counters lost / doubled", diff.lost + diff.doubled))
    result.add(must_be("entries left pending", sum(s.pending for s in states)))
    result.add(must_be("live games not finished", LIVE_GAMES - sum(finished)))
    result.add(must("a whole game after the restart", problem or "yes", not problem, "yes"))
    result.add(shown("appendfsync", node.fsync))


def run(ctx: ChaosRun) -> StepResult:
    result = StepResult(STEP, TITLE)
    with ctx.arcade(STEP, ALL_PROCESSES) as arcade:
        asyncio.run(scenario(ctx, arcade, result))
    return result
