"""The game itself: players, fighters, rounds, exchanges, damage, as plain Python with no I/O.

A :class:`Game` is driven by calls (a player connects, a message arrives, the clock ticks, the
matchmaker removes someone) and answers each call with a list of *outputs*: protocol messages to
send, stream events to publish, sockets to close, and a final :class:`Finished` when the game is
gone. The server layer performs them in order. Keeping every decision here makes the rules testable
in milliseconds (tests call :meth:`Game.tick` themselves) and keeps the socket code free of rules.

Timeline of a battle, one :meth:`Game.tick` per step (TICK_SECONDS apart on the real server)::

    start_battle from both  -> RPSGameEvent game started (at once, not on a tick)
    tick                    -> round started, round state 0->1 (countdown)
    3 ticks                 -> round countdown 3, 2, 1
    tick                    -> state 1->2: the weapon window opens
    3 ticks                 -> weapon countdown 3, 2, 1 (picks count while the window is open)
    tick                    -> window closes, exchange resolves (weapons selected), state 2->3
    tick                    -> a fighter is down: state 3->4 and round finished; else hold
    tick                    -> (hold over) state 3->2, window open again ... (exchange repeats)
    tick after round end    -> game over (first to 2 rounds) or the next round starts
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TypeAlias

from game_rps.fighters import FIGHTERS, WEAPON_NAMES, Fighter
from varcade_workers import events

PRODUCT_ID = "exrps"
ROUND_COUNTDOWN_TICKS = 3
WEAPON_COUNTDOWN_TICKS = 3
RESULT_HOLD_TICKS = 2
ROUNDS_TO_WIN = 2  # best of 3
BOTCH_DAMAGE_RANGE = (19, 23)  # botch against botch: each side takes about 20
BOTCH = "botch"

# Codes inside `error` messages (not WebSocket close codes).
HOST_DISCONNECTED = 4002
OPPONENT_DISCONNECTED = 4003
MALFORMED_MESSAGE = 4400
INVALID_REQUEST = 4401

# WebSocket close codes for refused connections (spec "WebSocket").
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_HOST_NOT_CONNECTED = 4000
CLOSE_ALREADY_CONNECTED = 4001
#: The one reason of every 1000 refusal (unknown game token, user id not seated, wrong or missing
#: seat token): the close tells a caller nothing about who is seated.
REFUSED_REASON = "Invalid game token, user id or seat token."


class RoundState(IntEnum):
    NEW = 0
    COUNTDOWN = 1
    WAITING_FOR_WEAPONS = 2
    PROCESSING_RESULT = 3
    FINISHED = 4


class RoundEvent(IntEnum):
    ROUND_COUNTDOWN = 0
    WEAPON_COUNTDOWN = 1
    STATE_CHANGE = 2
    WEAPONS_SELECTED = 3
    ROUND_FINISHED = 4
    ROUND_STARTED = 5


class GameEvent(IntEnum):
    GAME_STARTED = 0
    GAME_COMPLETE = 1


# -- outputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Send `message` (a JSON object) to the connected player `to`."""

    to: str
    message: dict[str, Any]


@dataclass(frozen=True)
class Publish:
    """Append `event` to the game event stream."""

    event: events.Event


@dataclass(frozen=True)
class Close:
    """Close the player's socket after what was sent to it; it no longer belongs to the game."""

    to: str
    code: int
    reason: str


@dataclass(frozen=True)
class Finished:
    """The game is over or removed: forget it (token included). Always the last output."""


Output: TypeAlias = Send | Publish | Close | Finished


class JoinRefused(ValueError):
    """A player cannot join this game; the message goes back to the matchmaker."""


# -- damage --------------------------------------------------------------------------------------


def beats(weapon: int, other: int) -> bool:
    """Paper beats rock, scissors beat paper, rock beats scissors."""
    return (weapon - other) % 3 == 1


def rounded(value: float) -> float:
    """Health and damage to 2 decimals, so no float noise (27.500000000000004) reaches anyone."""
    result = round(value, 2)
    return result + 0.0  # no -0.0


def damage_dealt(
    attacker: Fighter,
    weapon: int | None,
    defender: Fighter,
    defender_weapon: int | None,
    botch_damage: float,
) -> float:
    """What `attacker` throwing `weapon` deals to `defender` throwing `defender_weapon`.

    The winner deals base * (1 + its modifier - the defender's mitigation for the weapon the
    defender threw); a loser or a draw deals 0; any weapon beats a botch (None), which mitigates
    nothing; a botch against a botch deals `botch_damage`.
    """
    if weapon is None:
        return rounded(botch_damage) if defender_weapon is None else 0.0
    if defender_weapon is None:
        mitigation = 0.0
    elif beats(weapon, defender_weapon):
        mitigation = defender.weapons[defender_weapon].mitigation
    else:
        return 0.0
    stats = attacker.weapons[weapon]
    return rounded(stats.base * (1 + stats.modifier - mitigation))


def weapon_id(weapon: int | None) -> str:
    return BOTCH if weapon is None else WEAPON_NAMES[weapon]


# -- state ---------------------------------------------------------------------------------------


@dataclass
class Player:
    user_id: str
    name: str
    connected: bool = False
    fighter: Fighter | None = None
    fighter_announced: bool = False  # its first choice went to the stream
    ready: bool = False
    health: float = 0.0
    pick: int | None = None

    def reset_health(self) -> None:
        self.health = self.fighter.health if self.fighter else 0.0
        self.pick = None

    @property
    def down(self) -> bool:
        return self.health <= 0


@dataclass
class Battle:
    round_number: int = 0
    state: RoundState = RoundState.NEW
    count: int = 0
    hold: int = 0
    window_open: bool = False
    wins: dict[str, int] = field(default_factory=dict)
    round_winner: str | None = None
    round_loser: str | None = None


def _round_event(kind: RoundEvent, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "RPSRoundEvent",
        "eventData": {"type": int(kind), "data": data, "classtype": "RPSRoundEvent"},
    }


def _game_event(kind: GameEvent, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "RPSGameEvent",
        "eventData": {"type": int(kind), "data": data, "classtype": "RPSGameEvent"},
    }


def error_message(message: str, code: int) -> dict[str, Any]:
    return {"type": "error", "message": message, "code": code}


class Game:
    """One game between a host (player 1) and a second player (player 2).

    Every public method returns the outputs the caller must perform, in order. Once the game has
    finished or been removed (:attr:`over`), every method returns nothing: a removed game can
    neither tick nor publish. Every event it publishes carries the game's sequence number
    (``seq``): 1 for its first event, one more for each following one, whatever its type.
    """

    def __init__(
        self,
        game_id: str,
        host_id: str,
        host_name: str,
        *,
        product_id: str = PRODUCT_ID,
        botch_damage: Callable[[], float] | None = None,
    ) -> None:
        self.game_id = game_id
        self.product_id = product_id
        self.host = Player(host_id, host_name)
        self.guest: Player | None = None
        self.battle: Battle | None = None
        self.over = False
        rng = random.Random()
        self._botch_damage = botch_damage or (lambda: rng.randint(*BOTCH_DAMAGE_RANGE))
        self._out: list[Output] = []
        #: The ``seq`` of the last event this game published (0: none yet).
        self.last_seq = 0

    # -- membership (control API) ----------------------------------------------------------------

    def join(self, user_id: str, name: str) -> None:
        """Take the second slot (the matchmaker's /join_game); the same player may ask again."""
        if self.over:
            raise JoinRefused("Game is over.")
        if user_id == self.host.user_id:
            raise JoinRefused("Player is already the host of this game.")
        if self.guest is not None:
            if self.guest.user_id == user_id:
                return
            raise JoinRefused("Game is full.")
        self.guest = Player(user_id, name)

    def is_member(self, user_id: str) -> bool:
        return user_id == self.host.user_id or (
            self.guest is not None and self.guest.user_id == user_id
        )

    def connect_refusal(self, user_id: str) -> tuple[int, str] | None:
        """Why `user_id` may not connect now (close code, reason), or None if it may."""
        if self.over or not self.is_member(user_id):
            return CLOSE_NORMAL, REFUSED_REASON
        player = self._player(user_id)
        if player is self.guest and not self.host.connected:
            return CLOSE_HOST_NOT_CONNECTED, "The host has not connected yet."
        if player.connected:
            return CLOSE_ALREADY_CONNECTED, "Player already connected."
        return None

    @property
    def needs_clock(self) -> bool:
        """True while a battle runs: the server keeps exactly one clock ticking for it."""
        return self.battle is not None and not self.over

    # -- connections -----------------------------------------------------------------------------

    def connect(self, user_id: str) -> list[Output]:
        """A member's socket was accepted (the caller checked :meth:`connect_refusal`)."""
        if self.over or self.connect_refusal(user_id) is not None:
            return []
        player = self._player(user_id)
        player.connected = True
        state = events.CREATOR_JOINED if player is self.host else events.ALL_PLAYERS_JOINED
        self._publish(events.StateChange(self.product_id, self.game_id, state))
        guest = self.guest if self.guest is not None and self.guest.connected else None
        joined = {
            "type": "player_joined",
            "gameData": {
                "p1Id": self.host.user_id,
                "p1Name": self.host.name,
                "p2Id": guest.user_id if guest else None,
                "p2Name": guest.name if guest else None,
            },
        }
        self._broadcast(joined)
        self._maybe_start_battle()
        return self._flush()

    def disconnect(self, user_id: str) -> list[Output]:
        """A member's socket closed on its own (the client left)."""
        if self.over or not self.is_member(user_id) or not self._player(user_id).connected:
            return []
        player = self._player(user_id)
        player.connected = False
        if player is self.host:
            guest = self.guest
            if guest is not None and guest.connected:
                self._send(guest.user_id, error_message("Host disconnected", HOST_DISCONNECTED))
                self._close(guest, CLOSE_NORMAL, "Host disconnected.")
            self._end(events.GameRemoved(self.product_id, self.game_id))
        else:
            self._guest_left()
        return self._flush()

    def remove_player(self, user_id: str) -> tuple[list[Output], bool]:
        """The matchmaker removes the second player; returns (outputs, a socket was closed).

        The caller checked that `user_id` is the second player (not the host, a member).
        """
        guest = self.guest
        if self.over or guest is None or guest.user_id != user_id:
            return [], False
        was_connected = guest.connected
        if was_connected:
            self._close(guest, CLOSE_NORMAL, "You have been removed from the game.")
        self._guest_left()
        return self._flush(), was_connected

    def remove(
        self, code: int = CLOSE_NORMAL, reason: str = "This game has been removed."
    ) -> list[Output]:
        """The game is removed (matchmaker, shutdown): close every socket, write game_removed."""
        if self.over:
            return []
        for player in self._players():
            if player.connected:
                self._close(player, code, reason)
        self._end(events.GameRemoved(self.product_id, self.game_id))
        return self._flush()

    # -- player messages -------------------------------------------------------------------------

    def handle_message(self, user_id: str, message: Any) -> list[Output]:
        """A decoded JSON message from a connected player; unknown types are ignored."""
        if self.over or not self.is_member(user_id) or not self._player(user_id).connected:
            return []
        player = self._player(user_id)
        kind = message.get("type") if isinstance(message, dict) else None
        if not isinstance(kind, str):
            self._send(
                user_id,
                error_message(
                    "Malformed message: expected a JSON object with a string 'type'.",
                    MALFORMED_MESSAGE,
                ),
            )
        elif kind == "select_fighter":
            self._select_fighter(player, message.get("characterId"))
        elif kind == "start_battle":
            self._start_battle(player)
        elif kind == "select_weapon":
            self._select_weapon(player, message.get("index"))
        return self._flush()

    def _select_fighter(self, player: Player, character_id: Any) -> None:
        fighter = FIGHTERS.get(character_id) if isinstance(character_id, str) else None
        if fighter is None:
            self._send(
                player.user_id, error_message(f"Unknown fighter {character_id!r}.", INVALID_REQUEST)
            )
            return
        if player.ready or self.battle is not None:
            return  # the choice is locked once the player is ready
        player.fighter = fighter
        if not player.fighter_announced:
            player.fighter_announced = True
            self._publish(
                events.FighterSelected(self.product_id, self.game_id, player.user_id, fighter.id)
            )
        self._send(player.user_id, self._fighter_message(player))
        opponent = self._opponent(player)
        if opponent is not None and opponent.connected and opponent.fighter is not None:
            self._send(player.user_id, self._fighter_message(opponent))
            self._send(opponent.user_id, self._fighter_message(player))

    def _start_battle(self, player: Player) -> None:
        if player.fighter is None:
            self._send(player.user_id, error_message("Select a fighter first.", INVALID_REQUEST))
            return
        if player.ready or self.battle is not None:
            return  # a second start_battle changes nothing (and never starts a second clock)
        player.ready = True
        self._publish(events.PlayerReady(self.product_id, self.game_id, player.user_id))
        self._maybe_start_battle()

    def _select_weapon(self, player: Player, index: Any) -> None:
        # Exact ints only: JSON 1.0 (a float) equals 1 but would crash the exchange's resolution.
        if type(index) is not int or index not in (0, 1, 2):
            self._send(
                player.user_id,
                error_message("Invalid weapon index: expected 0, 1 or 2.", INVALID_REQUEST),
            )
            return
        if self.battle is not None and self.battle.window_open:
            player.pick = index  # the last valid pick counts; picks outside the window do not

    # -- the clock -------------------------------------------------------------------------------

    def tick(self) -> list[Output]:
        """Advance the battle by one tick (see the module docstring for the timeline)."""
        battle = self.battle
        if self.over or battle is None:
            return []
        if battle.round_number == 0:
            self._start_round(battle)
        elif battle.state == RoundState.COUNTDOWN:
            if battle.count > 0:
                self._broadcast(_round_event(RoundEvent.ROUND_COUNTDOWN, {"value": battle.count}))
                battle.count -= 1
            else:
                self._open_window(battle)
        elif battle.state == RoundState.WAITING_FOR_WEAPONS:
            if battle.count > 0:
                self._broadcast(_round_event(RoundEvent.WEAPON_COUNTDOWN, {"value": battle.count}))
                battle.count -= 1
            else:
                self._resolve_exchange(battle)
        elif battle.state == RoundState.PROCESSING_RESULT:
            if self.host.down or self._guest().down:
                self._finish_round(battle)
            else:
                battle.hold += 1
                if battle.hold >= RESULT_HOLD_TICKS:
                    self._open_window(battle)
        elif battle.state == RoundState.FINISHED:
            winner = battle.round_winner
            if winner is not None and battle.wins.get(winner, 0) >= ROUNDS_TO_WIN:
                self._game_over(winner, battle.round_loser or "")
            else:
                self._start_round(battle)
        return self._flush()

    def _start_round(self, battle: Battle) -> None:
        guest = self._guest()
        self.host.reset_health()
        guest.reset_health()
        battle.round_number += 1
        battle.count = ROUND_COUNTDOWN_TICKS
        battle.hold = 0
        battle.window_open = False
        battle.round_winner = battle.round_loser = None
        battle.state = RoundState.NEW
        self._broadcast(_round_event(RoundEvent.ROUND_STARTED, {}))
        self._publish(
            events.RoundStarted(self.product_id, self.game_id, self.host.user_id, guest.user_id)
        )
        self._change_state(battle, RoundState.COUNTDOWN)

    def _open_window(self, battle: Battle) -> None:
        battle.count = WEAPON_COUNTDOWN_TICKS
        battle.hold = 0
        battle.window_open = True
        self.host.pick = None
        self._guest().pick = None
        self._change_state(battle, RoundState.WAITING_FOR_WEAPONS)

    def _resolve_exchange(self, battle: Battle) -> None:
        battle.window_open = False
        p1, p2 = self.host, self._guest()
        assert p1.fighter is not None and p2.fighter is not None
        w1, w2 = p1.pick, p2.pick
        botch = w1 is None and w2 is None
        d1 = damage_dealt(p1.fighter, w1, p2.fighter, w2, self._botch_damage() if botch else 0)
        d2 = damage_dealt(p2.fighter, w2, p1.fighter, w1, self._botch_damage() if botch else 0)
        p1.health = rounded(max(0.0, p1.health - d2))
        p2.health = rounded(max(0.0, p2.health - d1))
        p1.pick = p2.pick = None
        summary = {
            "p1Selection": {"weaponId": weapon_id(w1), "damageDealt": d1},
            "p2Selection": {"weaponId": weapon_id(w2), "damageDealt": d2},
        }
        self._broadcast(_round_event(RoundEvent.WEAPONS_SELECTED, {"attackSummary": summary}))
        for player, weapon in ((p1, w1), (p2, w2)):
            self._publish(
                events.WeaponSelected(self.product_id, self.game_id, player.user_id, weapon)
            )
        self._change_state(battle, RoundState.PROCESSING_RESULT)

    def _finish_round(self, battle: Battle) -> None:
        p1, p2 = self.host, self._guest()
        # A double knock-out goes to player 1.
        winner, loser = (p1, p2) if p2.down else (p2, p1)
        battle.wins[winner.user_id] = battle.wins.get(winner.user_id, 0) + 1
        battle.round_winner, battle.round_loser = winner.user_id, loser.user_id
        self._change_state(battle, RoundState.FINISHED)
        self._broadcast(
            _round_event(
                RoundEvent.ROUND_FINISHED,
                {"roundWinnerId": winner.user_id, "roundLoserId": loser.user_id},
            )
        )
        self._publish(
            events.RoundFinished(
                self.product_id, self.game_id, p1.user_id, p2.user_id, winner.user_id, loser.user_id
            )
        )

    def _game_over(self, winner_id: str, loser_id: str) -> None:
        self._broadcast(
            _game_event(GameEvent.GAME_COMPLETE, {"winnerId": winner_id, "loserId": loser_id})
        )
        self._publish(events.GameOver(self.product_id, self.game_id, winner_id, loser_id))
        self._publish(events.StateChange(self.product_id, self.game_id, events.ENDED))
        for player in self._players():
            if player.connected:
                self._close(player, CLOSE_NORMAL, "Game over.")
        self._end(events.GameRemoved(self.product_id, self.game_id))

    # -- helpers ---------------------------------------------------------------------------------

    def _maybe_start_battle(self) -> None:
        p1, p2 = self.host, self.guest
        if self.battle is not None or p2 is None:
            return
        if not all(p.connected and p.fighter is not None and p.ready for p in (p1, p2)):
            return
        self.battle = Battle(wins={p1.user_id: 0, p2.user_id: 0})
        p1.reset_health()
        p2.reset_health()
        self._broadcast(_game_event(GameEvent.GAME_STARTED, {}))
        self._publish(events.StateChange(self.product_id, self.game_id, events.IN_PROGRESS))
        self._sync()

    def _guest_left(self) -> None:
        """The second player is gone: the battle stops, the host waits with fighter kept."""
        guest = self.guest
        assert guest is not None
        self.guest = None
        self.battle = None
        self.host.reset_health()
        self._publish(events.PlayerDisconnect(self.product_id, self.game_id, guest.user_id))
        if self.host.connected:
            self._send(
                self.host.user_id, error_message("Opponent disconnected", OPPONENT_DISCONNECTED)
            )

    def _change_state(self, battle: Battle, new_state: RoundState) -> None:
        old_state = battle.state
        battle.state = new_state
        self._broadcast(
            _round_event(
                RoundEvent.STATE_CHANGE, {"newState": int(new_state), "oldState": int(old_state)}
            )
        )
        self._sync()

    def _sync(self) -> None:
        self._broadcast(
            {
                "type": "sync",
                "gameData": {"p1Health": self.host.health, "p2Health": self._guest().health},
            }
        )

    def _fighter_message(self, player: Player) -> dict[str, Any]:
        assert player.fighter is not None
        return {
            "type": "select_fighter",
            "gameData": {"playerId": player.user_id, "selectedCharacterId": player.fighter.id},
        }

    def _end(self, last_event: events.Event) -> None:
        self.over = True
        self.battle = None
        self._publish(last_event)
        self._out.append(Finished())

    def _close(self, player: Player, code: int, reason: str) -> None:
        player.connected = False
        self._out.append(Close(player.user_id, code, reason))

    def _send(self, user_id: str, message: dict[str, Any]) -> None:
        self._out.append(Send(user_id, message))

    def _broadcast(self, message: dict[str, Any]) -> None:
        for player in self._players():
            if player.connected:
                self._out.append(Send(player.user_id, message))

    def _publish(self, event: events.Event) -> None:
        # Numbered here, where the game's outputs are put in order: the server performs them in
        # that order and the event log writes them in that order, so a game's seq counts up in
        # stream order (1, 2, 3 ...), whatever the events' types.
        self.last_seq += 1
        self._out.append(Publish(dataclasses.replace(event, seq=self.last_seq)))

    def _flush(self) -> list[Output]:
        out, self._out = self._out, []
        return out

    def _players(self) -> list[Player]:
        return [self.host] if self.guest is None else [self.host, self.guest]

    def _player(self, user_id: str) -> Player:
        if user_id == self.host.user_id:
            return self.host
        assert self.guest is not None and self.guest.user_id == user_id
        return self.guest

    def _guest(self) -> Player:
        assert self.guest is not None
        return self.guest

    def _opponent(self, player: Player) -> Player | None:
        return self.guest if player is self.host else self.host
