"""Redis data layer: games and their per-product lists.

Keys (per product `p`):
- `<prefix>:<p>:game:<game_id>`: the game, as JSON.
- `<prefix>:<p>:pending`, `:lobby`, `:active`: sorted sets of game ids scored by last-updated
  time, so every list reads oldest first. A game is in exactly the list `Game.list` names.
- `<prefix>:<p>:expiry`: game ids scored by the time they expire, so curation finds expired games
  without scanning games that still have minutes to live.

Every change to a game is one optimistic transaction (WATCH the game's key, read, compute,
MULTI/EXEC, retry on conflict), so an API request and the worker changing one game at once never
lose an update. `transact()` is the transaction body on its own, for callers that run it inside
their own WATCH (the worker's ExactlyOnce).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

import redis
from redis.client import Pipeline

from matchmaker.games import Game, GameList

DEFAULT_PREFIX: Final = "matchmaker"
MAX_ATTEMPTS: Final = 100


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


DELETE: Final = _Delete()
"""Returned by a change function: delete the game from storage and from every list."""

Outcome = Game | _Delete | None
"""What a change function returns: the new game, DELETE, or None for "leave it as it is"."""

ChangeFn = Callable[[Game | None], Outcome]


class GameExists(Exception):
    """A game with this id is already stored."""


class TooMuchContention(Exception):
    """A game changed under every one of MAX_ATTEMPTS transactions."""


class GameRepository:
    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = client
        self.prefix = prefix

    # -- keys -----------------------------------------------------------------------------------

    def game_key(self, product_id: str, game_id: str) -> str:
        return f"{self.prefix}:{product_id}:game:{game_id}"

    def list_key(self, product_id: str, which: GameList) -> str:
        return f"{self.prefix}:{product_id}:{which.value}"

    def expiry_key(self, product_id: str) -> str:
        return f"{self.prefix}:{product_id}:expiry"

    # -- reads ----------------------------------------------------------------------------------

    def get(self, product_id: str, game_id: str) -> Game | None:
        raw = self.redis.get(self.game_key(product_id, game_id))
        return None if raw is None else Game.from_json(raw)

    def list_ids(self, product_id: str, which: GameList) -> list[str]:
        """Every id in a list, oldest first."""
        return [_text(m) for m in self.redis.zrange(self.list_key(product_id, which), 0, -1)]

    def open_games(self, product_id: str, *, offset: int, count: int) -> list[Game]:
        """Games waiting for an opponent, oldest first."""
        if count <= 0:
            return []
        key = self.list_key(product_id, GameList.LOBBY)
        ids = self.redis.zrange(key, offset, offset + count - 1)
        return [g for g in self._load(product_id, ids) if g.list is GameList.LOBBY]

    def expired_games(self, product_id: str, now: float, limit: int) -> list[Game]:
        """Up to `limit` games expired at `now`, least recently updated first.

        Expiry times differ per state, so the first to expire are not always the oldest (an
        in_progress game idle for 25 minutes expires after a lobby game idle for 2): the expiry
        index finds every expired id, the lists' scores (last-updated times; a game is in exactly
        one list) choose the `limit` oldest, and only those are loaded.
        """
        ids = [_text(i) for i in self.redis.zrangebyscore(self.expiry_key(product_id), "-inf", now)]
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for which in GameList:
            pipe.zmscore(self.list_key(product_id, which), ids)
        updated: dict[str, float] = {}
        for scores in pipe.execute():
            for game_id, score in zip(ids, scores, strict=True):
                if score is not None:
                    updated[game_id] = float(score)
        oldest = sorted(updated, key=lambda game_id: (updated[game_id], game_id))[:limit]
        expired = [g for g in self._load(product_id, oldest) if g.is_expired(now)]
        return sorted(expired, key=lambda g: (g.last_updated, g.game_id))

    def _load(self, product_id: str, ids: Iterable[Any]) -> list[Game]:
        keys = [self.game_key(product_id, _text(i)) for i in ids]
        if not keys:
            return []
        return [Game.from_json(raw) for raw in self.redis.mget(keys) if raw is not None]

    # -- writes ---------------------------------------------------------------------------------

    def create(self, game: Game) -> None:
        """Store a new game; raises GameExists if the id is taken."""

        def change(current: Game | None) -> Outcome:
            if current is not None:
                raise GameExists(game.game_id)
            return game

        self.update(game.product_id, game.game_id, change)

    def update(self, product_id: str, game_id: str, change: ChangeFn) -> Outcome:
        """Apply `change` to the stored game in an optimistic transaction; returns its outcome.

        `change` may run several times (once per conflict), so it must only compute. An exception
        from it aborts the transaction and propagates.
        """
        key = self.game_key(product_id, game_id)
        with self.redis.pipeline() as pipe:
            for _ in range(MAX_ATTEMPTS):
                try:
                    pipe.watch(key)
                    outcome = self.transact(pipe, product_id, game_id, change)
                    pipe.execute()
                    return outcome
                except redis.WatchError:
                    continue
        raise TooMuchContention(f"game {game_id} of {product_id}")

    def transact(self, pipe: Pipeline, product_id: str, game_id: str, change: ChangeFn) -> Outcome:
        """The transaction body: `pipe` must already WATCH the game's key (and is left in MULTI)."""
        raw = pipe.get(self.game_key(product_id, game_id))
        current = None if raw is None else Game.from_json(raw)
        outcome = change(current)
        pipe.multi()
        if isinstance(outcome, Game):
            if current is not None and outcome == current.with_seq(outcome.seq):
                # Only the applied event number moved: the lists and expiry stay as they are.
                pipe.set(self.game_key(product_id, game_id), outcome.to_json())
            else:
                self._queue_save(pipe, outcome)
        elif outcome is DELETE:
            self._queue_delete(pipe, product_id, game_id)
        return outcome

    def _queue_save(self, pipe: Pipeline, game: Game) -> None:
        pid, gid = game.product_id, game.game_id
        pipe.set(self.game_key(pid, gid), game.to_json())
        for which in GameList:
            if which is game.list:
                pipe.zadd(self.list_key(pid, which), {gid: game.last_updated})
            else:
                pipe.zrem(self.list_key(pid, which), gid)
        pipe.zadd(self.expiry_key(pid), {gid: game.expires_at})

    def _queue_delete(self, pipe: Pipeline, product_id: str, game_id: str) -> None:
        pipe.delete(self.game_key(product_id, game_id))
        for which in GameList:
            pipe.zrem(self.list_key(product_id, which), game_id)
        pipe.zrem(self.expiry_key(product_id), game_id)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
