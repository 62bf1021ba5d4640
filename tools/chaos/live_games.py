"""Live games with scripted players (game_rps's bot), and what their messages prove was written.

Every message a player receives goes out in the same step as the events the game server buffers
for the stream (the engine's outputs are performed in order), so a message received means its
events were in the server's in-memory buffer. `observed_events` counts those events per kind from
both players' messages; `lost_events` compares them with the game's entries in the stream: what a
player saw but the stream never got was lost with the buffer.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import redis
from game_rps.bot import Bot, random_strategy
from game_rps.page import mint_token
from matchmaker.repository import GameRepository

from tools.run.arcade_api import Arcade, Player
from tools.run.scripted import Match, open_match, poll

Message = dict[str, Any]


def player(username: str, jwt_secret: str) -> Player:
    """A signed-in player, with a token minted as the page's /dev/token does (no server needed)."""
    minted = mint_token(username, jwt_secret)
    return Player(minted["user_id"], minted["username"], minted["token"])


def numbered_players(jwt_secret: str) -> Callable[[], Player]:
    """A new signed-in player at each call: chaos-1, chaos-2, ..."""
    counter = iter(range(1, 1000))

    def someone() -> Player:
        return player(f"chaos-{next(counter)}", jwt_secret)

    return someone


def gone_from(repository: GameRepository, product_id: str = "exrps") -> Callable[[str], bool]:
    """`gone(game_id)`: the game is no longer in the matchmaker's repository."""

    def gone(game_id: str) -> bool:
        return repository.get(product_id, game_id) is None

    return gone


def entry_kind(fields: Mapping[str, str]) -> str:
    """A stream entry's kind: its type, refined by state, gameplay name or progression event."""
    kind = fields.get("type", "")
    if kind == "state_change":
        return f"state_change:{fields.get('new_state', '')}"
    if kind == "gameplay":
        name = fields.get("event_name", "")
        if name == "progression":
            return f"progression:{fields.get('progress_event', '')}"
        return f"gameplay:{name}"
    return kind


def _game_event(message: Message, kind: int) -> bool:
    return message.get("type") == "RPSGameEvent" and message["eventData"]["type"] == kind


def _round_event(message: Message, kind: int) -> bool:
    return message.get("type") == "RPSRoundEvent" and message["eventData"]["type"] == kind


def observed_events(players: Sequence[tuple[str, Sequence[Message]]]) -> Counter[str]:
    """The entries the messages received by the game's players (user id, messages) prove were
    buffered: kind -> how many."""
    seen: Counter[str] = Counter()
    everything = [m for _, messages in players for m in messages]
    joined = [m for m in everything if m.get("type") == "player_joined"]
    if joined:
        seen["state_change:creator_joined"] = 1
    if any(m["gameData"].get("p2Id") for m in joined):
        seen["state_change:all_players_joined"] = 1
    for user_id, messages in players:
        if any(
            m.get("type") == "select_fighter" and m["gameData"].get("playerId") == user_id
            for m in messages
        ):
            seen["gameplay:select_fighter"] += 1
    if any(_game_event(m, 0) for m in everything):
        seen["gameplay:set_ready"] = 2
        seen["state_change:in_progress"] = 1

    def most(kind: int) -> int:
        return max((sum(_round_event(m, kind) for m in ms) for _, ms in players), default=0)

    seen["progression:round_started"] = most(5)
    seen["gameplay:select_weapon"] = 2 * most(3)
    seen["progression:round_finished"] = most(4)
    if any(_game_event(m, 1) for m in everything):
        seen.update({"game_over": 1, "state_change:ended": 1, "game_removed": 1})
    return +seen


def stream_kinds(client: redis.Redis, game_id: str) -> Counter[str]:
    """The kinds of a game's entries in the stream."""
    entries: Any = client.xrange("game_event_stream")
    return Counter(entry_kind(fields) for _, fields in entries if fields.get("game_id") == game_id)


def never_picks(_exchange: int) -> int | None:
    """A strategy that never throws a weapon (a host only waiting in the lobby)."""
    return None


def lost_events(observed: Counter[str], written: Counter[str]) -> int:
    return sum(max(0, n - written.get(kind, 0)) for kind, n in observed.items())


@dataclass
class LiveMatch:
    match: Match
    plays: list[asyncio.Task[Any]]

    @property
    def game_id(self) -> str:
        return self.match.game_id

    def players(self) -> list[tuple[str, Sequence[Message]]]:
        return [(bot.result.user_id, bot.messages) for bot in (self.match.host, self.match.guest)]


async def start_match(
    arcade: Arcade, session: aiohttp.ClientSession, host: Player, guest: Player, seed: int
) -> LiveMatch:
    """Create, join, connect both players and let them play (tasks running)."""
    match = await open_match(
        arcade,
        session,
        host,
        guest,
        strategies=(random_strategy(seed), random_strategy(seed + 1)),
    )
    plays = [asyncio.ensure_future(bot.play(timeout=120)) for bot in (match.host, match.guest)]
    return LiveMatch(match, plays)


async def wait_started(bot: Bot, timeout: float = 20.0) -> None:
    await bot.wait_for(lambda m: _game_event(m, 0), timeout)


async def finish(live: LiveMatch, timeout: float = 60.0) -> bool:
    """Wait for both players' sockets to close; True when the game was played to the end."""
    results = await asyncio.wait_for(asyncio.gather(*live.plays, return_exceptions=True), timeout)
    return all(not isinstance(r, BaseException) and r.game_complete for r in results)


async def play_checked_match(
    arcade: Arcade,
    session: aiohttp.ClientSession,
    host: Player,
    guest: Player,
    gone: Any,
    seed: int,
) -> str:
    """A whole game through the lobby: '' when it worked, else what failed. `gone(game_id)` says
    whether the matchmaker has forgotten the game (its game_removed applied)."""
    try:
        live = await start_match(arcade, session, host, guest, seed)
        if not await finish(live):
            return "the game was not played to the end"
        await poll(lambda: gone(live.game_id), "the matchmaker to forget the game", timeout=20)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""
