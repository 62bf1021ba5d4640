"""A scripted player for a real game server: tests, end-to-end tests and `make demo` use it.

It speaks the player protocol over a real WebSocket exactly as a browser would, records every
message it receives, and throws a weapon each time the weapon window opens, as its strategy says::

    async with Bot(ws_url, game_token, user_id, seat_token, strategy=always(ROCK)) as bot:
        result = await bot.play()  # select fighter, start_battle, play until the socket closes
    result.winner_id, result.close_code, result.messages

Lower level, for tests that script a situation: ``await bot.connect()``, ``await bot.send({...})``,
``await bot.wait_for(lambda m: ...)``, ``await bot.leave()``, ``await bot.wait_closed()``.
A strategy is a function from the exchange number (0, 1, ...) to a weapon (0 rock, 1 paper,
2 scissors) or None (pick nothing: a botch).

Command line (one player; prints the result as JSON)::

    python -m game_rps.bot ws://127.0.0.1:8085 TOKEN USER_ID SEAT_TOKEN --fighter aru

The seat token is the player's own credential (the control API's ``seatToken``, the matchmaker's
``seat_token``); without the right one the server refuses the socket (1000).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import aiohttp
from varcade_workers.events import PAPER, ROCK, SCISSORS

Strategy = Callable[[int], int | None]
Message = dict[str, Any]


def always(weapon: int | None) -> Strategy:
    """The same weapon every exchange (None: never pick, so every exchange is a botch)."""
    return lambda _exchange: weapon


def random_strategy(seed: int | None = None) -> Strategy:
    """A random weapon each exchange (seeded for reproducible demos)."""
    rng = random.Random(seed)
    return lambda _exchange: rng.randrange(3)


STRATEGIES: dict[str, Callable[[], Strategy]] = {
    "rock": lambda: always(ROCK),
    "paper": lambda: always(PAPER),
    "scissors": lambda: always(SCISSORS),
    "botch": lambda: always(None),
    "random": random_strategy,
}


def is_round_event(message: Message, kind: int) -> bool:
    return message.get("type") == "RPSRoundEvent" and message["eventData"]["type"] == kind


def window_opened(message: Message) -> bool:
    """A round state change into 2 (waiting for weapons)."""
    return is_round_event(message, 2) and message["eventData"]["data"]["newState"] == 2


def is_game_complete(message: Message) -> bool:
    return message.get("type") == "RPSGameEvent" and message["eventData"]["type"] == 1


@dataclass
class BotResult:
    """What one player saw of a game."""

    user_id: str
    messages: list[Message] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""

    @property
    def game_complete(self) -> Message | None:
        """The data of the game-complete event, if the game was played to the end."""
        for m in self.messages:
            if is_game_complete(m):
                data: Message = m["eventData"]["data"]
                return data
        return None

    @property
    def winner_id(self) -> str | None:
        done = self.game_complete
        return done["winnerId"] if done else None

    @property
    def loser_id(self) -> str | None:
        done = self.game_complete
        return done["loserId"] if done else None

    def of_type(self, message_type: str) -> list[Message]:
        return [m for m in self.messages if m.get("type") == message_type]


class Bot:
    """One scripted player on one socket."""

    def __init__(
        self,
        ws_url: str,
        game_token: str | None,
        user_id: str | None,
        seat_token: str | None,
        *,
        fighter: str = "aru",
        strategy: Strategy | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        given = (("game_token", game_token), ("user_id", user_id), ("seat_token", seat_token))
        query = {k: v for k, v in given if v}
        self.url = f"{ws_url.rstrip('/')}/?{urlencode(query)}"
        self.fighter = fighter
        self.strategy = strategy or always(ROCK)
        self.result = BotResult(user_id or "")
        self._session = session
        self._own_session = session is None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self._closed = asyncio.Event()
        self._exchange = itertools.count()

    @property
    def messages(self) -> list[Message]:
        return self.result.messages

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def of_type(self, message_type: str) -> list[Message]:
        return self.result.of_type(message_type)

    async def __aenter__(self) -> Bot:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def connect(self) -> Bot:
        """Open the socket (a refused one is opened, then closed by the server)."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(self.url, autoclose=True, autoping=True)
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return self

    async def send(self, message: Message | str) -> None:
        """Send a message (a str goes as raw text, e.g. to test malformed input)."""
        assert self._ws is not None, "connect() first"
        text = message if isinstance(message, str) else json.dumps(message)
        await self._ws.send_str(text)

    async def select_fighter(self, fighter: str | None = None) -> None:
        await self.send({"type": "select_fighter", "characterId": fighter or self.fighter})

    async def start_battle(self) -> None:
        await self.send({"type": "start_battle"})

    async def play(self, timeout: float = 120.0) -> BotResult:
        """Pick the fighter, start the battle, play until the server closes the socket."""
        await self.select_fighter()
        await self.start_battle()
        return await self.wait_closed(timeout)

    async def wait_for(
        self, predicate: Callable[[Message], bool], timeout: float = 10.0, *, start: int = 0
    ) -> Message:
        """The first message (from index `start`) matching `predicate`, waiting if needed."""

        def found() -> Message | None:
            return next((m for m in self.messages[start:] if predicate(m)), None)

        async def wait() -> Message:
            async with self._changed:
                while (message := found()) is None:
                    if self.closed:
                        raise ConnectionError(
                            f"socket closed ({self.result.close_code}) before the message came"
                        )
                    await self._changed.wait()
                return message

        return await asyncio.wait_for(wait(), timeout)

    async def wait_closed(self, timeout: float = 10.0) -> BotResult:
        await asyncio.wait_for(self._closed.wait(), timeout)
        return self.result

    async def leave(self) -> None:
        """Close the socket from the player's side (the player leaves)."""
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        await self.wait_closed()

    async def aclose(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        self._closed.set()
        if self._own_session and self._session is not None:
            await self._session.close()

    async def _read(self) -> None:
        ws = self._ws
        assert ws is not None
        try:
            while True:
                msg = await ws.receive()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    message = json.loads(msg.data)
                    self.messages.append(message)
                    await self._react(message)
                    async with self._changed:
                        self._changed.notify_all()
                elif msg.type == aiohttp.WSMsgType.CLOSE:
                    self.result.close_code = msg.data
                    self.result.close_reason = msg.extra or ""
                    break
                elif msg.type in (
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.ERROR,
                ):
                    break
        finally:
            if self.result.close_code is None:
                self.result.close_code = ws.close_code
            self._closed.set()
            async with self._changed:
                self._changed.notify_all()

    async def _react(self, message: Message) -> None:
        if window_opened(message):
            weapon = self.strategy(next(self._exchange))
            if weapon is not None:
                await self.send({"type": "select_weapon", "index": weapon})


async def _main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Play one side of a game_rps game.")
    parser.add_argument("ws_url")
    parser.add_argument("game_token")
    parser.add_argument("user_id")
    parser.add_argument("seat_token")
    parser.add_argument("--fighter", default="aru")
    parser.add_argument("--strategy", choices=sorted(STRATEGIES), default="random")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    async with Bot(
        args.ws_url,
        args.game_token,
        args.user_id,
        args.seat_token,
        fighter=args.fighter,
        strategy=STRATEGIES[args.strategy](),
    ) as bot:
        result = await bot.play(args.timeout)
    print(
        json.dumps(
            {
                "user_id": result.user_id,
                "winner_id": result.winner_id,
                "loser_id": result.loser_id,
                "close_code": result.close_code,
                "close_reason": result.close_reason,
                "messages": len(result.messages),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(_main())
