"""Player identity: the arcade portal's HS256 JWT carrying `user_id` and `username`.

Signature and claims are checked by `varcade_workers.player_tokens` (the rules the game page's dev
tokens follow too): `exp` required unless `JWT_REQUIRE_EXP=false`, `iss` / `aud` / age when
`JWT_ISSUER` / `JWT_AUDIENCE` / `JWT_MAX_AGE_SECONDS` are set. Any failure is a 401 JSON answer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import abort, current_app, g, request
from varcade_workers.player_tokens import InvalidToken, TokenRules

from varcade_workers import events, names, player_tokens

ALGORITHM = player_tokens.ALGORITHM

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Player:
    user_id: str
    username: str


class AuthError(Exception):
    """Why a request carries no usable identity; the message goes back to the client with a 401."""


def decode_player_token(token: str, secret: str, rules: TokenRules | None = None) -> Player:
    """Verify the signature and the claims `rules` ask for (default: `exp` required), and read the
    player's claims."""
    try:
        claims = player_tokens.verify(token, secret, rules)
    except InvalidToken as exc:
        raise AuthError(str(exc)) from exc
    user_id = claims.get("user_id")
    username = claims.get("username")
    # Portals have issued numeric ids; the matchmaker treats every id as a string.
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user_id = str(user_id)
    if not isinstance(user_id, str) or not user_id:
        raise AuthError("Token has no user_id.")
    if not isinstance(username, str) or not username:
        raise AuthError("Token has no username.")
    try:
        # Ids travel into the stream and Redis keys; names are shown to other players.
        events.check_id(user_id, "the token's user_id")
        username = names.check_username(username)
    except ValueError as exc:  # InvalidUsername is a ValueError too
        raise AuthError(f"Invalid token: {exc}") from None
    return Player(user_id=user_id, username=username)


def player_from_header(header: str | None, secret: str, rules: TokenRules | None = None) -> Player:
    """Read `Authorization: Bearer <jwt>`."""
    if not header:
        raise AuthError("Missing Authorization header.")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("Authorization header must be 'Bearer <token>'.")
    return decode_player_token(token, secret, rules)


def issue_player_token(
    user_id: str, username: str, secret: str, *, rules: TokenRules | None = None, **claims: Any
) -> str:
    """Mint a player token (tests and local tools; the portal issues real ones): `iat`, `exp` in
    24 h and the rules' `iss` / `aud`, unless `claims` say otherwise."""
    return player_tokens.issue({"user_id": user_id, "username": username, **claims}, secret, rules)


def require_player(view: F) -> F:
    """Decorator: the view runs only with a valid player token, available as `g.player`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        config = current_app.extensions["matchmaker"].config
        header = request.headers.get("Authorization")
        try:
            g.player = player_from_header(header, config.jwt_secret, config.token_rules)
        except AuthError as exc:
            abort(401, description=str(exc))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
