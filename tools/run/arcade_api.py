"""The arcade's HTTP APIs as a player sees them: a token, the lobby, the leaderboard, the stats.

Used by `make demo` and the end-to-end tests (their scripted players: tools/run/scripted.py), so
both talk to the services the way the page does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from tools.run.stack import PRODUCT_ID


class ArcadeError(RuntimeError):
    """A service answered with an error; `status` and the service's JSON `message` are kept."""

    def __init__(self, status: int, message: str, url: str) -> None:
        super().__init__(f"{status} from {url}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Player:
    """A signed-in player: what /dev/token returned."""

    user_id: str
    username: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def socket_base(game: dict[str, Any]) -> str:
    """The game's WebSocket address as ws://host:port (the matchmaker gives host:port)."""
    target = str(game["target_game_server"]).rstrip("/")
    return target if "://" in target else f"ws://{target}"


class Arcade:
    """Clients of the page's token service, the matchmaker and the stats tracker."""

    def __init__(
        self,
        page_url: str,
        matchmaker_url: str,
        stats_url: str,
        product_id: str = PRODUCT_ID,
        timeout: float = 10.0,
    ) -> None:
        self.page_url = page_url.rstrip("/")
        self.matchmaker_url = matchmaker_url.rstrip("/")
        self.stats_url = stats_url.rstrip("/")
        self.product_id = product_id
        self.timeout = timeout
        self.http = requests.Session()

    def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self.http.request(method, url, timeout=self.timeout, **kwargs)
        if response.status_code != 200:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise ArcadeError(response.status_code, str(message), url)
        return response.json()

    def sign_in(self, username: str) -> Player:
        """A development token from the page's server (`POST /dev/token`)."""
        body = self._call("POST", f"{self.page_url}/dev/token", json={"username": username})
        return Player(body["user_id"], body["username"], body["token"])

    def create_game(self, host: Player) -> dict[str, Any]:
        url = f"{self.matchmaker_url}/game_lobby/{self.product_id}/create_game"
        return dict(self._call("POST", url, headers=host.auth))

    def join_game(self, player: Player, game_id: str) -> dict[str, Any]:
        url = f"{self.matchmaker_url}/game_lobby/{self.product_id}/join_game/{game_id}"
        return dict(self._call("POST", url, headers=player.auth))

    def open_games(self, count: int = 25, page: int = 0) -> list[dict[str, Any]]:
        url = f"{self.matchmaker_url}/game_lobby/{self.product_id}/open_games"
        return list(self._call("GET", url, params={"count": count, "page": page}))

    def open_game_ids(self) -> list[str]:
        return [g["game_id"] for g in self.open_games()]

    def listed(self, game_id: str) -> bool:
        """Whether the lobby lists the game (only while it waits for a second player)."""
        return game_id in self.open_game_ids()

    def top_ten(self) -> list[dict[str, Any]]:
        return list(self._call("GET", f"{self.stats_url}/leaderboards/top_ten/{self.product_id}"))

    def stats(self, user_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"{self.stats_url}/stats/{self.product_id}/{user_id}"))
