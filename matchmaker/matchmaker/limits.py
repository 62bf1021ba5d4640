"""The lobby's abuse limits: per-player rates of create_game and join_game, and open games per
player. One player made 300 create_game calls in 3.8 s, all answered 200, and the game server held
300 games until curation purged them.

- Rates (`varcade_workers.ratelimit`, counted in the matchmaker's Redis, so shared by every gunicorn
  worker and replica): at most `CREATE_RATE_PER_MINUTE` (10) create_game and
  `JOIN_RATE_PER_MINUTE` (30) join_game calls per player per minute, per user id (never per
  address: players behind one NAT or proxy share an address). Past it: 429 JSON with
  `Retry-After` (seconds until the minute ends). Every call counts, refused ones included.
- Open games: a player has at most `MAX_OPEN_GAMES_PER_PLAYER` (3) games they created in a product
  that have not ended and are still there (waiting, full or playing). Past it: 409 JSON. Checked
  before the game server is asked, and again in the transaction that stores the game (two
  creates at once cannot both take the last place; the loser's game is removed from the server).

0 turns a limit off (benchmarks and load tests).
"""

from __future__ import annotations

from varcade_workers.ratelimit import RateLimiter
from werkzeug.exceptions import Conflict, TooManyRequests

from matchmaker.games import Game
from matchmaker.repository import TooManyOpenGames
from matchmaker.services import Services


def check_rate(limiter: RateLimiter, user_id: str, action: str) -> None:
    """Count one `action` of the player; raises a 429 (with Retry-After) past the limit."""
    decision = limiter.hit(user_id)
    if not decision.allowed:
        raise TooManyRequests(
            description=(
                f"Too many {action} requests: at most {decision.limit} a minute. "
                f"Try again in {decision.retry_after} s."
            ),
            retry_after=decision.retry_after,
        )


def before_create(services: Services, product_id: str, user_id: str) -> None:
    """The checks of create_game before the game server is asked: rate, then open games."""
    check_rate(services.create_limiter, user_id, "create_game")
    limit = services.config.max_open_games_per_player
    if limit and services.repository.open_game_count(product_id, user_id) >= limit:
        raise _too_many_open_games(limit)


def before_join(services: Services, user_id: str) -> None:
    check_rate(services.join_limiter, user_id, "join_game")


def store_new_game(services: Services, game: Game) -> None:
    """Store the game, counting its creator's open games in the same transaction (409)."""
    limit = services.config.max_open_games_per_player
    try:
        services.repository.create(game, max_open_per_creator=limit)
    except TooManyOpenGames as exc:
        raise _too_many_open_games(exc.limit) from exc


def _too_many_open_games(limit: int) -> Conflict:
    return Conflict(
        description=(
            f"You already have {limit} open games (created, not ended). "
            "Play, leave or wait for one of them to end before creating another."
        )
    )
