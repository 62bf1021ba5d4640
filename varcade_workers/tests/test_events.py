"""The event schema: fields in the spec's order, round trips, rejections, and the producer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
import redis.asyncio

from varcade_workers import DeadLetter
from varcade_workers import events as ev

P, G = "exrps", "game-1"

# Each event with the exact fields (and order) the spec lists for it.
CASES: list[tuple[ev.Event, list[tuple[str, str]]]] = [
    (
        ev.StateChange(P, G, ev.CREATOR_JOINED),
        [("new_state", "creator_joined")],
    ),
    (
        ev.FighterSelected(P, G, user_id="u1", character_id="aru"),
        [("event_name", "select_fighter"), ("event_data", "aru"), ("user_id", "u1")],
    ),
    (
        ev.PlayerReady(P, G, user_id="u1"),
        [("event_name", "set_ready"), ("event_data", ""), ("user_id", "u1")],
    ),
    (
        ev.WeaponSelected(P, G, user_id="u2", weapon=ev.SCISSORS),
        [("event_name", "select_weapon"), ("event_data", "2"), ("user_id", "u2")],
    ),
    (
        ev.WeaponSelected(P, G, user_id="u2", weapon=None),
        [("event_name", "select_weapon"), ("event_data", "null"), ("user_id", "u2")],
    ),
    (
        ev.RoundStarted(P, G, p1_id="u1", p2_id="u2"),
        [
            ("event_name", "progression"),
            ("progress_event", "round_started"),
            ("p1_id", "u1"),
            ("p2_id", "u2"),
        ],
    ),
    (
        ev.RoundFinished(P, G, p1_id="u1", p2_id="u2", round_winner_id="u2", round_loser_id="u1"),
        [
            ("event_name", "progression"),
            ("progress_event", "round_finished"),
            ("p1_id", "u1"),
            ("p2_id", "u2"),
            ("round_winner_id", "u2"),
            ("round_loser_id", "u1"),
        ],
    ),
    (ev.GameOver(P, G, winner_id="u1", loser_id="u2"), [("winner_id", "u1"), ("loser_id", "u2")]),
    (ev.PlayerDisconnect(P, G, player_id="u2"), [("player_id", "u2")]),
    (ev.GameRemoved(P, G), []),
]
TYPES = {
    ev.StateChange: "state_change",
    ev.FighterSelected: "gameplay",
    ev.PlayerReady: "gameplay",
    ev.WeaponSelected: "gameplay",
    ev.RoundStarted: "gameplay",
    ev.RoundFinished: "gameplay",
    ev.GameOver: "game_over",
    ev.PlayerDisconnect: "player_disconnect",
    ev.GameRemoved: "game_removed",
}


def ids(case: Any) -> str:
    return type(case[0]).__name__ if isinstance(case, tuple) else str(case)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_fields_in_spec_order_and_round_trip(case: tuple[ev.Event, list[tuple[str, str]]]) -> None:
    event, rest = case
    fields = event.to_fields()
    head = [("product_id", P), ("game_id", G), ("type", TYPES[type(event)])]
    assert list(fields.items()) == head + rest
    assert all(isinstance(v, str) for v in fields.values())
    assert ev.parse_event(fields) == event


def test_constants_are_the_spec_strings() -> None:
    assert ev.STREAM == "game_event_stream"
    assert ev.GAME_STATES == (
        "created",
        "creator_joined",
        "all_players_joined",
        "in_progress",
        "ended",
    )
    assert (ev.ROCK, ev.PAPER, ev.SCISSORS) == (0, 1, 2)
    assert ev.EVENT_TYPES == (
        "state_change",
        "gameplay",
        "game_over",
        "player_disconnect",
        "game_removed",
    )


@pytest.mark.parametrize(("weapon", "text"), [(0, "0"), (1, "1"), (2, "2"), (None, "null")])
def test_weapon_encoding(weapon: int | None, text: str) -> None:
    assert ev.encode_weapon(weapon) == text
    assert ev.decode_weapon(text) == weapon


@pytest.mark.parametrize("weapon", [3, -1, 7, True, "1", 1.0])
def test_only_four_weapon_values_can_be_written(weapon: Any) -> None:
    with pytest.raises(ValueError):
        ev.encode_weapon(weapon)
    with pytest.raises(ValueError):
        ev.WeaponSelected(P, G, "u1", weapon)


@pytest.mark.parametrize("raw", ["7", "-1", "undefined", "", " 1", "None", "3", "01"])
def test_old_servers_raw_weapon_values_are_malformed(raw: str) -> None:
    fields = {
        "product_id": P,
        "game_id": G,
        "type": "gameplay",
        "event_name": "select_weapon",
        "event_data": raw,
        "user_id": "u1",
    }
    with pytest.raises(ev.MalformedEvent, match="weapon"):
        ev.parse_event(fields)


def test_malformed_event_is_a_dead_letter_and_a_value_error() -> None:
    assert issubclass(ev.MalformedEvent, DeadLetter)
    assert issubclass(ev.MalformedEvent, ValueError)


@pytest.mark.parametrize(("case"), CASES, ids=ids)
def test_every_missing_field_is_rejected_by_name(
    case: tuple[ev.Event, list[tuple[str, str]]],
) -> None:
    event, _rest = case
    fields = event.to_fields()
    for name in fields:
        if (name, fields.get("event_name")) == ("event_data", "set_ready"):
            continue  # carries nothing: tolerated when absent
        broken = {k: v for k, v in fields.items() if k != name}
        with pytest.raises(ev.MalformedEvent) as err:
            ev.parse_event(broken)
        if name not in ("event_name", "progress_event"):
            assert name in str(err.value)


def test_empty_ids_are_rejected() -> None:
    fields = ev.GameOver(P, G, "u1", "u2").to_fields()
    with pytest.raises(ev.MalformedEvent, match="winner_id"):
        ev.parse_event({**fields, "winner_id": ""})
    with pytest.raises(ev.MalformedEvent, match="game_id"):
        ev.parse_event({**fields, "game_id": ""})


def test_unknown_state_is_rejected() -> None:
    fields = {"product_id": P, "game_id": G, "type": "state_change", "new_state": "paused"}
    with pytest.raises(ev.MalformedEvent, match="paused"):
        ev.parse_event(fields)
    with pytest.raises(ValueError):
        ev.StateChange(P, G, "paused")


def test_set_ready_without_event_data_is_tolerated() -> None:
    fields = {"product_id": P, "game_id": G, "type": "gameplay", "event_name": "set_ready"}
    assert ev.parse_event({**fields, "user_id": "u1"}) == ev.PlayerReady(P, G, "u1")


def test_unknown_type_and_event_names_are_unknown_events_that_round_trip() -> None:
    unknown_type = {"product_id": P, "game_id": G, "type": "chat", "text": "gg"}
    event = ev.parse_event(unknown_type)
    assert event == ev.UnknownEvent(P, G, "chat", {"text": "gg"})
    assert event.to_fields() == unknown_type

    for extra in (
        {"event_name": "emote", "event_data": "wave"},
        {"event_name": "progression", "progress_event": "overtime"},
    ):
        fields = {"product_id": P, "game_id": G, "type": "gameplay", **extra}
        parsed = ev.parse_event(fields)
        assert isinstance(parsed, ev.UnknownEvent)
        assert parsed.type == "gameplay"
        assert parsed.to_fields() == fields


def test_replay_fields_are_not_event_fields() -> None:
    replay = {ev.REPLAY_OF: "1764081234567-0", ev.REPLAY_GROUP: "stats_tracker"}
    over = ev.GameOver(P, G, winner_id="u1", loser_id="u2")
    assert ev.parse_event({**over.to_fields(), **replay}) == over
    chat = {"product_id": P, "game_id": G, "type": "chat", "text": "gg"}
    assert ev.parse_event({**chat, **replay}) == ev.UnknownEvent(P, G, "chat", {"text": "gg"})
    assert ev.REPLAY_FIELDS == (ev.REPLAY_OF, ev.REPLAY_GROUP)


def test_entry_without_type_or_not_a_mapping_is_malformed() -> None:
    with pytest.raises(ev.MalformedEvent, match="type"):
        ev.parse_event({"product_id": P, "game_id": G})
    with pytest.raises(ev.MalformedEvent):
        ev.parse_event(["type", "game_over"])  # type: ignore[arg-type]


def test_xadd_args_on_class_and_instance() -> None:
    event = ev.GameRemoved(P, G)
    assert ev.EventProducer.xadd_args(event) == (ev.STREAM, event.to_fields(), ev.DEFAULT_MAXLEN)
    producer = ev.EventProducer(None, stream="s", maxlen=50)
    assert producer.xadd_args(event) == ("s", event.to_fields(), 50)
    with pytest.raises(RuntimeError):
        producer.publish(event)
    with pytest.raises(ValueError):
        ev.EventProducer(None, maxlen=0)


# -- against a real Redis (db 3) ------------------------------------------------------------------


def test_publish_writes_fields_in_order(stream_redis: redis.Redis) -> None:
    producer = ev.EventProducer(stream_redis, stream="events")
    entry_id = producer.publish(CASES[6][0])
    [(read_id, fields)] = stream_redis.xrange("events")
    assert read_id == entry_id
    assert list(fields.items()) == list(CASES[6][0].to_fields().items())
    assert ev.parse_event(fields) == CASES[6][0]


def test_publish_with_undecoded_client_returns_text_ids(redis_base: str) -> None:
    client = redis.Redis.from_url(f"{redis_base}/3")
    try:
        client.delete("events-bytes")
        entry_id = ev.EventProducer(client, stream="events-bytes").publish(ev.GameRemoved(P, G))
        assert isinstance(entry_id, str)
        assert client.xlen("events-bytes") == 1
    finally:
        client.delete("events-bytes")
        client.close()


def test_publish_many_keeps_order_in_one_round_trip(stream_redis: redis.Redis) -> None:
    producer = ev.EventProducer(stream_redis, stream="events")
    all_events = [case[0] for case in CASES]
    entry_ids = producer.publish_many(all_events)
    entries = stream_redis.xrange("events")
    assert [eid for eid, _f in entries] == entry_ids
    assert [ev.parse_event(f) for _eid, f in entries] == all_events
    assert producer.publish_many([]) == []


def test_maxlen_bounds_the_stream(stream_redis: redis.Redis) -> None:
    producer = ev.EventProducer(stream_redis, stream="events", maxlen=100)
    for _ in range(10):
        producer.publish_many([ev.GameRemoved(P, f"g{n}") for n in range(200)])
    length = stream_redis.xlen("events")
    assert 100 <= length < 2000  # trimmed (approximately: whole nodes), never all 2000
    newest = stream_redis.xrevrange("events", count=1)[0][1]
    assert newest["game_id"] == "g199"  # trimming drops the oldest


def test_apublish_with_an_asyncio_client(redis_base: str, stream_redis: redis.Redis) -> None:
    async def main() -> str:
        client = redis.asyncio.Redis.from_url(f"{redis_base}/3", decode_responses=True)
        try:
            producer = ev.EventProducer(None, stream="events", maxlen=10)
            stream, fields, maxlen = producer.xadd_args(ev.GameRemoved(P, "x"))
            await client.xadd(stream, fields, maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
            return await producer.apublish(client, ev.GameOver(P, "y", "u1", "u2"))
        finally:
            await client.aclose()

    entry_id = asyncio.run(main())
    entries = stream_redis.xrange("events")
    assert [ev.parse_event(f).game_id for _i, f in entries] == ["x", "y"]
    assert entries[-1][0] == entry_id


# -- seq and size bounds -----


def test_seq_round_trips_after_every_other_field() -> None:
    event = ev.WeaponSelected(P, G, "u1", ev.PAPER, seq=7)
    fields = event.to_fields()
    assert list(fields)[-1] == ev.SEQ and fields[ev.SEQ] == "7"
    assert ev.parse_event(fields) == event
    unknown = ev.UnknownEvent(P, G, "future", {"x": "1"}, seq=3)
    assert ev.parse_event(unknown.to_fields()) == unknown


def test_entries_without_seq_parse_as_before() -> None:
    assert ev.parse_event(ev.GameRemoved(P, G).to_fields()).seq is None


@pytest.mark.parametrize("seq", ["0", "-1", "1.5", "x", "", "\u0661", "9" * 17])
def test_malformed_seq_is_dead_lettered(seq: str) -> None:
    with pytest.raises(ev.MalformedEvent, match="seq"):
        ev.parse_event({**ev.GameRemoved(P, G).to_fields(), ev.SEQ: seq})


@pytest.mark.parametrize(
    "value, message",
    [
        ("a\ud800b", "surrogate"),
        ("x" * (ev.MAX_ID_BYTES + 1), "too long"),
        ("é" * (ev.MAX_ID_BYTES // 2 + 1), "too long"),
        ("a\x00b", "control"),
        ("a\x1bb", "control"),
        ("", "non-empty"),
    ],
)
def test_check_id_refuses_what_the_stream_cannot_carry(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ev.check_id(value, "gameId")


def test_check_id_accepts_the_longest_id() -> None:
    assert ev.check_id("x" * ev.MAX_ID_BYTES) == "x" * ev.MAX_ID_BYTES


def test_oversized_entries_are_malformed() -> None:
    over = ev.GameOver(P, G, "w", "l").to_fields()
    with pytest.raises(ev.MalformedEvent, match="winner_id"):
        ev.parse_event({**over, "winner_id": "w" * 4 * 1024 * 1024})
    with pytest.raises(ev.MalformedEvent, match="fields"):
        ev.parse_event({**over, **{f"x{i}": "" for i in range(ev.MAX_FIELDS)}})
    with pytest.raises(ev.MalformedEvent, match="too long"):
        ev.parse_event({**over, "note": "n" * (ev.MAX_FIELD_BYTES + 1)})


def test_producer_refuses_an_event_the_stream_cannot_carry() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        ev.xadd_args(ev.GameRemoved(P, "g\udc80"))
    with pytest.raises(ValueError, match="too long"):
        ev.EventProducer(None).xadd_args(ev.GameOver(P, G, "w" * 200, "l"))
