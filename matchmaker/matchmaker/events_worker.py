"""Keeps the matchmaker's games in step with the game servers' event stream.

The library reads, acks, retries and dead-letters; this module only says what each event does to
a game, and in which order.

Order: the game server numbers each game's events (`seq`: 1, 2, 3, ... whatever their type). A game
stores the number of the last event applied to it, so an event is applied only right after its
predecessor: an older or repeated one (delivered again after a crash) changes nothing, and one
that arrives before its predecessor (held by a consumer that died, or by a replica that has not
applied it yet) is deferred (`Defer`: the library hands it back shortly while other games go on)
until the predecessor is applied, for at most `order_wait_seconds` after which the missing number
is taken as lost (a game server that died with it unwritten) and the event applied. Each event is
one optimistic transaction on its game, so an API request changing the game at once is never lost.

Events without `seq` (producers before it) keep the older rule: stream order, and ExactlyOnce
markers in the game's transaction so that a redelivery changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis

from matchmaker.games import Game, is_valid_transition
from matchmaker.repository import DELETE, GameRepository, Outcome
from varcade_workers import Defer, EventStreamWorker, ExactlyOnce, events

log = logging.getLogger(__name__)

GROUP = "matchmaker"
ONCE_NAMESPACE = "matchmaker:events"
#: How long an event waits for its predecessor before the gap is taken as lost.
DEFAULT_ORDER_WAIT_SECONDS = 15.0
_MAX_WAITING = 20_000


class GameEventsWorker(EventStreamWorker):
    def __init__(
        self,
        stream_redis: redis.Redis | str,
        repository: GameRepository,
        *,
        clock: Callable[[], float] = time.time,
        order_wait_seconds: float = DEFAULT_ORDER_WAIT_SECONDS,
        **options: Any,
    ) -> None:
        options.setdefault("group", GROUP)
        options.setdefault("name", "matchmaker-game-events")
        super().__init__(stream_redis, **options)
        self.repository = repository
        self.clock = clock
        self.order_wait_seconds = order_wait_seconds
        self.once = ExactlyOnce(repository.redis, namespace=ONCE_NAMESPACE)
        # When this worker first deferred an event (its own clock: a backlog's age says nothing).
        self._waiting_since: dict[str, float] = {}

    def handle_event(self, event_id: str, fields: dict[str, str]) -> None:
        event = events.parse_event(fields)  # MalformedEvent: the library dead-letters it
        now = self.clock()
        notes: dict[str, str] = {}
        change = _lobby_change(event, now, notes)
        if event.seq is not None:
            self._apply_in_order(event_id, event, event.seq, change, notes)
            return
        if change is None:
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

    def _apply_in_order(
        self,
        event_id: str,
        event: events.Event,
        seq: int,
        change: Callable[[Game | None], Outcome] | None,
        notes: dict[str, str],
    ) -> None:
        def ordered(game: Game | None) -> Outcome:
            notes.clear()
            if game is None:
                notes["result"] = "unknown_game"
                return None
            if seq <= game.seq:
                notes.update(result="stale", applied_seq=str(game.seq))
                return None
            if seq > game.seq + 1:
                if not self._waited_enough(event_id):
                    raise Defer(f"seq {seq} of game {game.game_id} waits for {game.seq + 1}")
                notes["missing_seqs"] = f"{game.seq + 1}-{seq - 1}"
            outcome = None if change is None else change(game)
            if isinstance(outcome, Game):
                return outcome.with_seq(seq)
            return game.with_seq(seq) if outcome is None else outcome

        self.repository.update(event.product_id, event.game_id, ordered)
        self._waiting_since.pop(event_id, None)
        if change is None and not notes.get("missing_seqs") and notes.get("result") != "stale":
            return  # gameplay: only the applied number moved
        log.info(
            "game event",
            extra={
                "event_id": event_id,
                "type": event.event_type or getattr(event, "type", ""),
                "product_id": event.product_id,
                "game_id": event.game_id,
                "seq": seq,
                **notes,
            },
        )

    def _waited_enough(self, event_id: str) -> bool:
        now = time.monotonic()
        if len(self._waiting_since) >= _MAX_WAITING:
            self._waiting_since.clear()
        first = self._waiting_since.setdefault(event_id, now)
        return now - first >= self.order_wait_seconds


def _lobby_change(
    event: events.Event, now: float, notes: dict[str, str]
) -> Callable[[Game | None], Outcome] | None:
    """What `event` does to its game in the lobby; None for events that do not touch it."""
    if isinstance(event, events.StateChange):
        return _state_change(event.new_state, now, notes)
    if isinstance(event, events.GameRemoved):
        return _game_removed(notes)
    if isinstance(event, events.PlayerDisconnect):
        return _player_disconnect(event.player_id, now, notes)
    return None  # gameplay, game_over and types this version does not know


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
