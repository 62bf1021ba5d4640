"""The stats tracker under chaos: finished games on two products, their in-order replay, the
comparison.

`stats_games` writes games the way the game server does (rounds, weapon picks, `game_over`,
`ended`, `game_removed`, each with its per-game seq) between a small pool of players per product,
so every player plays many games and an Elo rating depends on the order of that player's games.
`replay` feeds the stream's events one by one, in stream order, through the stats tracker's own
code (`stats_tracker.updates.BatchUpdate` with the products of `STATS_PRODUCTS`), which is what the
worker computes when nothing goes wrong. `compare` reads the leaderboards and counters back.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from stats_tracker.player_stats import GAMES
from stats_tracker.products import Product, build_products
from stats_tracker.repository import leaderboard_key, stats_key
from stats_tracker.updates import BatchUpdate, has_effect

from tools.chaos.lobby_model import new_id
from varcade_workers import events


def products(scorings: Mapping[str, str]) -> dict[str, Product]:
    return build_products(scorings)


def stats_game(rng: random.Random, product_id: str, players: Sequence[str]) -> list[events.Event]:
    """One finished game's events, in order, seq set (about 10 events)."""
    game_id = new_id(rng)
    p1, p2 = rng.sample(list(players), 2)
    script: list[events.Event] = []

    def add(event_type: type, *args: object) -> None:
        script.append(event_type(product_id, game_id, *args, seq=len(script) + 1))

    add(events.StateChange, events.IN_PROGRESS)
    wins = {p1: 0, p2: 0}
    while max(wins.values()) < 2:
        add(events.RoundStarted, p1, p2)
        for _ in range(rng.randint(0, 2)):
            add(events.WeaponSelected, p1, rng.choice((*events.WEAPONS, None)))
            add(events.WeaponSelected, p2, rng.choice((*events.WEAPONS, None)))
        winner = rng.choice((p1, p2))
        loser = p2 if winner == p1 else p1
        wins[winner] += 1
        add(events.RoundFinished, p1, p2, winner, loser)
    winner = p1 if wins[p1] == 2 else p2
    add(events.GameOver, winner, p2 if winner == p1 else p1)
    add(events.StateChange, events.ENDED)
    add(events.GameRemoved)
    return script


def stats_stream(
    rng: random.Random, total_events: int, product_ids: Sequence[str], players_per_product: int
) -> list[events.Event]:
    """At least `total_events` events of finished games, games interleaved a few at a time."""
    pools = {pid: [f"{pid}-p{n:03d}" for n in range(players_per_product)] for pid in product_ids}
    live: list[list[events.Event]] = []
    out: list[events.Event] = []
    while len(out) < total_events or live:
        while len(live) < 8 and len(out) < total_events:
            pid = rng.choice(list(product_ids))
            live.append(stats_game(rng, pid, pools[pid]))
        game = rng.choice(live)
        out.append(game.pop(0))
        if not game:
            live.remove(game)
    return out


@dataclass
class Expected:
    """The in-order outcome: per product the leaderboard, per (product, player) the counters."""

    boards: dict[str, dict[str, float]] = field(default_factory=dict)
    counters: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    game_overs: int = 0


def replay(stream_events: Iterable[events.Event], catalog: Mapping[str, Product]) -> Expected:
    """Apply every counted event one at a time, in the order given, with the worker's code."""
    ordered = [e for e in stream_events if e.product_id in catalog]
    players: dict[str, set[str]] = defaultdict(set)
    for event in ordered:
        if isinstance(event, events.GameOver):
            players[event.product_id].update((event.winner_id, event.loser_id))
    update = BatchUpdate(
        {
            pid: dict.fromkeys(users, None)
            for pid, users in players.items()
            if catalog[pid].scoring.reads_scores
        }
    )
    expected = Expected()
    for event in ordered:
        if isinstance(event, events.GameOver) and event.winner_id == event.loser_id:
            continue  # the worker dead-letters it
        if has_effect(event, catalog[event.product_id]):
            update.apply(event, catalog[event.product_id])
            expected.game_overs += isinstance(event, events.GameOver)
    for pid, board in update.boards.items():
        scores: dict[str, float] = {}
        for user, base in board.current.items():
            if base is not None:
                scores[user] = base
        for user, delta in board.increments.items():
            scores[user] = scores.get(user, 0.0) + delta
        scores.update(board.assignments)
        expected.boards[pid] = scores
    expected.counters = {key: dict(values) for key, values in update.counters.items()}
    return expected


@dataclass
class StatsDiff:
    lost: int = 0  # game counter increments missing
    doubled: int = 0  # game counter increments too many
    other_counters: int = 0  # other counters off (wins, losses, weapons), summed
    board_entries_off: int = 0  # wins-leaderboard scores off (sum of |difference|)
    elo_max_diff: float = 0.0
    elo_worst: str = ""
    examples: list[str] = field(default_factory=list)


def compare(data: redis.Redis, expected: Expected, elo_product: str) -> StatsDiff:
    """The stats as stored against the in-order replay."""
    diff = StatsDiff()
    keys = sorted(expected.counters)
    pipe = data.pipeline(transaction=False)
    for pid, user in keys:
        pipe.hgetall(stats_key(pid, user))
    replies: list[Any] = pipe.execute()
    for (pid, user), stored in zip(keys, replies, strict=True):
        want = expected.counters[(pid, user)]
        for counter in set(want) | set(stored):
            have, should = int(stored.get(counter, 0)), want.get(counter, 0)
            if have == should:
                continue
            if counter == GAMES:
                diff.lost += max(0, should - have)
                diff.doubled += max(0, have - should)
            else:
                diff.other_counters += abs(have - should)
            if len(diff.examples) < 5:
                diff.examples.append(f"{pid}/{user} {counter}: {have}, expected {should}")
    for pid, board in expected.boards.items():
        rows: Any = data.zrange(leaderboard_key(pid), 0, -1, withscores=True)
        stored_board = {str(member): float(score) for member, score in rows}
        for user in set(board) | set(stored_board):
            score, wanted = stored_board.get(user), board.get(user)
            if pid == elo_product:
                gap = abs((score or 0.0) - (wanted or 0.0))
                if score is None or wanted is None:
                    gap = max(gap, 1000.0)
                if gap > diff.elo_max_diff:
                    diff.elo_max_diff, diff.elo_worst = gap, f"{user}: {score} vs {wanted}"
            elif score != wanted:
                diff.board_entries_off += int(abs((score or 0.0) - (wanted or 0.0))) or 1
    return diff
