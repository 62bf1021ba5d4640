"""Player identity: the arcade portal's HS256 JWT carrying `user_id` and `username`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import jwt
from flask import abort, current_app, g, request

ALGORITHM = "HS256"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Player:
    user_id: str
    username: str


class AuthError(Exception):
    """Why a request carries no usable identity; the message goes back to the client with a 401."""


def decode_player_token(token: str, secret: str) -> Player:
    """Verify signature (and `exp` when present) and read the player's claims."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM])
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("Token has expired.") from exc
    except jwt.InvalidSignatureError as exc:
        raise AuthError("Token signature is invalid.") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError("Token is malformed.") from exc
    user_id = claims.get("user_id")
    username = claims.get("username")
    # Portals have issued numeric ids; the matchmaker treats every id as a string.
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user_id = str(user_id)
    if not isinstance(user_id, str) or not user_id:
        raise AuthError("Token has no user_id.")
    if not isinstance(username, str) or not username:
        raise AuthError("Token has no username.")
    return Player(user_id=user_id, username=username)


def player_from_header(header: str | None, secret: str) -> Player:
    """Read `Authorization: Bearer <jwt>`."""
    if not header:
        raise AuthError("Missing Authorization header.")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("Authorization header must be 'Bearer <token>'.")
    return decode_player_token(token, secret)


def issue_player_token(user_id: str, username: str, secret: str, **claims: Any) -> str:
    """Mint a player token (tests and local tools; the portal issues real ones)."""
    return jwt.encode({"user_id": user_id, "username": username, **claims}, secret, ALGORITHM)


def require_player(view: F) -> F:
    """Decorator: the view runs only with a valid player token, available as `g.player`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        secret = current_app.extensions["matchmaker"].config.jwt_secret
        try:
            g.player = player_from_header(request.headers.get("Authorization"), secret)
        except AuthError as exc:
            abort(401, description=str(exc))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
