"""HTTP client for a game server's control API (spec "game_rps server: HTTP control API").

Every failure (unreachable, slow, an error status, a reply that is not the expected JSON) becomes a
GameServerError, which the API turns into a 400 for the player and curation logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests


class GameServerError(Exception):
    """The game server could not do what was asked; `status` is its HTTP status when it answered."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Seat:
    """A game server's answer to create_game or join_game: the game's token (stored with the game,
    the same for both players) and the player's own seat token (issue 13: seat credential), which
    the matchmaker hands to that player only and never stores; None from a game server that does
    not issue seat tokens."""

    game_token: str
    seat_token: str | None


class GameServerClient:
    def __init__(
        self,
        token: str,
        *,
        timeout: float = 3.0,
        session: requests.Session | None = None,
    ) -> None:
        self._token = token
        self._timeout = timeout
        self._session = session or requests.Session()

    def create_game(self, base_url: str, game_id: str, user_id: str, username: str) -> Seat:
        """Returns the game's token and the creator's seat token."""
        reply = self._post(
            base_url,
            "/create_game",
            {"gameId": game_id, "userId": user_id, "username": username},
        )
        return _seat(reply)

    def join_game(self, base_url: str, game_id: str, user_id: str, username: str) -> Seat:
        """Returns the game's token (the same one the creator got) and the player's seat token."""
        reply = self._post(
            base_url, "/join_game", {"gameId": game_id, "userId": user_id, "username": username}
        )
        return _seat(reply)

    def remove_game(self, base_url: str, game_id: str) -> None:
        """Removing a game the server does not know is a success (it answers `null`)."""
        self._post(base_url, "/remove_game", {"gameId": game_id})

    def remove_player(self, base_url: str, game_id: str, user_id: str) -> bool:
        """Returns whether the player was still in the game; a player already gone is a success."""
        try:
            reply = self._post(base_url, "/remove_player", {"gameId": game_id, "userId": user_id})
        except GameServerError as exc:
            if exc.status == 404:  # not in the game (any more): nothing left to remove
                return False
            raise
        return bool(isinstance(reply, dict) and reply.get("playerRemoved"))

    def _post(self, base_url: str, path: str, body: dict[str, str]) -> Any:
        url = base_url.rstrip("/") + path
        try:
            response = self._session.post(
                url,
                json=body,
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=self._timeout,
            )
        except requests.Timeout as exc:
            raise GameServerError(f"Game server did not answer in time ({path}).") from exc
        except requests.RequestException as exc:
            raise GameServerError(f"Game server is unreachable ({path}).") from exc
        if response.status_code != 200:
            raise GameServerError(
                f"Game server refused {path}: {_message(response)}", status=response.status_code
            )
        try:
            return response.json()
        except ValueError as exc:
            raise GameServerError(f"Game server sent an invalid reply to {path}.") from exc


def _seat(reply: Any) -> Seat:
    token = reply.get("gameToken") if isinstance(reply, dict) else None
    if not isinstance(token, str) or not token:
        raise GameServerError("Game server reply has no gameToken.")
    seat_token = reply.get("seatToken")
    if seat_token is not None and (not isinstance(seat_token, str) or not seat_token):
        raise GameServerError("Game server reply has an invalid seatToken.")
    return Seat(token, seat_token)


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return f"HTTP {response.status_code}"
