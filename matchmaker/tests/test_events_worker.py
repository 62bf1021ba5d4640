"""The game-event worker reading a real stream (written with the library's EventProducer)."""

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
DEAD = f"{events.STREAM}:dead"
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
        worker.redis.close()


@pytest.fixture
def worker(make_worker) -> GameEventsWorker:
    worker = make_worker()
    yield worker
    worker.close()


def store(repo, clock, game_id="g1", state=events.CREATED, players=("c1",)) -> Game:
    game = Game.new(PRODUCT, creator_id="c1", creator_name="Carol", token="t", now=clock(),
                    game_id=game_id)  # fmt: skip
    game = Game.from_dict({**game.to_dict(), "state": state, "players": list(players)})
    repo.create(game)
    return game


def test_creator_joined_publishes_the_game_to_the_lobby(worker, producer, repo, clock):
    store(repo, clock)
    clock.advance(3)
    producer.publish(events.StateChange("exrps", "g1", new_state=events.CREATOR_JOINED))
    assert drain(worker) == 1
    game = repo.get("exrps", "g1")
    assert game.state == events.CREATOR_JOINED
    assert game.last_updated == clock()
    assert repo.list_ids("exrps", GameList.LOBBY) == ["g1"]
    assert repo.list_ids("exrps", GameList.PENDING) == []


def test_every_forward_state_is_applied_in_order(worker, producer, repo, clock):
    store(repo, clock, state=events.CREATOR_JOINED, players=("c1", "u2"))
    for state in (events.ALL_PLAYERS_JOINED, events.IN_PROGRESS, events.ENDED):
        producer.publish(events.StateChange("exrps", "g1", new_state=state))
    drain(worker)
    assert repo.get("exrps", "g1").state == events.ENDED
    assert repo.list_ids("exrps", GameList.ACTIVE) == ["g1"]


def test_an_invalid_transition_is_ignored_and_acked(worker, producer, repo, clock, stream_redis):
    before = store(repo, clock)
    clock.advance(3)
    producer.publish(events.StateChange("exrps", "g1", new_state=events.IN_PROGRESS))
    drain(worker)
    assert repo.get("exrps", "g1") == before
    assert stream_redis.xpending(events.STREAM, worker.group)["pending"] == 0
    assert stream_redis.xlen(DEAD) == 0


def test_events_for_unknown_games_create_nothing(worker, producer, data_redis):
    producer.publish_many(
        [
            events.StateChange("exrps", "ghost", new_state=events.CREATOR_JOINED),
            events.PlayerDisconnect("exrps", "ghost", player_id="u2"),
            events.GameRemoved("exrps", "ghost"),
        ]
    )
    assert drain(worker) == 3
    assert [k for k in data_redis.keys("*") if ":once:" not in k] == []


def test_game_removed_deletes_the_game_from_every_list(worker, producer, repo, clock):
    store(repo, clock, state=events.CREATOR_JOINED)
    producer.publish(events.GameRemoved("exrps", "g1"))
    drain(worker)
    assert repo.get("exrps", "g1") is None
    assert all(repo.list_ids("exrps", which) == [] for which in GameList)


def test_player_disconnect_relists_the_game_without_the_player(worker, producer, repo, clock):
    store(repo, clock, state=events.IN_PROGRESS, players=("c1", "u2"))
    clock.advance(10)
    producer.publish(events.PlayerDisconnect("exrps", "g1", player_id="u2"))
    drain(worker)
    game = repo.get("exrps", "g1")
    assert game.players == ("c1",)
    assert game.state == events.CREATOR_JOINED
    assert game.last_updated == clock()
    assert repo.list_ids("exrps", GameList.LOBBY) == ["g1"]


@pytest.mark.parametrize("player_id", ["c1", "stranger"])
def test_player_disconnect_of_the_host_or_a_stranger_changes_nothing(
    worker, producer, repo, clock, player_id
):
    before = store(repo, clock, state=events.ALL_PLAYERS_JOINED, players=("c1", "u2"))
    producer.publish(events.PlayerDisconnect("exrps", "g1", player_id=player_id))
    drain(worker)
    assert repo.get("exrps", "g1") == before


def test_unknown_and_foreign_events_are_ignored(worker, producer, repo, clock, stream_redis):
    before = store(repo, clock, state=events.ALL_PLAYERS_JOINED, players=("c1", "u2"))
    stream_redis.xadd(events.STREAM, {"product_id": "exrps", "game_id": "g1", "type": "teleport"})
    producer.publish_many(
        [
            events.GameOver("exrps", "g1", winner_id="c1", loser_id="u2"),
            events.WeaponSelected("exrps", "g1", user_id="c1", weapon=events.ROCK),
        ]
    )
    assert drain(worker) == 3
    assert repo.get("exrps", "g1") == before
    assert stream_redis.xpending(events.STREAM, worker.group)["pending"] == 0
    assert stream_redis.xlen(DEAD) == 0


def test_malformed_events_are_dead_lettered_and_the_next_one_still_applies(
    worker, producer, repo, clock, stream_redis
):
    store(repo, clock)
    stream_redis.xadd(events.STREAM, {"product_id": "exrps", "type": "state_change"})  # no game
    stream_redis.xadd(
        events.STREAM,
        {"product_id": "exrps", "game_id": "g1", "type": "state_change", "new_state": "nirvana"},
    )
    producer.publish(events.StateChange("exrps", "g1", new_state=events.CREATOR_JOINED))
    drain(worker)
    assert repo.get("exrps", "g1").state == events.CREATOR_JOINED
    assert stream_redis.xlen(DEAD) == 2
    assert stream_redis.xpending(events.STREAM, worker.group)["pending"] == 0


def test_a_redelivered_disconnect_after_a_rejoin_changes_nothing(
    make_worker, producer, repo, clock, stream_redis
):
    """The first worker applies player_disconnect and dies before its ack reaches Redis; the player
    joins again through the matchmaker; a second worker takes the stale entry over and must not
    remove the player a second time."""
    store(repo, clock, state=events.ALL_PLAYERS_JOINED, players=("c1", "u2"))
    producer.publish(events.PlayerDisconnect("exrps", "g1", player_id="u2"))
    # The crashed consumer's turn: its read (the entry is now pending for it) and its handler, then
    # death before the ack.
    crashed = make_worker(consumer="crashed")
    stream_redis.xgroup_create(events.STREAM, crashed.group, id="0")
    [[_, [(event_id, fields)]]] = stream_redis.xreadgroup(
        crashed.group, "crashed", {events.STREAM: ">"}, count=1
    )
    crashed.handle_event(event_id, fields)
    assert repo.get("exrps", "g1").players == ("c1",)
    assert stream_redis.xpending(events.STREAM, crashed.group)["pending"] == 1

    clock.advance(5)
    rejoined = repo.update("exrps", "g1", lambda g: g.with_player("u2", clock()))

    time.sleep(0.01)  # older than claim_idle_ms below
    survivor = make_worker(consumer="survivor", claim_idle_ms=1)
    assert survivor.run() == 1  # the stale entry, delivered again
    survivor.flush_acks()
    assert repo.get("exrps", "g1") == rejoined
    assert repo.get("exrps", "g1").players == ("c1", "u2")
    assert stream_redis.xpending(events.STREAM, survivor.group)["pending"] == 0
    survivor.close()


def test_handling_the_same_event_id_twice_applies_it_once(worker, repo, clock):
    store(repo, clock, state=events.ALL_PLAYERS_JOINED, players=("c1", "u2"))
    fields = events.PlayerDisconnect("exrps", "g1", player_id="u2").to_fields()
    worker.handle_event("1-1", fields)
    repo.update("exrps", "g1", lambda g: g.with_player("u2", clock()))
    worker.handle_event("1-1", fields)
    assert repo.get("exrps", "g1").players == ("c1", "u2")


def test_a_concurrent_api_update_during_the_workers_transaction_is_kept(
    worker, producer, repo, clock, data_redis, monkeypatch
):
    """An API request changes the game after the worker read it and before its EXEC: the worker's
    transaction (inside ExactlyOnce) must retry, and both changes must be in the stored game."""
    store(repo, clock)
    api = GameRepository(data_redis)
    real_transact = repo.transact
    calls = []

    def transact(pipe, product_id, game_id, change):
        outcome = real_transact(pipe, product_id, game_id, change)
        calls.append(outcome)
        if len(calls) == 1:  # the API's write lands between the worker's read and its EXEC
            api.update("exrps", "g1", lambda g: Game.from_dict(
                {**g.to_dict(), "settings": {**g.settings, "api": True}}))  # fmt: skip
        return outcome

    monkeypatch.setattr(repo, "transact", transact)
    producer.publish(events.StateChange("exrps", "g1", new_state=events.CREATOR_JOINED))
    drain(worker)
    assert len(calls) == 2  # retried once
    game = repo.get("exrps", "g1")
    assert game.state == events.CREATOR_JOINED
    assert game.settings["api"] is True
    assert repo.list_ids("exrps", GameList.LOBBY) == ["g1"]


# -- order: the game server's per-game seq ----------------------------------------------------


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
    store(repo, clock, state=events.CREATOR_JOINED, players=("c1", "u2"))
    producer.publish_many(lifecycle())
    drain(make_worker())
    game = repo.get(P, "g1")
    # the guest left at seq 3 (relisted without u2); all_players_joined again needs a valid step
    assert game.seq == 5
    assert "_seq" not in game.to_dict()  # never shown to clients


def test_an_event_ahead_of_its_predecessor_waits_for_it(make_worker, producer, repo, clock):
    """A replica holds seq 1 (alive, not yet applied) while we read seq 2: we wait, not refuse."""
    store(repo, clock, state=events.CREATOR_JOINED, players=("c1", "u2"))
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
    store(repo, clock, state=events.CREATOR_JOINED, players=("c1", "u2"))
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
    store(repo, clock, state=events.CREATOR_JOINED, players=("c1", "u2"))
    before = repo.get(P, "g1")
    clock.advance(5)
    producer.publish(events.FighterSelected(P, "g1", "c1", "aru", seq=1))
    drain(make_worker())
    after = repo.get(P, "g1")
    assert after.seq == 1 and after.last_updated == before.last_updated
    assert repo.list_ids(P, GameList.LOBBY) == [] and repo.list_ids(P, GameList.ACTIVE) == ["g1"]


def test_redelivered_events_change_nothing(make_worker, producer, repo, clock):
    store(repo, clock, state=events.CREATOR_JOINED, players=("c1", "u2"))
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
