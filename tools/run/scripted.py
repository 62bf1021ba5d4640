"""Scripted players at a game, the way a person plays it: what `make demo` and the e2e tests share.

The host creates a game through the matchmaker and connects to the game server with the address,
the game token and its own seat token (`seat_token`) it answered; the lobby lists the game once the
game server reported that connection; the guest joins it through the matchmaker and connects with
the game token and the seat token of its own join answer. `open_match` is that whole flow; `seat`
and `poll` are its steps, for a caller (a test) that checks something between them.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from tools.run.arcade_api import Arcade, Player, socket_base
from tools.run.stack import ROOT

if str(ROOT / "game_rps") not in sys.path:
    sys.path.insert(0, str(ROOT / "game_rps"))  # game_rps.bot, the scripted player
from game_rps.bot import Bot, BotResult, Strategy, random_strategy

# The scripted player's API comes through here: importing this module puts game_rps on sys.path.
__all__ = [
    "Bot", "BotResult", "Match", "Strategy", "open_match", "poll", "random_strategy", "seat",
]  # fmt: skip
T = TypeVar("T")


async def poll(
    check: Callable[[], T], what: str, *, timeout: float = 30.0, interval: float = 0.1
) -> T:
    """Run the blocking `check` off the event loop (so the bots keep playing) until it is truthy.

    Waiting, not timing: the deadline only bounds a wait that would otherwise never end."""
    deadline = time.monotonic() + timeout
    while True:
        last = await asyncio.to_thread(check)
        if last:
            return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}; last answer: {last!r}")
        await asyncio.sleep(interval)


async def seat(
    game: dict[str, Any],
    player: Player,
    session: aiohttp.ClientSession,
    *,
    fighter: str,
    strategy: Strategy,
) -> Bot:
    """A scripted player connected with the address, game token and seat token of `player`'s own
    create or join answer (the seat token is that player's only: another's is refused)."""
    bot = Bot(
        socket_base(game), game["token"], player.user_id, game["seat_token"],
        fighter=fighter, strategy=strategy, session=session,
    )  # fmt: skip
    await bot.connect()
    return bot


@dataclass
class Match:
    """A game both players are connected to, with the matchmaker's answers."""

    game: dict[str, Any]  # the host's create_game answer
    joined: dict[str, Any]  # the guest's join_game answer
    host: Bot
    guest: Bot

    @property
    def game_id(self) -> str:
        return str(self.game["game_id"])


def _quiet(_: str) -> None:
    return None


async def open_match(
    arcade: Arcade,
    session: aiohttp.ClientSession,
    host: Player,
    guest: Player,
    *,
    strategies: tuple[Strategy, Strategy],
    fighters: tuple[str, str] = ("aru", "mai"),
    say: Callable[[str], None] = _quiet,
) -> Match:
    """Create, seat the host, wait until the lobby lists the game, join, seat the guest."""
    game = await asyncio.to_thread(arcade.create_game, host)
    game_id = game["game_id"]
    say(f"{host.username} created game {game_id} (state {game['state']}, not listed yet)")
    host_bot = await seat(game, host, session, fighter=fighters[0], strategy=strategies[0])
    say(f"{host.username} connected to {socket_base(game)}; waiting for the lobby to list it")
    await poll(lambda: arcade.listed(game_id), "the game listed in the lobby")
    say(f"game listed in the lobby; {guest.username} joins it through the matchmaker")
    joined = await asyncio.to_thread(arcade.join_game, guest, game_id)
    guest_bot = await seat(joined, guest, session, fighter=fighters[1], strategy=strategies[1])
    return Match(game, joined, host_bot, guest_bot)
