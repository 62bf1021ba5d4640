"""The stats tracker's Redis data: a sorted set per leaderboard, a hash per player's counters.

Keys: `leaderboard:<product_id>` (member user id, score) and `player_stats:<product_id>:<user_id>`
(counter -> integer). Reads serve the API; `load_scores` and `queue_update` run inside the worker's
exactly-once transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import redis

from stats_tracker.updates import BatchUpdate


def leaderboard_key(product_id: str) -> str:
    return f"leaderboard:{product_id}"


def stats_key(product_id: str, user_id: str) -> str:
    return f"player_stats:{product_id}:{user_id}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class StatsRepository:
    """Redis adapter for leaderboards and player counters."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    # -- reads for the API ---------------------------------------------------------------------
    def top(self, product_id: str, count: int) -> list[tuple[str, float]]:
        """The `count` best (user_id, score), highest first."""
        rows = self.redis.zrange(
            leaderboard_key(product_id), 0, count - 1, desc=True, withscores=True
        )
        return [(_text(member), float(score)) for member, score in rows]

    def score_and_rank(self, product_id: str, user_id: str) -> tuple[float | None, int | None]:
        """The player's score and 0-based rank (highest first), or (None, None) when not listed."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zscore(leaderboard_key(product_id), user_id)
        pipe.zrevrank(leaderboard_key(product_id), user_id)
        score, rank = pipe.execute()
        return (None if score is None else float(score)), rank

    def player_counters(
        self, product_id: str, user_id: str, names: Sequence[str]
    ) -> dict[str, int]:
        """The named counters of a player, 0 for any never counted."""
        values = self.redis.hmget(stats_key(product_id, user_id), list(names))
        return {name: int(value or 0) for name, value in zip(names, values, strict=True)}

    # -- inside the worker's transaction --------------------------------------------------------
    @staticmethod
    def load_scores(
        pipe: redis.client.Pipeline, product_id: str, user_ids: Iterable[str]
    ) -> dict[str, float | None]:
        """Current scores (None: not listed), read at once on a WATCHing pipeline: 1 round trip."""
        users = sorted(user_ids)
        if not users:
            return {}
        scores = pipe.zmscore(leaderboard_key(product_id), users)
        return {
            user: None if score is None else float(score)
            for user, score in zip(users, scores, strict=True)
        }

    @staticmethod
    def queue_update(pipe: redis.client.Pipeline, update: BatchUpdate) -> None:
        """Queue a batch's writes as ONE command (a small Lua script) in the transaction.

        Hundreds of ZINCRBY/HINCRBY commands per batch cost far more client time than Redis time;
        one EVAL with every change in one JSON argument keeps the worker above 10,000 games/s.
        Values travel as strings so that Elo ratings keep every digit (Lua numbers print 14).
        """
        keys: dict[str, int] = {}  # key -> its 1-based index in KEYS

        def index(key: str) -> int:
            return keys.setdefault(key, len(keys) + 1)

        changes: list[tuple[str, int, str, str]] = []
        for product_id, board in update.boards.items():
            key = index(leaderboard_key(product_id))
            changes.extend(
                (_INCREMENT_SCORE, key, user_id, repr(delta))
                for user_id, delta in board.increments.items()
            )
            changes.extend(
                (_SET_SCORE, key, user_id, repr(value))
                for user_id, value in board.assignments.items()
            )
        for (product_id, user_id), counters in update.counters.items():
            key = index(stats_key(product_id, user_id))
            changes.extend(
                (_INCREMENT_COUNTER, key, counter, str(delta))
                for counter, delta in counters.items()
            )
        if changes:
            pipe.eval(_APPLY_CHANGES, len(keys), *keys, json.dumps(changes, separators=(",", ":")))


_INCREMENT_SCORE, _SET_SCORE, _INCREMENT_COUNTER = "zincrby", "zadd", "hincrby"

#: KEYS: every key the batch writes (declared, as Redis requires of a script); ARGV[1]: a JSON list
#: of [operation, index of the key in KEYS, member or field, value].
_APPLY_CHANGES = """
for _, change in ipairs(cjson.decode(ARGV[1])) do
  local op, key, member, value = change[1], KEYS[change[2]], change[3], change[4]
  if op == 'zincrby' then
    redis.call('ZINCRBY', key, value, member)
  elseif op == 'zadd' then
    redis.call('ZADD', key, value, member)
  else
    redis.call('HINCRBY', key, member, value)
  end
end
"""
