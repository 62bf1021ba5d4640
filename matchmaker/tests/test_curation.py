"""Curation on a real Redis and a fake game server: reset or purge expired games, oldest first."""

from __future__ import annotations

import logging

import pytest
from conftest import CLIENT_TIMEOUT, DATA_DB, GAME_SERVER_TOKEN
from matchmaker.curation import CurationWorker
from matchmaker.game_servers import GameServerClient
from matchmaker.games import CurationAction, Game, GameList, Product
from matchmaker.repository import GameRepository
from varcade_workers.redis_clients import redis_client
from varcade_workers.testing import RedisServer

from varcade_workers import WorkerManager, events


@pytest.fixture
def repo(services):
    return services.repository


@pytest.fixture
def curation(services, clock):
    return CurationWorker(
        services.repository, services.game_servers, ["exrps"], interval_seconds=5, clock=clock
    )


def store(repo, game_server, clock, game_id, state, players=("c1",)) -> Game:
    """A game as the matchmaker and the fake server both know it, last updated now."""
    product = Product("exrps", game_server.url, "gs:8085", {"num_players": 2})
    game = Game.new(product, creator_id=players[0], creator_name="C", token="t", now=clock(),
                    game_id=game_id)  # fmt: skip
    game = Game.from_dict({**game.to_dict(), "state": state, "players": list(players)})
    repo.create(game)
    game_server.games[game_id] = {"token": "t", "players": list(players)}
    return game


def test_nothing_expired_nothing_done(curation, repo, game_server, clock):
    store(repo, game_server, clock, "g1", events.CREATOR_JOINED)
    clock.advance(59)
    assert curation.run_periodic() == 0
    assert game_server.calls == []
    assert repo.get("exrps", "g1") is not None


def test_full_game_expired_in_creator_joined_is_reset_and_the_player_removed(
    curation, repo, game_server, clock
):
    store(repo, game_server, clock, "g1", events.CREATOR_JOINED, players=("c1", "u2"))
    clock.advance(61)
    assert curation.run_periodic() == 1
    game = repo.get("exrps", "g1")
    assert game.players == ("c1",)
    assert game.state == events.CREATOR_JOINED
    assert game.last_updated == clock()
    assert repo.list_ids("exrps", GameList.LOBBY) == ["g1"]
    assert game_server.calls == [("/remove_player", {"gameId": "g1", "userId": "u2"})]
    assert game_server.games["g1"]["players"] == ["c1"]


@pytest.mark.parametrize(
    ("state", "players", "seconds"),
    [
        (events.CREATED, ("c1",), 60),
        (events.CREATOR_JOINED, ("c1",), 60),
        (events.ALL_PLAYERS_JOINED, ("c1", "u2"), 600),
        (events.IN_PROGRESS, ("c1", "u2"), 1200),
        (events.ENDED, ("c1", "u2"), 300),
    ],
)
def test_other_expired_games_are_purged_and_removed_from_the_server(
    curation, repo, game_server, clock, state, players, seconds
):
    store(repo, game_server, clock, "g1", state, players)
    clock.advance(seconds - 1)
    assert curation.run_periodic() == 0
    clock.advance(1)
    assert curation.run_periodic() == 1
    assert repo.get("exrps", "g1") is None
    assert all(repo.list_ids("exrps", which) == [] for which in GameList)
    assert game_server.calls == [("/remove_game", {"gameId": "g1"})]


def test_oldest_expired_games_are_visited_first(services, repo, game_server, clock):
    for game_id in ("oldest", "middle", "newest"):
        store(repo, game_server, clock, game_id, events.CREATOR_JOINED)
        clock.advance(10)
    store(repo, game_server, clock, "fresh", events.CREATOR_JOINED)
    clock.advance(55)  # the first three are 85, 75, 65 s old; "fresh" 55 s
    curation = CurationWorker(
        services.repository, services.game_servers, ["exrps"], batch=2, clock=clock
    )
    assert curation.run_periodic() == 2  # a batch of two: the two oldest
    assert [body["gameId"] for _, body in game_server.calls] == ["oldest", "middle"]
    assert curation.curate("exrps") == 1
    assert [body["gameId"] for _, body in game_server.calls] == ["oldest", "middle", "newest"]
    assert repo.list_ids("exrps", GameList.LOBBY) == ["fresh"]


def test_a_game_refreshed_since_it_was_read_is_left_alone(curation, repo, game_server, clock):
    game = store(repo, game_server, clock, "g1", events.CREATOR_JOINED, players=("c1", "u2"))
    clock.advance(61)
    # The worker applies all_players_joined after curation read the game, before its transaction.
    repo.update("exrps", "g1", lambda g: g.with_state(events.ALL_PLAYERS_JOINED, clock()))
    assert curation.curate_game(game, clock()) is None
    assert repo.get("exrps", "g1").players == ("c1", "u2")
    assert game_server.calls == []


def test_curation_survives_a_game_server_that_is_down(services, repo, game_server, clock):
    store(repo, game_server, clock, "g1", events.CREATED)
    clock.advance(60)
    unreachable = GameServerClient("token", timeout=0.2)
    game_server.stop()
    curation = CurationWorker(services.repository, unreachable, ["exrps"], clock=clock)
    assert curation.run_periodic() == 1
    assert repo.get("exrps", "g1") is None  # the lobby no longer lists a dead game


def test_player_already_gone_from_the_server_still_resets(curation, repo, game_server, clock):
    store(repo, game_server, clock, "g1", events.CREATOR_JOINED, players=("c1", "u2"))
    game_server.games["g1"]["players"] = ["c1"]  # the server removed the player already (404)
    clock.advance(60)
    assert curation.curate_game(repo.get("exrps", "g1"), clock()) is CurationAction.RESET
    assert repo.get("exrps", "g1").players == ("c1",)


def test_run_is_periodic(services, repo, game_server, clock):
    ticks = [100.0]
    curation = CurationWorker(
        services.repository, services.game_servers, ["exrps"], interval_seconds=5,
        clock=clock, monotonic=lambda: ticks[0],
    )  # fmt: skip
    store(repo, game_server, clock, "g1", events.CREATED)
    clock.advance(60)
    store(repo, game_server, clock, "g2", events.CREATED)
    assert curation.run() == 1
    clock.advance(60)
    assert curation.run() == 0  # not due yet
    ticks[0] += 5
    assert curation.run() == 1


def test_a_redis_outage_is_one_warning_then_one_info_line(game_server, clock, caplog):
    """The worker process runs curation through a WorkerManager every 5 s: while Redis is down
    that is one warning when the outage starts (no traceback, nothing more while it lasts) and
    one info line when curation works again."""
    caplog.set_level(logging.INFO)
    ticks = [0.0]
    with RedisServer(appendonly=True) as server:  # the game survives the restart
        client = redis_client(f"{server.url}/{DATA_DB}")
        repo = GameRepository(client)
        servers = GameServerClient(GAME_SERVER_TOKEN, timeout=CLIENT_TIMEOUT)
        curation = CurationWorker(repo, servers, ["exrps"], interval_seconds=5, clock=clock,
                                  monotonic=lambda: ticks[0])  # fmt: skip
        manager = WorkerManager().register_worker(curation)

        def turn() -> int:
            done = manager.run_workers()
            ticks[0] += 5
            return done

        store(repo, game_server, clock, "g1", events.CREATED)
        assert turn() == 0 and not curation.failing
        server.stop()
        clock.advance(60)  # g1 expires during the outage
        assert [turn() for _ in range(6)] == [0] * 6  # 30 s of outage
        assert curation.failing and curation.failing_since == 5.0 and curation.failed_runs == 6
        assert curation.failing_for() == 30.0
        server.start()
        assert turn() == 1  # curation works again: the expired game is purged
        assert not curation.failing and curation.failing_since is None
        assert repo.get("exrps", "g1") is None
        assert game_server.calls == [("/remove_game", {"gameId": "g1"})]
        client.close()
    unavailable = [r for r in caplog.records if "event=periodic_unavailable" in r.getMessage()]
    recovered = [r for r in caplog.records if "event=periodic_recovered" in r.getMessage()]
    assert len(unavailable) == 1 and len(recovered) == 1
    assert unavailable[0].levelno == logging.WARNING and unavailable[0].exc_info is None
    assert "worker=matchmaker-curation" in unavailable[0].getMessage()
    assert "ConnectionError" in unavailable[0].getMessage()
    assert recovered[0].levelno == logging.INFO and "failed_runs=6" in recovered[0].getMessage()
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
