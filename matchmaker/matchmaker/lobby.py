"""The matchmaker HTTP API (spec "Matchmaker HTTP API"): create, join and list games."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from flask import Blueprint, Response, abort, current_app, g, jsonify, request

from matchmaker import limits
from matchmaker.auth import Player, require_player
from matchmaker.game_servers import GameServerError, Seat
from matchmaker.games import Game, JoinRefused, Product, check_can_join, new_game_id
from matchmaker.repository import Outcome
from matchmaker.services import Services

log = logging.getLogger(__name__)

bp = Blueprint("lobby", __name__, url_prefix="/game_lobby")

_INTEGER = re.compile(r"[0-9]+")
# Redis list indexes are 64-bit: a page beyond this holds nothing, whatever its number.
_MAX_OFFSET = 2**62


def _services() -> Services:
    services: Services = current_app.extensions["matchmaker"]
    return services


def _product(product_id: str) -> Product:
    product = _services().config.products.get(product_id)
    if product is None:
        abort(400, description=f"Invalid product Id: {product_id!r} is not a known product.")
    return product


def _index_arg(name: str, default: int) -> int:
    """A non-negative integer query argument; anything else is the client's error. A large one is
    valid (count is capped, a far page is empty), never a 400 or a Redis error."""
    text = request.args.get(name)
    if text is None:
        return default
    digits = text.strip()
    if not _INTEGER.fullmatch(digits):
        abort(400, description=f"{name} must be a non-negative integer, got {text!r}.")
    # Past 18 digits the exact value no longer matters (and int() refuses thousands of digits).
    return int(digits) if len(digits) <= 18 else _MAX_OFFSET + 1


def _on_game_server(
    call: Callable[[str, str, str, str], Seat],
    verb: str,
    url: str,
    product_id: str,
    game_id: str,
    player: Player,
) -> Seat:
    """``call(url, game_id, user_id, username)`` (the game server's create_game or join_game): a
    refusal or an unreachable server is the player's 400, logged with the reason."""
    try:
        return call(url, game_id, player.user_id, player.username)
    except GameServerError as exc:
        log.warning(
            f"game server refused {verb}_game",
            extra={"product_id": product_id, "game_id": game_id, "user_id": player.user_id,
                   "reason": str(exc)},
        )  # fmt: skip
        abort(400, description=f"Could not {verb} the game: {exc}")


@bp.post("/<product_id>/create_game")
@require_player
def create_game(product_id: str) -> Response:
    services = _services()
    product = _product(product_id)
    player = g.player
    limits.before_create(services, product_id, player.user_id)  # 429 / 409
    game_id = new_game_id()
    create = services.game_servers.create_game
    seat = _on_game_server(create, "create", product.game_server_url, product_id, game_id, player)
    game = Game.new(
        product,
        creator_id=player.user_id,
        creator_name=player.username,
        token=seat.game_token,
        now=services.clock(),
        game_id=game_id,
    )
    try:
        limits.store_new_game(services, game)  # 409 if another create took the last place
    except Exception:
        # The server holds a game nobody can find: take it back before reporting the failure.
        _forget_game_on_server(services, game)
        raise
    log.info(
        "game created",
        extra={"product_id": product_id, "game_id": game_id, "user_id": player.user_id},
    )
    return _with_seat(game, seat)


@bp.post("/<product_id>/join_game/<game_id>")
@require_player
def join_game(product_id: str, game_id: str) -> Response:
    services = _services()
    _product(product_id)
    player = g.player
    limits.before_join(services, player.user_id)  # 429
    game = services.repository.get(product_id, game_id)
    if game is None:
        abort(404, description=f"Game {game_id} not found.")
    try:
        check_can_join(game, player.user_id)
    except JoinRefused as exc:
        abort(400, description=str(exc))
    join = services.game_servers.join_game
    seat = _on_game_server(join, "join", game.game_server_url, product_id, game_id, player)

    now = services.clock()

    def add_player(current: Game | None) -> Outcome:
        if current is None:
            raise JoinRefused(f"Game {game_id} was removed.")
        return current.with_player(player.user_id, now)

    try:
        joined = services.repository.update(product_id, game_id, add_player)
    except JoinRefused as exc:
        # The game changed between our check and the transaction (e.g. someone else joined first).
        _forget_player_on_server(services, game, player.user_id)
        abort(400, description=str(exc))
    except Exception:
        _forget_player_on_server(services, game, player.user_id)
        raise
    assert isinstance(joined, Game)
    log.info(
        "game joined",
        extra={"product_id": product_id, "game_id": game_id, "user_id": player.user_id},
    )
    return _with_seat(joined, seat)


def _with_seat(game: Game, seat: Seat) -> Response:
    """The game as its player gets it, with that player's own seat token (`seat_token`, an added
    field; null from a game server that issues none). The seat token is this answer's only: it is
    not stored with the game, so neither open_games nor the other player ever sees it."""
    return jsonify({**game.to_dict(), "seat_token": seat.seat_token})


@bp.get("/<product_id>/open_games")
def open_games(product_id: str) -> Response:
    services = _services()
    _product(product_id)
    config = services.config
    count = min(_index_arg("count", config.open_games_default_count), config.open_games_max_count)
    page = _index_arg("page", 0)
    offset = page * count
    if offset > _MAX_OFFSET:
        return jsonify([])
    games = services.repository.open_games(product_id, offset=offset, count=count)
    return jsonify([game.to_public_dict() for game in games])


def _forget_game_on_server(services: Services, game: Game) -> None:
    try:
        services.game_servers.remove_game(game.game_server_url, game.game_id)
        log.warning(
            "game removed from its server after a failed store",
            extra={"product_id": game.product_id, "game_id": game.game_id},
        )
    except GameServerError as exc:
        log.error(
            "could not remove the game from its server after a failed store",
            extra={"product_id": game.product_id, "game_id": game.game_id, "reason": str(exc)},
        )


def _forget_player_on_server(services: Services, game: Game, user_id: str) -> None:
    try:
        services.game_servers.remove_player(game.game_server_url, game.game_id, user_id)
        log.warning(
            "player removed from the server after a failed join",
            extra={"product_id": game.product_id, "game_id": game.game_id, "user_id": user_id},
        )
    except GameServerError as exc:
        log.error(
            "could not remove the player from the server after a failed join",
            extra={"product_id": game.product_id, "game_id": game.game_id, "user_id": user_id,
                   "reason": str(exc)},
        )  # fmt: skip
