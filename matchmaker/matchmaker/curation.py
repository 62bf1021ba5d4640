"""Periodic curation: expired games are reset or purged, oldest first, and their game server is
told.

Fixed (spec): the old curation asked for the oldest games but read the newest; this one visits
expired games in order of their last update, oldest first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from matchmaker.game_servers import GameServerClient, GameServerError
from matchmaker.games import CurationAction, Game, curation_action
from matchmaker.repository import DELETE, GameRepository, Outcome
from varcade_workers import PeriodicWorker

log = logging.getLogger(__name__)


class CurationWorker(PeriodicWorker):
    def __init__(
        self,
        repository: GameRepository,
        game_servers: GameServerClient,
        product_ids: Iterable[str],
        *,
        interval_seconds: float = 5.0,
        batch: int = 100,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(interval_seconds, clock=monotonic, name="matchmaker-curation")
        self.repository = repository
        self.game_servers = game_servers
        self.product_ids = tuple(product_ids)
        self.batch = batch
        self.clock = clock

    def run_periodic(self) -> int:
        return sum(self.curate(product_id) for product_id in self.product_ids)

    def curate(self, product_id: str) -> int:
        """One pass over a product's expired games; returns how many were reset or purged."""
        now = self.clock()
        done = 0
        for game in self.repository.expired_games(product_id, now, self.batch):
            if self.curate_game(game, now) is not None:
                done += 1
        return done

    def curate_game(self, game: Game, now: float) -> CurationAction | None:
        """Decide again inside the transaction: the worker may have refreshed the game meanwhile."""
        decided: list[tuple[CurationAction, Game]] = []  # the committed attempt's decision

        def change(current: Game | None) -> Outcome:
            decided.clear()
            action = None if current is None else curation_action(current, now)
            if current is None or action is None:
                return None
            decided.append((action, current))
            return current.reset(now) if action is CurationAction.RESET else DELETE

        self.repository.update(game.product_id, game.game_id, change)
        if not decided:
            return None
        action, before = decided[0]
        self._tell_server(action, before)
        return action

    def _tell_server(self, action: CurationAction, game: Game) -> None:
        """After the commit: a server that is down must not keep a dead game listed."""
        base, pid, gid = game.game_server_url, game.product_id, game.game_id
        try:
            if action is CurationAction.RESET:
                for user_id in game.guests:
                    self.game_servers.remove_player(base, gid, user_id)
            else:
                self.game_servers.remove_game(base, gid)
        except GameServerError as exc:
            log.warning(
                "curation could not tell the game server",
                extra={"action": action.value, "product_id": pid, "game_id": gid,
                       "reason": str(exc)},
            )  # fmt: skip
        log.info(
            "game curated",
            extra={"action": action.value, "product_id": pid, "game_id": gid,
                   "state": game.state, "last_updated": game.last_updated},
        )  # fmt: skip
