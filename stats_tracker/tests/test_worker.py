"""The stats worker in-process against a real Redis: stream in db 8, stats in db 7."""

from __future__ import annotations

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from stats_tracker.events_worker import GROUP, StatsEventsWorker
from stats_tracker.repository import StatsRepository, leaderboard_key
from stats_tracker.scoring import ELO_INITIAL_RATING, elo_update
from varcade_workers.events import EventProducer
from varcade_workers.testing import free_port
from varcade_workers.testing import run_until_idle as drain

from varcade_workers import events

DEAD = f"{events.STREAM}:dead"


@pytest.fixture
def producer(stream_redis):
    return EventProducer(stream_redis)


@pytest.fixture
def make_worker(config, data_redis):
    made: list[StatsEventsWorker] = []

    def make(data=data_redis, **options) -> StatsEventsWorker:
        options.setdefault("block_ms", 10)
        options.setdefault("batch_size", 50)
        worker = StatsEventsWorker(config.event_stream_url, data, config.products, **options)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.redis.close()


@pytest.fixture
def worker(make_worker):
    return make_worker()


def pending(stream_redis: redis.Redis) -> int:
    return stream_redis.xpending(events.STREAM, GROUP)["pending"]


def stats(data_redis, product_id, user_id):
    names = ("games", "wins", "losses")
    if product_id == "exrps":
        names += tuple(f"{w}_selection_count" for w in ("rock", "paper", "scissors", "botch"))
    return StatsRepository(data_redis).player_counters(product_id, user_id, names)


def board(data_redis, product_id):
    return data_redis.zrange(leaderboard_key(product_id), 0, -1, desc=True, withscores=True)


def game_events(product_id, game_id, p1, p2, exchanges, winner):
    """A whole game as the game server writes it: joins, fighters, ready, rounds, game over."""
    loser = p2 if winner == p1 else p1
    out = [
        events.StateChange(product_id, game_id, events.CREATOR_JOINED),
        events.StateChange(product_id, game_id, events.ALL_PLAYERS_JOINED),
        events.FighterSelected(product_id, game_id, p1, "aru"),
        events.FighterSelected(product_id, game_id, p2, "rad"),
        events.PlayerReady(product_id, game_id, p1),
        events.PlayerReady(product_id, game_id, p2),
        events.StateChange(product_id, game_id, events.IN_PROGRESS),
    ]
    for round_exchanges in exchanges:
        out.append(events.RoundStarted(product_id, game_id, p1, p2))
        for w1, w2 in round_exchanges:
            out.append(events.WeaponSelected(product_id, game_id, p1, w1))
            out.append(events.WeaponSelected(product_id, game_id, p2, w2))
        out.append(events.RoundFinished(product_id, game_id, p1, p2, winner, loser))
    out += [
        events.GameOver(product_id, game_id, winner, loser),
        events.StateChange(product_id, game_id, events.ENDED),
        events.GameRemoved(product_id, game_id),
    ]
    return out


R, P, S, B = events.ROCK, events.PAPER, events.SCISSORS, None
# Two rounds won by player 1: 3 exchanges then 2 (one botch each side).
ALICE_WINS = [[(P, R), (R, R), (S, P)], [(R, B), (B, S)]]


def test_ignored_event_types_are_acked_and_change_nothing(
    worker, producer, stream_redis, data_redis
):
    producer.publish_many(
        [
            events.StateChange("exrps", "g1", events.CREATOR_JOINED),
            events.FighterSelected("exrps", "g1", "alice", "aru"),
            events.PlayerReady("exrps", "g1", "alice"),
            events.RoundStarted("exrps", "g1", "alice", "bob"),
            events.RoundFinished("exrps", "g1", "alice", "bob", "alice", "bob"),
            events.PlayerDisconnect("exrps", "g1", "bob"),
            events.GameRemoved("exrps", "g1"),
            events.WeaponSelected("rated", "g2", "carol", R),  # rated counts no weapons
        ]
    )
    stream_redis.xadd(events.STREAM, {"product_id": "exrps", "game_id": "g1", "type": "emote"})
    stream_redis.xadd(
        events.STREAM,
        {"product_id": "exrps", "game_id": "g1", "type": "gameplay", "event_name": "taunt"},
    )
    assert drain(worker) == 10
    assert pending(stream_redis) == 0
    assert data_redis.dbsize() == 0  # not even exactly-once markers
    assert stream_redis.xlen(DEAD) == 0


@pytest.mark.parametrize(
    ("weapon", "counter"),
    [(R, "rock"), (P, "paper"), (S, "scissors"), (B, "botch")],
)
def test_select_weapon_counts_its_weapon(worker, producer, data_redis, weapon, counter):
    producer.publish(events.WeaponSelected("exrps", "g1", "alice", weapon))
    drain(worker)
    assert stats(data_redis, "exrps", "alice")[f"{counter}_selection_count"] == 1
    assert sum(stats(data_redis, "exrps", "alice").values()) == 1


def test_game_over_scores_and_counts(worker, producer, data_redis):
    producer.publish(events.GameOver("exrps", "g1", "alice", "bob"))
    drain(worker)
    assert board(data_redis, "exrps") == [("alice", 1.0), ("bob", 0.0)]
    assert stats(data_redis, "exrps", "alice")["wins"] == 1
    assert stats(data_redis, "exrps", "bob")["losses"] == 1


def test_full_games_by_wins(worker, producer, stream_redis, data_redis):
    producer.publish_many(
        game_events("exrps", "g1", "alice", "bob", ALICE_WINS, winner="alice")
        + game_events("exrps", "g2", "carol", "alice", [[(R, P)], [(S, R)]], winner="alice")
    )
    drain(worker)
    assert pending(stream_redis) == 0
    assert board(data_redis, "exrps") == [("alice", 2.0), ("carol", 0.0), ("bob", 0.0)]
    assert stats(data_redis, "exrps", "alice") == {
        "games": 2,
        "wins": 2,
        "losses": 0,
        "rock_selection_count": 3,  # R, R in g1 ... + R in g2
        "paper_selection_count": 2,
        "scissors_selection_count": 1,
        "botch_selection_count": 1,
    }
    assert stats(data_redis, "exrps", "bob") == {
        "games": 1,
        "wins": 0,
        "losses": 1,
        "rock_selection_count": 2,
        "paper_selection_count": 1,
        "scissors_selection_count": 1,
        "botch_selection_count": 1,
    }
    assert stats(data_redis, "exrps", "carol")["losses"] == 1


def test_full_games_by_elo(worker, producer, data_redis):
    producer.publish_many(
        game_events("rated", "g1", "alice", "bob", ALICE_WINS, winner="alice")
        + game_events("rated", "g2", "bob", "carol", [[(R, S)], [(R, S)]], winner="bob")
        + game_events("rated", "g3", "alice", "carol", [[(R, P)], [(R, P)]], winner="carol")
    )
    drain(worker)
    ratings = dict.fromkeys(("alice", "bob", "carol"), ELO_INITIAL_RATING)
    for winner, loser in (("alice", "bob"), ("bob", "carol"), ("carol", "alice")):
        ratings[winner], ratings[loser] = elo_update(ratings[winner], ratings[loser])
    assert dict(board(data_redis, "rated")) == pytest.approx(ratings)
    assert stats(data_redis, "rated", "alice") == {"games": 2, "wins": 1, "losses": 1}


def test_elo_across_batches_reads_the_stored_ratings(make_worker, producer, data_redis):
    worker = make_worker(batch_size=1)
    producer.publish_many([events.GameOver("rated", f"g{n}", "alice", "bob") for n in range(3)])
    assert drain(worker) == 3
    rating = (ELO_INITIAL_RATING, ELO_INITIAL_RATING)
    for _ in range(3):
        rating = elo_update(*rating)
    assert dict(board(data_redis, "rated")) == pytest.approx(
        dict(zip(("alice", "bob"), rating, strict=True))
    )


@pytest.mark.parametrize("product_id", ["exrps", "rated"])
def test_an_event_delivered_again_after_a_crash_counts_once(
    make_worker, producer, stream_redis, data_redis, product_id
):
    producer.publish_many(
        [
            events.GameOver(product_id, "g1", "alice", "bob"),
            events.WeaponSelected(product_id, "g2", "carol", P),
        ]
    )
    crashed = make_worker(consumer="crashed")
    # The crashed consumer read the batch and applied it, then died before acking.
    crashed._create_group()
    entries = stream_redis.xreadgroup(GROUP, "crashed", {events.STREAM: ">"})[0][1]
    assert crashed.handle_batch(entries) == {}
    assert pending(stream_redis) == 2
    before = (board(data_redis, product_id), stats(data_redis, product_id, "alice"))

    survivor = make_worker(consumer="survivor", claim_idle_ms=1)
    assert drain(survivor) == 2  # taken over and handled (as already applied)
    assert pending(stream_redis) == 0
    assert (board(data_redis, product_id), stats(data_redis, product_id, "alice")) == before
    assert stats(data_redis, product_id, "alice")["games"] == 1


def test_malformed_and_unknown_product_events_are_dead_lettered_and_the_rest_counted(
    worker, producer, stream_redis, data_redis
):
    bad = [
        {"product_id": "exrps", "game_id": "g1", "type": "game_over", "winner_id": "alice"},
        {
            "product_id": "exrps",
            "game_id": "g1",
            "type": "gameplay",
            "event_name": "select_weapon",
            "event_data": "7",
            "user_id": "alice",
        },
        {
            "product_id": "exrps",
            "game_id": "g1",
            "type": "game_over",
            "winner_id": "a",
            "loser_id": "a",
        },
        {"game_id": "g1", "type": "game_over"},
        {
            "product_id": "chess",
            "game_id": "g9",
            "type": "game_over",
            "winner_id": "x",
            "loser_id": "y",
        },
    ]
    for fields in bad:
        stream_redis.xadd(events.STREAM, fields)
    producer.publish(events.GameOver("exrps", "g2", "alice", "bob"))
    assert drain(worker) == 1
    assert pending(stream_redis) == 0
    dead = stream_redis.xrange(DEAD)
    assert len(dead) == len(bad)
    assert "unknown product 'chess'" in dead[-1][1]["dl_error"]
    assert board(data_redis, "exrps") == [("alice", 1.0), ("bob", 0.0)]
    assert board(data_redis, "chess") == []


def test_redis_failure_leaves_counted_events_pending_for_a_retry(
    make_worker, producer, stream_redis, data_redis
):
    unreachable = redis.Redis(port=free_port(), decode_responses=True, retry=Retry(NoBackoff(), 0))
    broken = make_worker(data=unreachable)
    producer.publish_many(
        [
            events.GameOver("exrps", "g1", "alice", "bob"),
            events.StateChange("exrps", "g1", events.ENDED),
        ]
    )
    assert drain(broken) == 1  # the state change; the game over stays pending
    assert pending(stream_redis) == 1
    assert stream_redis.xlen(DEAD) == 0

    retry = make_worker(consumer="retry", claim_idle_ms=1)
    assert drain(retry) == 1
    assert pending(stream_redis) == 0
    assert board(data_redis, "exrps") == [("alice", 1.0), ("bob", 0.0)]
