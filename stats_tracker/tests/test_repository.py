"""The Redis adapter against a real Redis (db 7)."""

import pytest
from stats_tracker.repository import StatsRepository, leaderboard_key, stats_key
from stats_tracker.scoring import Board
from stats_tracker.updates import BatchUpdate


@pytest.fixture
def repository(data_redis):
    return StatsRepository(data_redis)


def test_top_is_at_most_the_count_highest_first(repository, data_redis):
    data_redis.zadd(leaderboard_key("exrps"), {f"user{n}": n for n in range(15)})
    top = repository.top("exrps", 10)
    assert len(top) == 10
    assert top[0] == ("user14", 14.0)
    assert [score for _, score in top] == sorted((score for _, score in top), reverse=True)
    assert repository.top("other", 10) == []


def test_score_and_rank(repository, data_redis):
    data_redis.zadd(leaderboard_key("exrps"), {"a": 3, "b": 7, "c": 5})
    assert repository.score_and_rank("exrps", "c") == (5.0, 1)
    assert repository.score_and_rank("exrps", "b") == (7.0, 0)
    assert repository.score_and_rank("exrps", "nobody") == (None, None)


def test_player_counters_fill_missing_with_zero(repository, data_redis):
    data_redis.hset(stats_key("exrps", "a"), mapping={"games": 4, "wins": 3})
    assert repository.player_counters("exrps", "a", ("games", "wins", "losses")) == {
        "games": 4,
        "wins": 3,
        "losses": 0,
    }
    assert repository.player_counters("exrps", "nobody", ("games",)) == {"games": 0}


def test_queue_update_writes_increments_assignments_and_counters(repository, data_redis):
    data_redis.zadd(leaderboard_key("exrps"), {"a": 2})
    update = BatchUpdate()
    update.board("exrps").add("a", 1)
    update.board("exrps").add("b", 0)
    update.board("rated").set("c", 1016.0123456789012)  # every digit kept
    update.counters["exrps", "a"]["games"] += 2
    pipe = data_redis.pipeline(transaction=True)
    repository.queue_update(pipe, update)
    pipe.execute()
    assert data_redis.zrange(leaderboard_key("exrps"), 0, -1, withscores=True) == [
        ("b", 0.0),
        ("a", 3.0),
    ]
    assert data_redis.zscore(leaderboard_key("rated"), "c") == 1016.0123456789012
    assert data_redis.hgetall(stats_key("exrps", "a")) == {"games": "2"}


def test_queue_update_declares_every_key_it_writes(repository, data_redis):
    """The script's keys travel in KEYS (as Redis requires), each once, none undeclared."""
    update = BatchUpdate()
    update.board("exrps").add("a", 1)
    update.board("rated").set("c", 1000.5)
    update.counters["exrps", "a"]["games"] += 1
    update.counters["exrps", "b"]["losses"] += 1
    pipe = data_redis.pipeline(transaction=True)
    repository.queue_update(pipe, update)
    ((args, _options),) = [(cmd[0], cmd[1]) for cmd in pipe.command_stack]
    assert args[0] == "EVAL"
    declared = list(args[3 : 3 + args[2]])
    written = [
        leaderboard_key("exrps"),
        leaderboard_key("rated"),
        stats_key("exrps", "a"),
        stats_key("exrps", "b"),
    ]
    assert sorted(declared) == sorted(written)
    pipe.execute()
    assert sorted(data_redis.keys("*")) == sorted(written)


def test_load_scores_reads_listed_and_unlisted_players_in_one_command(repository, data_redis):
    data_redis.zadd(leaderboard_key("rated"), {"c": 1016.0})
    with data_redis.pipeline() as pipe:
        pipe.watch(leaderboard_key("rated"))
        scores = repository.load_scores(pipe, "rated", {"c", "d"})
    assert scores == {"c": 1016.0, "d": None}
    assert Board(scores).score("d") is None
