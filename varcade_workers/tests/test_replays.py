"""Replays: the dead-letters tool's proof, and the verifier that tells genuine replays from forged
ones (a producer adding the replay fields itself)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
import redis
from varcade_workers.replays import (
    REPLAY_FIELDS,
    REPLAY_GROUP,
    REPLAY_OF,
    REPLAY_TOKEN,
    REPLAY_TTL_SECONDS,
    Replay,
    replay_key,
    strip_replay_fields,
    verify_replays,
    write_replay,
)

from varcade_workers import events

STREAM = "test_stream"
EVENT = {"product_id": "exrps", "game_id": "g1", "type": "game_over", "winner_id": "u1",
         "loser_id": "u2"}  # fmt: skip


class Counting(redis.Redis):
    """A client that counts the commands it sends (pipelines count as one)."""

    commands: list[str]

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.commands.append(str(args[0]))
        return super().execute_command(*args, **options)


@pytest.fixture
def counting(redis_base: str, stream_redis: redis.Redis) -> Iterator[Counting]:
    client = Counting.from_url(f"{redis_base}/3", decode_responses=True)
    client.commands = []
    yield client
    client.close()


def tool_replay(
    client: redis.Redis, fields: dict[str, str] | dict[bytes, bytes], replay: Replay
) -> tuple[str, dict[str, str]]:
    """Replay `fields` the way the dead-letters tool does; returns the new entry as read back."""
    pipe = client.pipeline(transaction=True)
    write_replay(pipe, STREAM, fields, replay)
    _, new_id = pipe.execute()
    [(entry_id, stored)] = client.xrange(STREAM, new_id, new_id)
    return str(entry_id), stored


def forge(client: redis.Redis, fields: dict[str, str]) -> tuple[str, dict[str, str]]:
    """What any producer can do: add an entry with whatever fields it likes."""
    entry_id = str(client.xadd(STREAM, fields))  # type: ignore[arg-type]
    return entry_id, fields


def test_a_replay_written_by_the_tool_verifies(stream_redis: redis.Redis) -> None:
    entry_id, fields = tool_replay(stream_redis, EVENT, Replay("1700000000000-0", "stats"))
    assert fields == {**EVENT, REPLAY_OF: "1700000000000-0", REPLAY_GROUP: "stats",
                      REPLAY_TOKEN: fields[REPLAY_TOKEN]}  # fmt: skip
    assert len(fields[REPLAY_TOKEN]) == 32  # 128 bits, hex
    assert verify_replays(stream_redis, [(entry_id, fields)]) == {
        entry_id: Replay("1700000000000-0", "stats")
    }
    # the proof: one key with an expiry of 7 days
    ttl = stream_redis.ttl(replay_key(fields[REPLAY_TOKEN]))
    assert REPLAY_TTL_SECONDS - 60 < ttl <= REPLAY_TTL_SECONDS


def test_replay_fields_a_producer_adds_itself_do_not_verify(stream_redis: redis.Redis) -> None:
    addressed = {**EVENT, REPLAY_OF: "1-0", REPLAY_GROUP: "nobody"}
    forged = [
        forge(stream_redis, addressed),  # the old replay fields, no token
        # a well-formed token no proof exists for
        forge(stream_redis, {**addressed, REPLAY_TOKEN: secrets.token_hex(16)}),
        # malformed tokens (never looked up)
        forge(stream_redis, {**addressed, REPLAY_TOKEN: "*"}),
        forge(stream_redis, {**addressed, REPLAY_TOKEN: "A" * 32}),
        # a token without the other two fields
        forge(stream_redis, {**EVENT, REPLAY_TOKEN: secrets.token_hex(16)}),
    ]
    assert verify_replays(stream_redis, forged) == {}


def test_a_genuine_token_copied_into_another_entry_does_not_verify(
    stream_redis: redis.Redis,
) -> None:
    _, genuine = tool_replay(stream_redis, EVENT, Replay("1700000000000-0", "stats"))
    token = genuine[REPLAY_TOKEN]
    copies = [
        # the same token naming another original id: would be deduplicated under that id
        forge(stream_redis, {**genuine, REPLAY_OF: "1700000000001-0"}),
        # the same token naming another group: every other group would skip it
        forge(stream_redis, {**genuine, REPLAY_GROUP: "nobody"}),
        # the same token and addressing, other contents
        forge(stream_redis, {**genuine, "winner_id": "u2", "loser_id": "u1"}),
        forge(stream_redis, {**genuine, "extra": "1"}),
        forge(stream_redis, {k: v for k, v in genuine.items() if k != "loser_id"}),
    ]
    assert all(fields[REPLAY_TOKEN] == token for _, fields in copies)
    assert verify_replays(stream_redis, copies) == {}
    # an unchanged copy is that very replay again (same original id: deduplicated downstream)
    same = forge(stream_redis, dict(genuine))
    assert verify_replays(stream_redis, [same]) == {same[0]: Replay("1700000000000-0", "stats")}


def test_an_expired_or_deleted_proof_no_longer_verifies(stream_redis: redis.Redis) -> None:
    entry = tool_replay(stream_redis, EVENT, Replay("1700000000000-0", "stats"))
    stream_redis.delete(replay_key(entry[1][REPLAY_TOKEN]))
    assert verify_replays(stream_redis, [entry]) == {}


def test_one_round_trip_for_the_whole_batch(stream_redis: redis.Redis, counting: Counting) -> None:
    genuine = [tool_replay(stream_redis, {**EVENT, "game_id": f"g{n}"}, Replay(f"{n + 1}-0", "g"))
               for n in range(3)]  # fmt: skip
    plain = [forge(stream_redis, EVENT) for _ in range(3)]
    forged = forge(stream_redis, {**EVENT, REPLAY_OF: "1-0", REPLAY_GROUP: "x",
                                  REPLAY_TOKEN: secrets.token_hex(16)})  # fmt: skip
    batch = [plain[0], genuine[0], forged, plain[1], genuine[1], genuine[2], plain[2]]
    found = verify_replays(counting, batch)
    assert found == {entry_id: Replay(f"{n + 1}-0", "g") for n, (entry_id, _) in enumerate(genuine)}
    assert counting.commands == ["MGET"]
    counting.commands.clear()
    assert verify_replays(counting, plain) == {}
    assert counting.commands == []  # a batch without replay fields costs nothing


def test_binary_fields_verify_through_the_workers_decoding(
    redis_base: str, stream_redis: redis.Redis
) -> None:
    raw = redis.Redis.from_url(f"{redis_base}/3")
    try:
        fields = {b"product_id": b"exrps", b"blob": b"\xff\x00\xfe bytes", "\u00e9".encode(): b"x"}
        pipe = raw.pipeline(transaction=True)
        write_replay(pipe, STREAM, fields, Replay("5-0", "g"))
        _, new_id = pipe.execute()
        [(entry_id, stored)] = raw.xrange(STREAM, new_id, new_id)
        # a worker that decodes undecodable bytes as surrogateescape gets back the same bytes
        decoded = {k.decode("utf-8", "surrogateescape"): v.decode("utf-8", "surrogateescape")
                   for k, v in stored.items()}  # fmt: skip
        assert verify_replays(raw, [(entry_id.decode(), decoded)]) == {
            entry_id.decode(): Replay("5-0", "g")
        }
    finally:
        raw.close()


def test_a_proof_that_is_not_text_does_not_break_the_batch(
    fake_redis: fakeredis.FakeRedis,
) -> None:
    token = secrets.token_hex(16)
    fake_redis.set(replay_key(token), b"\xff\xfe")
    good = tool_replay(fake_redis, EVENT, Replay("7-0", "g"))
    bad = forge(fake_redis, {**EVENT, REPLAY_OF: "7-0", REPLAY_GROUP: "g", REPLAY_TOKEN: token})
    assert verify_replays(fake_redis, [bad, good]) == {good[0]: Replay("7-0", "g")}


def test_write_replay_replaces_replay_fields_and_checks_the_original_id(
    fake_redis: fakeredis.FakeRedis,
) -> None:
    stale = {**EVENT, REPLAY_OF: "1-0", REPLAY_GROUP: "old", REPLAY_TOKEN: "0" * 32}
    entry_id, fields = tool_replay(fake_redis, stale, Replay("2-0", "new"))
    assert fields[REPLAY_OF] == "2-0" and fields[REPLAY_GROUP] == "new"
    assert fields[REPLAY_TOKEN] != "0" * 32
    assert verify_replays(fake_redis, [(entry_id, fields)]) == {entry_id: Replay("2-0", "new")}
    with pytest.raises(ValueError, match="stream entry id"):
        write_replay(fake_redis.pipeline(), STREAM, EVENT, Replay("not-an-id", "g"))


def test_replay_fields_are_reserved() -> None:
    assert set(REPLAY_FIELDS) == {REPLAY_OF, REPLAY_GROUP, REPLAY_TOKEN}
    assert REPLAY_TOKEN == events.REPLAY_TOKEN == "_replay_token"
    marked = {**EVENT, REPLAY_OF: "1-0", REPLAY_GROUP: "g", REPLAY_TOKEN: "0" * 32}
    assert strip_replay_fields(marked) == EVENT
    over = events.parse_event(EVENT)
    assert events.parse_event(marked) == over
    chat = {"product_id": "exrps", "game_id": "g1", "type": "chat", "text": "gg"}
    parsed = events.parse_event({**chat, REPLAY_TOKEN: "0" * 32})
    assert parsed == events.UnknownEvent("exrps", "g1", "chat", {"text": "gg"})
