"""Shared helpers for the game server tests: a real server in-process on free ports, real Redis
(database 9 of the test Redis), real WebSockets through the scripted bot."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
import redis
from game_rps.bot import Bot, Strategy
from game_rps.config import Config
from game_rps.engine import Game
from game_rps.server import GameServer
from varcade_workers.testing import redis_base_url, redis_db_fixture

from varcade_workers import events

TICK = 0.03  # short enough for a fast suite, long enough for a bot to answer within a window
SEATED = object()  # Harness.bot's default seat token: the one the control API gave that player
STREAM_DB = 9
SERVICE_TOKEN = "test-service-token"
T = TypeVar("T")
GAME_RPS_DIR = Path(__file__).resolve().parent.parent


def run(coro: Awaitable[T], timeout: float = 60.0) -> T:
    """Run one async test body (no pytest-asyncio here: a plain event loop per test)."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


@pytest.fixture
def stream_url() -> str:
    return f"{redis_base_url()}/{STREAM_DB}"


stream = redis_db_fixture(STREAM_DB)


@contextlib.contextmanager
def server_process(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """`python -m game_rps.server` with exactly `env`, its stderr readable as text; killed at exit
    if still running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "game_rps.server"],
        cwd=GAME_RPS_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def listening_ports(proc: subprocess.Popen[str], lines: list[str]) -> dict[str, str]:
    """Read the server's stderr into `lines` up to its "game server listening" line; the
    control_port, ws_port and client_port it names (all three, or AssertionError)."""
    assert proc.stderr is not None
    for line in proc.stderr:
        lines.append(line)
        if "game server listening" in line:
            break
    ports = dict(re.findall(r"(control_port|ws_port|client_port)=(\d+)", lines[-1]))
    assert len(ports) == 3, lines
    return ports


def raw_entries(client: redis.Redis, game_id: str) -> list[dict[str, str]]:
    """The stream entries of one game, in stream order, as written (`seq` included)."""
    return [f for _, f in client.xrange(events.STREAM) if f.get("game_id") == game_id]


def entries(client: redis.Redis, game_id: str) -> list[dict[str, str]]:
    """The stream entries of one game, in stream order, without their `seq` (checked on its own,
    with `seqs`), so that expected entries read as the spec's tables."""
    return [
        {k: v for k, v in fields.items() if k != events.SEQ}
        for fields in raw_entries(client, game_id)
    ]


def seqs(client: redis.Redis, game_id: str) -> list[int]:
    """The `seq` of each entry of one game, in stream order."""
    return [int(fields[events.SEQ]) for fields in raw_entries(client, game_id)]


class Harness:
    """A running server plus an HTTP session to drive it. It remembers the seat token each
    create_game / join_game answer gave, so that ``bot(token, user)`` connects as that player."""

    _ids = itertools.count()

    def __init__(self, server: GameServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        #: (game token, user id) -> the seat token of that player's latest create or join.
        self.seats: dict[tuple[str, str], str] = {}
        self.control_url = f"http://127.0.0.1:{server.control_port}"
        self.ws_url = f"ws://127.0.0.1:{server.ws_port}"

    async def post(
        self,
        path: str,
        body: Any = None,
        *,
        token: str | None = SERVICE_TOKEN,
        data: bytes | None = None,
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        kwargs: dict[str, Any] = {"data": data} if data is not None else {"json": body}
        async with self.session.post(self.control_url + path, headers=headers, **kwargs) as r:
            reply = await r.json()
        if path in ("/create_game", "/join_game") and r.status == 200:
            self.seats[(reply["gameToken"], body["userId"])] = reply["seatToken"]
        return r.status, reply

    def seat(self, token: str, user_id: str) -> str:
        """The seat token the control API gave `user_id` in the game of `token`."""
        return self.seats[(token, user_id)]

    async def get(self, path: str) -> tuple[int, str]:
        async with self.session.get(self.control_url + path) as r:
            return r.status, await r.text()

    async def new_game(
        self, host: str = "host", guest: str | None = "guest", game_id: str | None = None
    ) -> tuple[str, str]:
        """Create (and join) a game through the control API; returns (game_id, token)."""
        game_id = game_id or f"game-{uuid.uuid4().hex[:8]}"
        status, body = await self.post(
            "/create_game", {"gameId": game_id, "userId": host, "username": host.upper()}
        )
        assert status == 200, body
        assert set(body) == {"gameToken", "seatToken"}, body
        if guest is not None:
            status, joined = await self.post(
                "/join_game", {"gameId": game_id, "userId": guest, "username": guest.upper()}
            )
            assert status == 200 and joined["gameToken"] == body["gameToken"], joined
            assert joined["seatToken"] != body["seatToken"]  # each player has their own
        return game_id, body["gameToken"]

    def bot(
        self,
        token: str | None,
        user_id: str | None,
        fighter: str = "aru",
        strategy: Strategy | None = None,
        *,
        seat_token: Any = SEATED,
    ) -> Bot:
        """A bot for `user_id` in the game of `token`, with the seat token the control API gave
        that player (or `seat_token`: None for none, or any text)."""
        if seat_token is SEATED:
            seat_token = self.seats.get((token or "", user_id or ""))
        return Bot(
            self.ws_url,
            token,
            user_id,
            seat_token,
            fighter=fighter,
            strategy=strategy,
            session=self.session,
        )

    async def flush(self) -> None:
        assert await self.server.event_log.flush(10)


async def wait_for_picks(game: Game, limit: float = 1.0) -> None:
    """A tick gate: hold the tick that closes a weapon window until both players have picked
    (at most `limit` seconds, so a bot that botches on purpose only slows the test), so that the
    exact event sequences checked here do not depend on the machine's load."""
    battle = game.battle
    if battle is None or not battle.window_open or battle.count > 0:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    players = [p for p in (game.host, game.guest) if p is not None]
    while any(p.pick is None for p in players) and loop.time() < deadline:
        if game.battle is not battle or not battle.window_open:
            return
        await asyncio.sleep(0.002)


@contextlib.asynccontextmanager
async def running_server(
    stream_url: str, *, patient: bool = True, **overrides: Any
) -> AsyncIterator[Harness]:
    config = Config(
        event_stream_url=stream_url,
        game_server_token=SERVICE_TOKEN,
        host="127.0.0.1",
        control_port=0,
        ws_port=0,
        client_port=0,
        tick_seconds=TICK,
        serve_page=False,
        **overrides,
    )
    server = GameServer(config, tick_gate=wait_for_picks if patient else None)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield Harness(server, session)
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def connected(host: Bot, guest: Bot) -> AsyncIterator[tuple[Bot, Bot]]:
    """Connect the host, then (once the host is in) the second player; close both after."""
    try:
        await host.connect()
        await host.wait_for(lambda m: m["type"] == "player_joined")
        await guest.connect()
        await guest.wait_for(lambda m: m["type"] == "player_joined")
        yield host, guest
    finally:
        await guest.aclose()
        await host.aclose()


async def barrier(bot: Bot) -> None:
    """Wait until the server has handled everything `bot` sent (a socket is handled in order):
    an empty object always gets an error back."""
    start = len(bot.messages)
    await bot.send({})
    await bot.wait_for(lambda m: m.get("type") == "error" and m.get("code") == 4400, start=start)


async def ready(bot: Bot) -> None:
    """Pick the bot's fighter and get ready, then wait until the server has handled both."""
    await bot.select_fighter()
    await bot.start_battle()
    await barrier(bot)


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll a condition that another process (Redis, the server) makes true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


# -- expected stream entries ---------------------------------------------------------------------

HEAD = {"product_id": "exrps"}


def state(game_id: str, new_state: str) -> dict[str, str]:
    return {**HEAD, "game_id": game_id, "type": "state_change", "new_state": new_state}


def gameplay(game_id: str, name: str, data: str, user: str) -> dict[str, str]:
    return {
        **HEAD,
        "game_id": game_id,
        "type": "gameplay",
        "event_name": name,
        "event_data": data,
        "user_id": user,
    }


def progression(game_id: str, which: str, p1: str, p2: str, **more: str) -> dict[str, str]:
    return {
        **HEAD,
        "game_id": game_id,
        "type": "gameplay",
        "event_name": "progression",
        "progress_event": which,
        "p1_id": p1,
        "p2_id": p2,
        **more,
    }


def battle_entries(
    game_id: str, p1: str, p2: str, w1: str, w2: str, per_round: int, winner: str, loser: str
) -> list[dict[str, str]]:
    """Two rounds won by `winner`, `per_round` exchanges each, then the end of the game."""
    out = []
    for _ in range(2):
        out.append(progression(game_id, "round_started", p1, p2))
        for _ in range(per_round):
            out.append(gameplay(game_id, "select_weapon", w1, p1))
            out.append(gameplay(game_id, "select_weapon", w2, p2))
        out.append(
            progression(
                game_id, "round_finished", p1, p2, round_winner_id=winner, round_loser_id=loser
            )
        )
    out.append({**HEAD, "game_id": game_id, "type": "game_over", "winner_id": winner,
                "loser_id": loser})  # fmt: skip
    out.append(state(game_id, "ended"))
    out.append({**HEAD, "game_id": game_id, "type": "game_removed"})
    return out


def rock_beats_scissors(game_id: str) -> list[dict[str, str]]:
    """The stream of the suite's standard game: alice (aru, always rock) hosts, bob (man, always
    scissors) joins, each readies in turn, alice wins two rounds of four exchanges."""
    return [
        state(game_id, "creator_joined"),
        state(game_id, "all_players_joined"),
        gameplay(game_id, "select_fighter", "aru", "alice"),
        gameplay(game_id, "set_ready", "", "alice"),
        gameplay(game_id, "select_fighter", "man", "bob"),
        gameplay(game_id, "set_ready", "", "bob"),
        state(game_id, "in_progress"),
        *battle_entries(game_id, "alice", "bob", "0", "2", 4, "alice", "bob"),
    ]
