"""The game model and its lifecycle, as plain data and functions (no I/O).

Everything here takes the current time as an argument, so the state machine, expiry and list
membership are tested without Redis or a clock.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from varcade_workers import events

# How long a game may stay in a state without a change before curation acts on it (spec).
EXPIRY_SECONDS: dict[str, float] = {
    events.CREATED: 60,
    events.CREATOR_JOINED: 60,
    events.ALL_PLAYERS_JOINED: 600,
    events.IN_PROGRESS: 1200,
    events.ENDED: 300,
}

DEFAULT_NUM_PLAYERS = 2

# Fields a client listing open games must not see: the token lets anyone connect as a player.
PRIVATE_FIELDS = ("token", "state", "_last_updated")


class GameList(str, Enum):
    """The per-product list a game belongs to; derived from the game, never stored separately."""

    PENDING = "pending"  # created, the host has not connected yet: not listed
    LOBBY = "lobby"  # the host is waiting for an opponent: listed in open games
    ACTIVE = "active"  # full or playing: not listed


class InvalidTransition(ValueError):
    """A state change the lifecycle does not allow (logged and ignored by the worker)."""


def is_valid_transition(old_state: str, new_state: str) -> bool:
    """Only single forward steps along events.GAME_STATES are valid."""
    states = events.GAME_STATES
    if old_state not in states or new_state not in states:
        return False
    return states.index(new_state) == states.index(old_state) + 1


@dataclass(frozen=True)
class Product:
    """One entry of the product registry (GAME_SERVERS)."""

    product_id: str
    game_server_url: str
    game_socket_url: str
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Game:
    """A game as the matchmaker stores it. Immutable: every change returns a new Game."""

    game_id: str
    product_id: str
    game_server_url: str
    target_game_server: str
    creator_id: str
    creator_name: str
    players: tuple[str, ...]
    settings: Mapping[str, Any]
    token: str
    state: str
    last_updated: float
    #: The `seq` of the last game-server event applied to this game (0: none yet, or producers
    #: without `seq`). Stored, never shown to clients.
    seq: int = 0

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def new(
        cls,
        product: Product,
        *,
        creator_id: str,
        creator_name: str,
        token: str,
        now: float,
        game_id: str | None = None,
    ) -> Game:
        return cls(
            game_id=game_id or new_game_id(),
            product_id=product.product_id,
            game_server_url=product.game_server_url,
            target_game_server=product.game_socket_url,
            creator_id=creator_id,
            creator_name=creator_name,
            players=(creator_id,),
            settings=dict(product.settings),
            token=token,
            state=events.CREATED,
            last_updated=now,
        )

    # -- derived facts --------------------------------------------------------------------------

    @property
    def num_players(self) -> int:
        value = self.settings.get("num_players", DEFAULT_NUM_PLAYERS)
        return value if isinstance(value, int) and value > 0 else DEFAULT_NUM_PLAYERS

    @property
    def is_full(self) -> bool:
        return len(self.players) >= self.num_players

    @property
    def guests(self) -> tuple[str, ...]:
        """Players other than the creator (those the game server can remove)."""
        return tuple(p for p in self.players if p != self.creator_id)

    @property
    def list(self) -> GameList:
        if self.state == events.CREATED:
            return GameList.PENDING
        if self.state == events.CREATOR_JOINED and not self.is_full:
            return GameList.LOBBY
        return GameList.ACTIVE

    @property
    def expires_at(self) -> float:
        return self.last_updated + EXPIRY_SECONDS.get(self.state, 0)

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at

    # -- transitions ----------------------------------------------------------------------------

    def with_state(self, new_state: str, now: float) -> Game:
        """Apply a state change from the game server; raises InvalidTransition."""
        if not is_valid_transition(self.state, new_state):
            raise InvalidTransition(f"{self.state} -> {new_state}")
        return dataclasses.replace(self, state=new_state, last_updated=now)

    def with_player(self, user_id: str, now: float) -> Game:
        """A second player joined through the matchmaker; the game leaves the lobby."""
        check_can_join(self, user_id)
        return dataclasses.replace(self, players=(*self.players, user_id), last_updated=now)

    def without_player(self, user_id: str, now: float) -> Game:
        """Back to waiting for an opponent: the player left and the game is listed again."""
        return dataclasses.replace(
            self,
            players=tuple(p for p in self.players if p != user_id),
            state=events.CREATOR_JOINED,
            last_updated=now,
        )

    def with_seq(self, seq: int) -> Game:
        """The game after its event number `seq` was applied."""
        return dataclasses.replace(self, seq=seq)

    def reset(self, now: float) -> Game:
        """Curation: the guests joined through the matchmaker but never connected; relist."""
        return dataclasses.replace(
            self, players=(self.creator_id,), state=events.CREATOR_JOINED, last_updated=now
        )

    # -- serialisation --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The game as the API returns it to its players."""
        return {
            "game_id": self.game_id,
            "product_id": self.product_id,
            "game_server_url": self.game_server_url,
            "creator_id": self.creator_id,
            "creator_name": self.creator_name,
            "players": list(self.players),
            "settings": dict(self.settings),
            "token": self.token,
            "state": self.state,
            "_last_updated": self.last_updated,
            "target_game_server": self.target_game_server,
        }

    def to_public_dict(self) -> dict[str, Any]:
        """The game as open_games lists it to everyone."""
        data = self.to_dict()
        for name in PRIVATE_FIELDS:
            data.pop(name)
        return data

    def to_json(self) -> str:
        data = self.to_dict()
        if self.seq:
            data["_seq"] = self.seq
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Game:
        return cls(
            game_id=str(data["game_id"]),
            product_id=str(data["product_id"]),
            game_server_url=str(data["game_server_url"]),
            target_game_server=str(data["target_game_server"]),
            creator_id=str(data["creator_id"]),
            creator_name=str(data["creator_name"]),
            players=tuple(str(p) for p in data["players"]),
            settings=dict(data.get("settings") or {}),
            token=str(data["token"]),
            state=str(data["state"]),
            last_updated=float(data["_last_updated"]),
            seq=int(data.get("_seq") or 0),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Game:
        return cls.from_dict(json.loads(raw))


class JoinRefused(ValueError):
    """Why a player may not join a game; the message is shown to the player."""


def check_can_join(game: Game, user_id: str) -> None:
    """The join rules of the API, checked before and again inside the transaction."""
    if user_id == game.creator_id:
        raise JoinRefused("You cannot join your own game.")
    if game.state != events.CREATOR_JOINED:
        raise JoinRefused(f"Game {game.game_id} is not open for joining (state {game.state}).")
    if user_id in game.players:
        raise JoinRefused(f"You have already joined game {game.game_id}.")
    if game.is_full:
        raise JoinRefused(f"Game {game.game_id} is full.")


class CurationAction(str, Enum):
    RESET = "reset"  # remove the guests who never connected and list the game again
    PURGE = "purge"  # delete the game and have the server remove it


def curation_action(game: Game, now: float) -> CurationAction | None:
    """What curation does with a game: nothing unless it has expired."""
    if not game.is_expired(now):
        return None
    if game.state == events.CREATOR_JOINED and game.is_full:
        return CurationAction.RESET
    return CurationAction.PURGE


def new_game_id() -> str:
    return str(uuid.uuid4())
