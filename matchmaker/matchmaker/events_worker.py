"""Keeps the matchmaker's games in step with the game servers' event stream.

The library reads, acks, retries and dead-letters; this module only says what each event does to
a game. Each effect runs through ExactlyOnce inside the game's own optimistic transaction, so an
event delivered again (after a crash between the write and the ack) changes nothing, even if the
game has moved on since, e.g. a `player_disconnect` redelivered after that player joined again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis

from matchmaker.games import Game, is_valid_transition
from matchmaker.repository import DELETE, GameRepository, Outcome
from varcade_workers import EventStreamWorker, ExactlyOnce, events

log = logging.getLogger(__name__)

GROUP = "matchmaker"
ONCE_NAMESPACE = "matchmaker:events"


class GameEventsWorker(EventStreamWorker):
    def __init__(
        self,
        stream_redis: redis.Redis | str,
        repository: GameRepository,
        *,
        clock: Callable[[], float] = time.time,
        **options: Any,
    ) -> None:
        options.setdefault("group", GROUP)
        options.setdefault("name", "matchmaker-game-events")
        super().__init__(stream_redis, **options)
        self.repository = repository
        self.clock = clock
        self.once = ExactlyOnce(repository.redis, namespace=ONCE_NAMESPACE)

    def handle_event(self, event_id: str, fields: dict[str, str]) -> None:
        event = events.parse_event(fields)  # MalformedEvent: the library dead-letters it
        now = self.clock()
        notes: dict[str, str] = {}
        change: Callable[[Game | None], Outcome]
        if isinstance(event, events.StateChange):
            change = _state_change(event.new_state, now, notes)
        elif isinstance(event, events.GameRemoved):
            change = _game_removed(notes)
        elif isinstance(event, events.PlayerDisconnect):
            change = _player_disconnect(event.player_id, now, notes)
        else:
            return  # gameplay, game_over and types this version does not know: not ours

        def apply(pipe: Any) -> None:
            notes.clear()
            self.repository.transact(pipe, event.product_id, event.game_id, change)

        key = self.repository.game_key(event.product_id, event.game_id)
        applied = self.once.apply(event_id, apply, watch=[key])
        if not applied:
            notes = {"result": "duplicate"}
        log.info(
            "game event",
            extra={
                "event_id": event_id,
                "type": fields.get("type"),
                "product_id": event.product_id,
                "game_id": event.game_id,
                **notes,
            },
        )


def _state_change(
    new_state: str, now: float, notes: dict[str, str]
) -> Callable[[Game | None], Outcome]:
    def change(game: Game | None) -> Outcome:
        if game is None:
            notes["result"] = "unknown_game"
            return None
        if not is_valid_transition(game.state, new_state):
            notes.update(result="invalid_transition", old_state=game.state, new_state=new_state)
            return None
        notes.update(result="applied", old_state=game.state, new_state=new_state)
        return game.with_state(new_state, now)

    return change


def _game_removed(notes: dict[str, str]) -> Callable[[Game | None], Outcome]:
    def change(game: Game | None) -> Outcome:
        notes["result"] = "unknown_game" if game is None else "deleted"
        return DELETE

    return change


def _player_disconnect(
    player_id: str, now: float, notes: dict[str, str]
) -> Callable[[Game | None], Outcome]:
    def change(game: Game | None) -> Outcome:
        notes["player_id"] = player_id
        if game is None:
            notes["result"] = "unknown_game"
            return None
        if player_id not in game.guests:
            notes["result"] = "not_a_guest"
            return None
        if game.state == events.ENDED:
            notes["result"] = "game_ended"
            return None
        notes["result"] = "relisted"
        return game.without_player(player_id, now)

    return change
