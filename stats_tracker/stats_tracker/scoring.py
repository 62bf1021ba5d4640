"""How a finished game moves the leaderboard, one scoring per product.

A scoring only talks to a `Board` (scores as they stand, plus the changes made so far in a batch),
so the worker can score a whole batch of games in memory and write the result in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Protocol

ELO_INITIAL_RATING = 1000.0
ELO_K_FACTOR = 32.0


class Board:
    """One product's leaderboard during a batch: known scores and the pending changes.

    Increments (`add`) need no read and commute, so the `wins` scoring never reads Redis;
    assignments (`set`) are read-modify-write and need the current scores in `current` first.
    """

    def __init__(self, current: Mapping[str, float | None] | None = None) -> None:
        self.current: dict[str, float | None] = dict(current or {})
        self.increments: dict[str, float] = {}
        self.assignments: dict[str, float] = {}

    def score(self, user_id: str) -> float | None:
        """The user's score with this batch's changes, or None if not on the board."""
        if user_id in self.assignments:
            return self.assignments[user_id]
        if user_id not in self.current:
            raise KeyError(f"score of {user_id!r} was not loaded")
        base = self.current[user_id]
        if user_id in self.increments:
            return (base or 0.0) + self.increments[user_id]
        return base

    def add(self, user_id: str, delta: float) -> None:
        if user_id in self.assignments:
            self.assignments[user_id] += delta
        else:
            self.increments[user_id] = self.increments.get(user_id, 0.0) + delta

    def set(self, user_id: str, value: float) -> None:
        self.increments.pop(user_id, None)
        self.assignments[user_id] = value

    def __bool__(self) -> bool:
        return bool(self.increments or self.assignments)


class Scoring(Protocol):
    """A product's leaderboard rule for one finished game."""

    name: ClassVar[str]
    #: True when `score_game` reads scores: the board must be loaded (and watched) first.
    reads_scores: ClassVar[bool]

    def score_game(self, board: Board, winner_id: str, loser_id: str) -> None: ...


class WinsScoring:
    """+1 for the winner; the loser is listed at its current score (0 if new)."""

    name: ClassVar[str] = "wins"
    reads_scores: ClassVar[bool] = False

    def score_game(self, board: Board, winner_id: str, loser_id: str) -> None:
        board.add(winner_id, 1.0)
        board.add(loser_id, 0.0)


def expected_score(rating: float, opponent_rating: float) -> float:
    """Elo's expected score (win probability) of a player against an opponent."""
    return 1.0 / (1.0 + 10.0 ** ((opponent_rating - rating) / 400.0))


def elo_update(
    winner_rating: float, loser_rating: float, k_factor: float = ELO_K_FACTOR
) -> tuple[float, float]:
    """New (winner, loser) ratings after a decisive game; the points won equal the points lost."""
    gain = k_factor * (1.0 - expected_score(winner_rating, loser_rating))
    return winner_rating + gain, loser_rating - gain


class EloScoring:
    """A real Elo rating: everyone starts at 1000, a win moves K * (1 - expected) points."""

    name: ClassVar[str] = "elo"
    reads_scores: ClassVar[bool] = True

    def __init__(
        self, k_factor: float = ELO_K_FACTOR, initial_rating: float = ELO_INITIAL_RATING
    ) -> None:
        self.k_factor = k_factor
        self.initial_rating = initial_rating

    def score_game(self, board: Board, winner_id: str, loser_id: str) -> None:
        winner = board.score(winner_id)
        loser = board.score(loser_id)
        new_winner, new_loser = elo_update(
            self.initial_rating if winner is None else winner,
            self.initial_rating if loser is None else loser,
            self.k_factor,
        )
        board.set(winner_id, new_winner)
        board.set(loser_id, new_loser)


SCORINGS: dict[str, type[WinsScoring] | type[EloScoring]] = {
    WinsScoring.name: WinsScoring,
    EloScoring.name: EloScoring,
}


def make_scoring(name: str) -> Scoring:
    """The scoring called `name` (`wins` or `elo`); ValueError for any other name."""
    try:
        return SCORINGS[name]()
    except KeyError:
        raise ValueError(
            f"unknown scoring {name!r} (known: {', '.join(sorted(SCORINGS))})"
        ) from None
