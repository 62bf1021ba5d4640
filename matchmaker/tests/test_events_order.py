"""The game-event worker applies each game's events in the game server's order (`seq`)."""

from __future__ import annotations

import time

import pytest
from matchmaker.events_worker import GameEventsWorker
from matchmaker.games import Game, GameList, Product
from matchmaker.repository import GameRepository
from varcade_workers.events import EventProducer
from varcade_workers.stream_worker import heartbeat_key
from varcade_workers.testing import run_until_idle as drain

from varcade_workers import Defer, events

PRODUCT = Product("exrps", "http://gs", "gs:8085", {"num_players": 2})
P = "exrps"


@pytest.fixture
def repo(data_redis) -> GameRepository:
    return GameRepository(data_redis)


@pytest.fixture
def producer(stream_redis) -> EventProducer:
    return EventProducer(stream_redis)


@pytest.fixture
def make_worker(redis_base, repo, clock, stream_redis):
    made = []

    def make(**options) -> GameEventsWorker:
        options.setdefault("block_ms", 10)
        worker = GameEventsWorker(f"{redis_base}/6", repo, clock=clock, **options)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.close()
        worker.redis.close()


def store(repo, clock, game_id="g1", state=events.CREATOR_JOINED, players=("c1", "u2")) -> Game:
    game = Game.new(PRODUCT, creator_id="c1", creator_name="Carol", token="t", now=clock(),
                    game_id=game_id)  # fmt: skip
    game = Game.from_dict({**game.to_dict(), "state": state, "players": list(players)})
    repo.create(game)
    return game


def lifecycle(game_id="g1"):
    """joined, the guest leaves, joins again, the battle starts: seq 1..5 with gameplay between."""
    return [
        events.StateChange(P, game_id, events.ALL_PLAYERS_JOINED, seq=1),
        events.FighterSelected(P, game_id, "c1", "aru", seq=2),
        events.PlayerDisconnect(P, game_id, "u2", seq=3),
        events.StateChange(P, game_id, events.ALL_PLAYERS_JOINED, seq=4),
        events.StateChange(P, game_id, events.IN_PROGRESS, seq=5),
    ]


def test_events_in_order_advance_the_applied_seq(make_worker, producer, repo, clock):
    store(repo, clock)
    producer.publish_many(lifecycle())
    drain(make_worker())
    game = repo.get(P, "g1")
    # the guest left at seq 3 (relisted without u2); all_players_joined again needs a valid step
    assert game.seq == 5
    assert "_seq" not in game.to_dict()  # never shown to clients


def test_an_event_ahead_of_its_predecessor_waits_for_it(make_worker, producer, repo, clock):
    """A replica holds seq 1 (alive, not yet applied) while we read seq 2: we wait, not refuse."""
    store(repo, clock)
    ours = make_worker(consumer="ours")
    ours.run()  # group created, nothing yet
    stream = ours.redis
    producer_6 = EventProducer(stream)
    producer_6.publish(events.StateChange(P, "g1", events.ALL_PLAYERS_JOINED, seq=1))
    stream.xreadgroup("matchmaker", "replica", {events.STREAM: ">"}, count=1)
    stream.set(heartbeat_key(events.STREAM, "matchmaker", "replica"), "alive", px=60_000)
    producer_6.publish(events.StateChange(P, "g1", events.IN_PROGRESS, seq=2))
    ours.run()
    assert repo.get(P, "g1").state == events.CREATOR_JOINED  # deferred, not refused
    assert ours.stats.failed == 0
    replica = make_worker(consumer="replica")  # the replica goes on: its own pending first
    replica._starting = False  # (its startup wait for live holders is the library's, tested there)
    replica.run()
    assert repo.get(P, "g1").state == events.ALL_PLAYERS_JOINED
    time.sleep(ours.defer_retry_s + 0.05)  # the deferred event is handed back shortly
    drain(ours)
    game = repo.get(P, "g1")
    assert (game.state, game.seq) == (events.IN_PROGRESS, 2)
    assert int(stream.xpending(events.STREAM, "matchmaker")["pending"]) == 0


def test_the_rule_itself(repo, clock):
    """Unit view of the rule: stale ignored, a gap deferred until the wait is over."""
    store(repo, clock)
    worker = GameEventsWorker("redis://127.0.0.1:1/0", repo, clock=clock, order_wait_seconds=0.0)
    fields = events.StateChange(P, "g1", events.ALL_PLAYERS_JOINED, seq=3).to_fields()
    worker.handle_event("1-1", fields)  # seq 3 after 0, waited "long enough" (0 s): applied
    game = repo.get(P, "g1")
    assert (game.state, game.seq) == (events.ALL_PLAYERS_JOINED, 3)
    stale = events.PlayerDisconnect(P, "g1", "u2", seq=2).to_fields()
    worker.handle_event("1-2", stale)  # older than what was applied: ignored
    assert repo.get(P, "g1") == game
    worker.order_wait_seconds = 60.0
    ahead = events.StateChange(P, "g1", events.IN_PROGRESS, seq=5).to_fields()
    with pytest.raises(Defer, match="waits for 4"):
        worker.handle_event("1-3", ahead)
    assert repo.get(P, "g1") == game


def test_gameplay_moves_only_the_applied_seq(make_worker, producer, repo, clock):
    store(repo, clock)
    before = repo.get(P, "g1")
    clock.advance(5)
    producer.publish(events.FighterSelected(P, "g1", "c1", "aru", seq=1))
    drain(make_worker())
    after = repo.get(P, "g1")
    assert after.seq == 1 and after.last_updated == before.last_updated
    assert repo.list_ids(P, GameList.LOBBY) == [] and repo.list_ids(P, GameList.ACTIVE) == ["g1"]


def test_redelivered_events_change_nothing(make_worker, producer, repo, clock):
    store(repo, clock)
    first = events.PlayerDisconnect(P, "g1", "u2", seq=1)
    producer.publish(first)
    drain(make_worker())
    relisted = repo.get(P, "g1")
    assert relisted.list is GameList.LOBBY and relisted.players == ("c1",)
    game = relisted.with_player("u3", clock())  # a new guest joins through the API
    repo.update(P, "g1", lambda _: game)
    producer.publish(first)  # the same event again (a crash between write and ack)
    drain(make_worker())
    assert repo.get(P, "g1").players == ("c1", "u3")
