"""The Redis data layer on a real Redis: lists, order, expiry index, optimistic transactions."""

from __future__ import annotations

import threading

import pytest
from matchmaker.games import Game, GameList, Product
from matchmaker.repository import DELETE, GameExists, GameRepository

from varcade_workers import events

PRODUCT = Product("exrps", "http://gs", "gs:8085", {"num_players": 2})
T0 = 1_700_000_000.0


@pytest.fixture
def repo(data_redis) -> GameRepository:
    return GameRepository(data_redis)


def lobby_game(repo: GameRepository, game_id: str, at: float) -> Game:
    game = Game.new(PRODUCT, creator_id=f"c-{game_id}", creator_name="C", token="t", now=at,
                    game_id=game_id)  # fmt: skip
    repo.create(game)
    return repo.update("exrps", game_id, lambda g: g.with_state(events.CREATOR_JOINED, at))


def test_create_stores_pending_and_refuses_a_taken_id(repo):
    game = Game.new(PRODUCT, creator_id="c1", creator_name="C", token="t", now=T0, game_id="g1")
    repo.create(game)
    assert repo.get("exrps", "g1") == game
    assert repo.list_ids("exrps", GameList.PENDING) == ["g1"]
    assert repo.list_ids("exrps", GameList.LOBBY) == []
    with pytest.raises(GameExists):
        repo.create(game)
    assert repo.get("other", "g1") is None  # games are per product


def test_a_game_is_in_exactly_the_list_its_state_says(repo):
    lobby_game(repo, "g1", T0)
    assert repo.list_ids("exrps", GameList.PENDING) == []
    assert repo.list_ids("exrps", GameList.LOBBY) == ["g1"]
    repo.update("exrps", "g1", lambda g: g.with_player("u2", T0 + 1))
    assert repo.list_ids("exrps", GameList.LOBBY) == []
    assert repo.list_ids("exrps", GameList.ACTIVE) == ["g1"]
    repo.update("exrps", "g1", lambda g: DELETE)
    assert repo.get("exrps", "g1") is None
    assert all(repo.list_ids("exrps", which) == [] for which in GameList)
    assert repo.redis.zcard(repo.expiry_key("exrps")) == 0


def test_open_games_oldest_first_and_paged(repo):
    for index, at in enumerate([T0 + 30, T0 + 10, T0 + 20, T0 + 40]):
        lobby_game(repo, f"g{index}", at)
    ids = [g.game_id for g in repo.open_games("exrps", offset=0, count=10)]
    assert ids == ["g1", "g2", "g0", "g3"]
    assert [g.game_id for g in repo.open_games("exrps", offset=2, count=2)] == ["g0", "g3"]
    assert repo.open_games("exrps", offset=4, count=2) == []
    assert repo.open_games("exrps", offset=0, count=0) == []


def test_expired_games_are_found_oldest_first(repo):
    lobby_game(repo, "young", T0 + 50)
    lobby_game(repo, "old", T0)
    lobby_game(repo, "middle", T0 + 10)
    playing = lobby_game(repo, "playing", T0 - 100)  # all_players_joined lives 600 s
    repo.update("exrps", playing.game_id, lambda g: g.with_player("u2", T0 - 100))
    repo.update("exrps", "playing", lambda g: g.with_state(events.ALL_PLAYERS_JOINED, T0 - 100))
    expired = repo.expired_games("exrps", T0 + 75, limit=10)
    assert [g.game_id for g in expired] == ["old", "middle"]
    assert [g.game_id for g in repo.expired_games("exrps", T0 + 500, limit=10)] == [
        "playing", "old", "middle", "young",
    ]  # fmt: skip
    # A limit takes the least recently updated, not the first to expire ("old" expired at T0 + 60,
    # "playing" only at T0 + 500, but "playing" has waited longest).
    assert [g.game_id for g in repo.expired_games("exrps", T0 + 500, limit=1)] == ["playing"]
    assert [g.game_id for g in repo.expired_games("exrps", T0 + 500, limit=2)] == [
        "playing", "old",
    ]  # fmt: skip


def test_an_exception_in_the_change_writes_nothing(repo):
    lobby_game(repo, "g1", T0)

    def boom(game):
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        repo.update("exrps", "g1", boom)
    assert repo.get("exrps", "g1").state == events.CREATOR_JOINED


def test_a_conflicting_write_is_not_lost(repo, data_redis):
    """The first change reads the game, then another client changes it before the commit: the first
    transaction must retry on the new value, so both changes survive."""
    lobby_game(repo, "g1", T0)
    other = GameRepository(data_redis)
    attempts = []

    def join(game):
        attempts.append(game)
        if len(attempts) == 1:  # interleave the worker's state change between read and commit
            other.update("exrps", "g1", lambda g: g.with_state(events.ALL_PLAYERS_JOINED, T0 + 5))
        return (
            game.with_player("u2", T0 + 6)
            if game.state == events.CREATOR_JOINED
            else (Game.from_dict({**game.to_dict(), "players": [*game.players, "u2"]}))
        )

    repo.update("exrps", "g1", join)
    assert len(attempts) == 2
    final = repo.get("exrps", "g1")
    assert final.state == events.ALL_PLAYERS_JOINED
    assert final.players == ("c-g1", "u2")


def test_concurrent_updates_from_threads_all_survive(repo, data_redis):
    """Many clients append to one game's settings at once; every append must be there."""
    lobby_game(repo, "g1", T0)
    writers = 8
    per_writer = 10
    barrier = threading.Barrier(writers)

    def append(tag: str):
        def change(game):
            seen = list(game.settings.get("tags", []))
            settings = {**game.settings, "tags": [*seen, tag]}
            return Game.from_dict({**game.to_dict(), "settings": settings})

        return change

    def writer(index: int):
        own = GameRepository(data_redis)
        barrier.wait()
        for n in range(per_writer):
            own.update("exrps", "g1", append(f"{index}-{n}"))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    tags = repo.get("exrps", "g1").settings["tags"]
    assert sorted(tags) == sorted(f"{i}-{n}" for i in range(writers) for n in range(per_writer))
