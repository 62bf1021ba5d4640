"""The games this server holds: tokens, seats, players' sockets, one clock per battle.

The registry is the bridge between the engine (rules, no I/O) and the edges (control API, sockets,
event log): it calls the engine and performs what the engine answers, synchronously and in order.
Performing never awaits (sends are queued per socket, events per log), so the outputs of one engine
call cannot interleave with another's and a slow client never holds up a game.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from game_rps import engine
from game_rps.event_log import EventLog
from game_rps.metrics import ServerMetrics

log = logging.getLogger("game_rps.games")


TickGate = Callable[[engine.Game], Awaitable[None]]

_NO_SEAT = "-" * 32  # what a seat token is compared with when the user id holds no seat


class PlayerSocket(Protocol):
    """What the registry needs from a player's socket: both calls queue and return at once."""

    def send(self, message: dict[str, Any]) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


class GameExists(ValueError):
    pass


class UnknownGame(LookupError):
    pass


class HostCannotBeRemoved(ValueError):
    pass


class NotInGame(LookupError):
    pass


@dataclass(frozen=True)
class Seat:
    """What one player gets from the control API: the game's token (shared by both players) and
    the seat token, that player's own credential on the socket (issue 13: seat credential)."""

    game_token: str
    seat_token: str


def new_seat_token() -> str:
    return secrets.token_hex(16)


@dataclass(eq=False)
class ActiveGame:
    game: engine.Game
    token: str
    sockets: dict[str, PlayerSocket] = field(default_factory=dict)
    #: user id -> seat token, for the players seated now (a player who left is forgotten).
    seats: dict[str, str] = field(default_factory=dict)
    clock: asyncio.Task[None] | None = None

    @property
    def game_id(self) -> str:
        return self.game.game_id


class GameRegistry:
    """Every live game on this server, found by game id (control API) or token (sockets)."""

    def __init__(
        self,
        event_log: EventLog,
        *,
        tick_seconds: float = 1.0,
        product_id: str = engine.PRODUCT_ID,
        metrics: ServerMetrics | None = None,
        tick_gate: TickGate | None = None,
    ) -> None:
        self.event_log = event_log
        self.tick_seconds = tick_seconds
        self.product_id = product_id
        self.metrics = metrics or event_log.metrics
        # Tests may hold a tick until a condition holds (e.g. both bots picked): the clock is
        # injectable so that game tests do not depend on the machine's speed.
        self._tick_gate = tick_gate
        self._games: dict[str, ActiveGame] = {}
        self._tokens: dict[str, ActiveGame] = {}

    # -- lookups ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._games)

    def get(self, game_id: str) -> ActiveGame | None:
        return self._games.get(game_id)

    def by_token(self, token: str) -> ActiveGame | None:
        return self._tokens.get(token)

    # -- control API -----------------------------------------------------------------------------

    def create_game(self, game_id: str, user_id: str, username: str) -> Seat:
        """A new game with `user_id` as host; returns its token and the host's seat token (32
        hex digits each)."""
        if game_id in self._games:
            raise GameExists(f"Game {game_id} already exists.")
        token = secrets.token_hex(16)
        seat_token = new_seat_token()
        active = ActiveGame(
            engine.Game(game_id, user_id, username, product_id=self.product_id),
            token,
            seats={user_id: seat_token},
        )
        self._games[game_id] = active
        self._tokens[token] = active
        self.metrics.games_created.inc()
        self.metrics.active_games.set(len(self._games))
        log.info("game created", extra={"game_id": game_id, "product_id": self.product_id})
        return Seat(token, seat_token)

    def join_game(self, game_id: str, user_id: str, username: str) -> Seat:
        """Give `user_id` the second slot; returns the game's token and the player's seat token.
        Raises JoinRefused. The second player asking again while seated gets the same seat token;
        a player who left (or was removed) and joins again gets a new one."""
        active = self._require(game_id)
        guest = active.game.guest
        seated = guest is not None and guest.user_id == user_id
        active.game.join(user_id, username)
        seat_token = active.seats.get(user_id) if seated else None
        if seat_token is None:
            seat_token = active.seats[user_id] = new_seat_token()
        log.info("player joined", extra={"game_id": game_id, "user_id": user_id})
        return Seat(active.token, seat_token)

    def remove_game(self, game_id: str) -> bool:
        """Remove a game (sockets closed, game_removed written); False if there was none."""
        active = self._games.get(game_id)
        if active is None:
            return False
        self.perform(active, active.game.remove())
        log.info("game removed", extra={"game_id": game_id, "product_id": self.product_id})
        return True

    def remove_player(self, game_id: str, user_id: str) -> bool:
        """Remove the second player; returns whether a socket was closed."""
        active = self._require(game_id)
        if user_id == active.game.host.user_id:
            raise HostCannotBeRemoved("The host cannot be removed; remove the game instead.")
        if not active.game.is_member(user_id):
            raise NotInGame(f"Player {user_id} is not in game {game_id}.")
        outputs, closed = active.game.remove_player(user_id)
        self.perform(active, outputs)
        log.info("player removed", extra={"game_id": game_id, "user_id": user_id, "closed": closed})
        return closed

    def _require(self, game_id: str) -> ActiveGame:
        active = self._games.get(game_id)
        if active is None:
            raise UnknownGame(f"Game {game_id} not found.")
        return active

    # -- sockets ---------------------------------------------------------------------------------

    @staticmethod
    def seated(active: ActiveGame, user_id: str, seat_token: str) -> bool:
        """Whether `seat_token` is the seat token of `user_id`, a player of the game now; compared
        in constant time (an unknown user id is compared against a stand-in just the same)."""
        expected = active.seats.get(user_id) if active.game.is_member(user_id) else None
        given = seat_token.encode("utf-8", "replace")
        same = hmac.compare_digest((expected or _NO_SEAT).encode(), given)
        return same and expected is not None

    def attach(
        self, active: ActiveGame, user_id: str, seat_token: str, socket: PlayerSocket
    ) -> tuple[int, str] | None:
        """A socket wants to play as `user_id` with `seat_token`; returns (close code, reason) if
        it may not. A wrong, missing or forgotten seat token is refused exactly like an unknown
        game token (1000, the same reason), so only the holder of the right seat token can learn
        whether the host is there (4000) or the player already connected (4001)."""
        if self._games.get(active.game_id) is not active or not self.seated(
            active, user_id, seat_token
        ):
            return engine.CLOSE_NORMAL, engine.REFUSED_REASON
        refusal = active.game.connect_refusal(user_id)
        if refusal is not None:
            return refusal
        active.sockets[user_id] = socket
        self.metrics.connections.inc()
        log.info("player connected", extra={"game_id": active.game_id, "user_id": user_id})
        self.perform(active, active.game.connect(user_id))
        return None

    def detach(self, active: ActiveGame, user_id: str, socket: PlayerSocket) -> None:
        """The socket closed; if it still belonged to the game, the player left."""
        if active.sockets.get(user_id) is not socket:
            return  # already closed by the server (removed, game over, replaced)
        del active.sockets[user_id]
        self.metrics.connections.dec()
        log.info("player disconnected", extra={"game_id": active.game_id, "user_id": user_id})
        self.perform(active, active.game.disconnect(user_id))

    def handle_message(
        self, active: ActiveGame, user_id: str, socket: PlayerSocket, message: Any
    ) -> None:
        if active.sockets.get(user_id) is not socket:
            return
        self.perform(active, active.game.handle_message(user_id, message))

    # -- performing the engine's outputs ---------------------------------------------------------

    def perform(self, active: ActiveGame, outputs: list[engine.Output]) -> None:
        for output in outputs:
            if isinstance(output, engine.Send):
                socket = active.sockets.get(output.to)
                if socket is not None:
                    socket.send(output.message)
                    self.metrics.messages_sent.inc()
            elif isinstance(output, engine.Publish):
                self.event_log.publish(output.event)
            elif isinstance(output, engine.Close):
                socket = active.sockets.pop(output.to, None)
                if socket is not None:
                    self.metrics.connections.dec()
                    socket.close(output.code, output.reason)
            elif isinstance(output, engine.Finished):
                self._forget(active)
        self._forget_seats(active)
        self._ensure_clock(active)

    @staticmethod
    def _forget_seats(active: ActiveGame) -> None:
        """A player who left (or was removed) loses their seat token: to play again they must
        join again (and get a new one)."""
        for user_id in [u for u in active.seats if not active.game.is_member(u)]:
            del active.seats[user_id]

    def _forget(self, active: ActiveGame) -> None:
        if self._games.get(active.game_id) is active:
            del self._games[active.game_id]
        self._tokens.pop(active.token, None)
        active.seats.clear()
        self.metrics.active_games.set(len(self._games))
        for user_id, socket in list(active.sockets.items()):  # the engine closed them already
            socket.close(engine.CLOSE_NORMAL, "This game has been removed.")
            del active.sockets[user_id]
            self.metrics.connections.dec()
        clock = active.clock
        if clock is not None and clock is not asyncio.current_task():
            clock.cancel()

    # -- the clock -------------------------------------------------------------------------------

    def _ensure_clock(self, active: ActiveGame) -> None:
        """Exactly one clock per game, running while the engine has a battle to tick."""
        if not active.game.needs_clock:
            return
        if active.clock is not None and not active.clock.done():
            return
        active.clock = asyncio.get_running_loop().create_task(
            self._run_clock(active), name=f"clock-{active.game_id}"
        )
        self.metrics.clocks_started.inc()

    async def _run_clock(self, active: ActiveGame) -> None:
        try:
            while active.game.needs_clock:
                await asyncio.sleep(self.tick_seconds)
                if self._tick_gate is not None and active.game.needs_clock:
                    await self._tick_gate(active.game)
                if not active.game.needs_clock:
                    break
                outputs = active.game.tick()
                if any(isinstance(o, engine.Finished) for o in outputs):
                    self.metrics.games_finished.inc()
                    log.info("game finished", extra={"game_id": active.game_id})
                self.perform(active, outputs)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug in the rules must not leave a zombie game: remove it cleanly.
            log.exception("game clock failed", extra={"game_id": active.game_id})
            with contextlib.suppress(Exception):
                self.perform(active, active.game.remove(1011, "Internal error."))

    # -- shutdown --------------------------------------------------------------------------------

    def remove_all(
        self, code: int = engine.CLOSE_GOING_AWAY, reason: str = "Server shutting down."
    ) -> int:
        """Remove every game (server shutdown): sockets closed, game_removed written."""
        games = list(self._games.values())
        for active in games:
            self.perform(active, active.game.remove(code, reason))
        return len(games)
