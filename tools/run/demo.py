"""`make demo`: two scripted players play one game against a running arcade, then the scores.

They sign in (the page's /dev/token), the host creates a game through the matchmaker, the guest
joins it from the lobby, both play it over the WebSocket (game_rps.bot; each connects with the game
token and the seat token of its own matchmaker answer), and the demo prints the leaderboard and
both players' stats. Addresses: DEMO_PAGE_URL, MATCHMAKER_URL, STATS_TRACKER_URL
(default: the development ports of `make run`), or the command-line options.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import aiohttp

from tools.run.arcade_api import Arcade, ArcadeError, Player
from tools.run.scripted import Bot, BotResult, open_match, poll, random_strategy
from tools.run.supervisor import http_ok

PLAY_TIMEOUT = 900.0  # seconds: a long game at a slow tick still ends well before


def say(message: str) -> None:
    print(f"demo: {message}", flush=True)


def describe(message: dict[str, Any], host_id: str) -> str | None:
    """A line for the messages worth narrating (seen by the host), else None."""
    kind, event = message.get("type"), message.get("eventData", {})
    if kind == "RPSGameEvent" and event.get("type") == 0:
        return "  battle started"
    if kind != "RPSRoundEvent":
        return None
    if event.get("type") == 5:
        return "  round started"
    if event.get("type") == 3:
        summary = event["data"]["attackSummary"]
        p1, p2 = summary["p1Selection"], summary["p2Selection"]
        return (
            f"    host {p1['weaponId']:<8} vs guest {p2['weaponId']:<8}"
            f" damage dealt {p1['damageDealt']} / {p2['damageDealt']}"
        )
    if event.get("type") == 4:
        winner = event["data"]["roundWinnerId"]
        return f"  round won by the {'host' if winner == host_id else 'guest'}"
    return None


async def narrate(bot: Bot, host_id: str) -> None:
    """Print the game as it goes (a game at the default 1 s tick lasts a minute or two)."""
    seen = 0
    while True:
        for message in bot.messages[seen:]:
            line = describe(message, host_id)
            if line:
                print(line, flush=True)
        seen = len(bot.messages)
        if bot.closed:
            return
        await asyncio.sleep(0.2)


async def play(arcade: Arcade, host: Player, guest: Player, seed: int) -> tuple[BotResult, str]:
    async with aiohttp.ClientSession() as session:
        match = await open_match(
            arcade, session, host, guest,
            strategies=(random_strategy(seed), random_strategy(seed + 1)), say=say,
        )  # fmt: skip
        say("both connected: aru (host) against mai (guest), random weapons; playing...")
        host_result, _, _ = await asyncio.gather(
            match.host.play(PLAY_TIMEOUT),
            match.guest.play(PLAY_TIMEOUT),
            narrate(match.host, host.user_id),
        )
    if host_result.winner_id is None:
        raise RuntimeError(f"the game did not finish (socket closed {host_result.close_code})")
    return host_result, match.game_id


def print_scores(arcade: Arcade, players: Sequence[Player]) -> None:
    names = {p.user_id: p.username for p in players}
    print("\nLeaderboard (top ten):")
    for rank, entry in enumerate(arcade.top_ten(), start=1):
        name = names.get(entry["user_id"], entry["user_id"])
        print(f"  {rank:>2}. {name:<36} {entry['score']}")
    for player in players:
        stats: dict[str, Any] = arcade.stats(player.user_id)
        print(f"\nStats of {player.username} ({player.user_id}):")
        for key, value in stats.items():
            print(f"  {key:<26} {value}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    env = os.environ.get
    parser.add_argument("--page", default=env("DEMO_PAGE_URL", "http://127.0.0.1:8090"))
    parser.add_argument("--matchmaker", default=env("MATCHMAKER_URL", "http://127.0.0.1:5050"))
    parser.add_argument("--stats", default=env("STATS_TRACKER_URL", "http://127.0.0.1:5000"))
    parser.add_argument("--host-name", default="demo-ann")
    parser.add_argument("--guest-name", default="demo-bob")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args(argv)

    for name, url in (("page", args.page), ("matchmaker", args.matchmaker), ("stats", args.stats)):
        if not http_ok(f"{url.rstrip('/')}/healthz", timeout=3):
            say(f"the {name} does not answer at {url}: start the arcade with `make run` first")
            return 1
    arcade = Arcade(args.page, args.matchmaker, args.stats)
    try:
        host, guest = arcade.sign_in(args.host_name), arcade.sign_in(args.guest_name)
        say(f"signed in {host.username} ({host.user_id}) and {guest.username} ({guest.user_id})")
        before = {p.user_id: int(arcade.stats(p.user_id)["games"]) for p in (host, guest)}
        result, game_id = asyncio.run(play(arcade, host, guest, args.seed))
        winner = host if result.winner_id == host.user_id else guest
        say(f"game {game_id} over: {winner.username} won")
        # The stats tracker learns of the game through the stream: wait until it counted it.
        asyncio.run(
            poll(
                lambda: all(
                    int(arcade.stats(p.user_id)["games"]) > before[p.user_id] for p in (host, guest)
                ),
                "the stats tracker to count the game",
            )
        )
        print_scores(arcade, (host, guest))
    except (ArcadeError, TimeoutError, RuntimeError) as exc:
        say(f"failed: {exc or type(exc).__name__}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
