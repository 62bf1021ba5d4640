"""Redis data layer: games and their per-product lists.

Keys (per product `p`):
- `<prefix>:<p>:game:<game_id>`: the game, as JSON.
- `<prefix>:<p>:pending`, `:lobby`, `:active`: sorted sets of game ids scored by last-updated
  time, so every list reads oldest first. A game is in exactly the list `Game.list` names.
- `<prefix>:<p>:expiry`: game ids scored by the time they expire, so curation finds expired games
  without scanning games that still have minutes to live.
- `<prefix>:<p>:created_by:<user_id>`: the ids of the games a player created that have not ended
  (set), kept by every save and delete, so the per-player limit of open games reads one set.

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
from varcade_workers import events

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


class TooManyOpenGames(Exception):
    """The creator of a new game already has `limit` games that have not ended."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"{count} open games, at most {limit}")
        self.count = count
        self.limit = limit


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

    def creator_key(self, product_id: str, user_id: str) -> str:
        return f"{self.prefix}:{product_id}:created_by:{user_id}"

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

    def open_game_count(self, product_id: str, user_id: str) -> int:
        """How many games `user_id` created in this product that have not ended (nor been
        removed)."""
        open_ids, stale = self._open_game_ids(self.redis, product_id, user_id)
        if stale:  # ids whose game is gone or ended (only if written before this index existed)
            self.redis.srem(self.creator_key(product_id, user_id), *stale)
        return len(open_ids)

    def _open_game_ids(
        self, client: redis.Redis | Pipeline, product_id: str, user_id: str
    ) -> tuple[list[str], list[str]]:
        """(open, stale) ids of the creator's index, each checked against its game."""
        ids = sorted(_text(i) for i in client.smembers(self.creator_key(product_id, user_id)))
        if not ids:
            return [], []
        raws = client.mget([self.game_key(product_id, game_id) for game_id in ids])
        open_ids, stale = [], []
        for game_id, raw in zip(ids, raws, strict=True):
            game = None if raw is None else Game.from_json(raw)
            if game is not None and game.creator_id == user_id and game.state != events.ENDED:
                open_ids.append(game_id)
            else:
                stale.append(game_id)
        return open_ids, stale

    def _load(self, product_id: str, ids: Iterable[Any]) -> list[Game]:
        keys = [self.game_key(product_id, _text(i)) for i in ids]
        if not keys:
            return []
        return [Game.from_json(raw) for raw in self.redis.mget(keys) if raw is not None]

    # -- writes ---------------------------------------------------------------------------------

    def create(self, game: Game, *, max_open_per_creator: int = 0) -> None:
        """Store a new game; raises GameExists if the id is taken, and TooManyOpenGames if its
        creator already has `max_open_per_creator` games that have not ended (0: no limit),
        counted in the same transaction (two creates at once cannot both take the last place)."""

        def change(current: Game | None) -> Outcome:
            if current is not None:
                raise GameExists(game.game_id)
            return game

        if not max_open_per_creator:
            self.update(game.product_id, game.game_id, change)
            return
        pid, gid, creator = game.product_id, game.game_id, game.creator_id
        creator_key = self.creator_key(pid, creator)
        with self.redis.pipeline() as pipe:
            for _ in range(MAX_ATTEMPTS):
                try:
                    pipe.watch(self.game_key(pid, gid), creator_key)
                    open_ids, stale = self._open_game_ids(pipe, pid, creator)
                    if len(open_ids) >= max_open_per_creator:
                        raise TooManyOpenGames(len(open_ids), max_open_per_creator)
                    self.transact(pipe, pid, gid, change)
                    if stale:
                        pipe.srem(creator_key, *stale)
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue
        raise TooMuchContention(f"games of {creator} in {pid}")

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
            if current is not None:
                pipe.srem(self.creator_key(product_id, current.creator_id), game_id)
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
        if game.state == events.ENDED:
            pipe.srem(self.creator_key(pid, game.creator_id), gid)
        else:
            pipe.sadd(self.creator_key(pid, game.creator_id), gid)

    def _queue_delete(self, pipe: Pipeline, product_id: str, game_id: str) -> None:
        pipe.delete(self.game_key(product_id, game_id))
        for which in GameList:
            pipe.zrem(self.list_key(product_id, which), game_id)
        pipe.zrem(self.expiry_key(product_id), game_id)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
