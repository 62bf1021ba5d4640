"""Dead letters: made by a worker, then listed, replayed and purged with the CLI; binary and
hostile entries included."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from stream_helpers import Recorder
from varcade_workers.dead_letters import (
    DeadLetterEntry,
    iter_dead_letters,
    list_dead_letters,
    main,
    printable,
    redact_url,
    replay,
)
from varcade_workers.replays import REPLAY_GROUP, REPLAY_OF, REPLAY_TOKEN, Replay, verify_replays
from varcade_workers.testing import free_port

from varcade_workers import EventStreamWorker, ExactlyOnce

STREAM = "test_stream"
DEAD = f"{STREAM}:dead"
# An entry a producer could write: terminal escapes (clear screen, set the window title, bell),
# a right-to-left override, a zero-width space, a newline, and bytes that are not UTF-8.
HOSTILE = {
    b"product_id": b"exrps",
    b"game_id": b"g\xff\xfe",
    b"name\x1b[2J": b"\x1b]0;pwned\x07\x1b[31mred",
    b"bidi": "invoice\u202etxt.exe\u200b".encode(),
    b"lines": b"one\ntwo\rthree\x00\\",
    b"text": "caf\u00e9 \u6f22\u5b57".encode(),
}


@pytest.fixture
def raw(redis_base: str, stream_redis: redis.Redis) -> Iterator[redis.Redis]:
    """The stream database (3) read as bytes, as the tool reads it (stream_redis flushes it)."""
    client = redis.Redis.from_url(f"{redis_base}/3")
    yield client
    client.close()


def make_dead_letters(client: redis.Redis, count: int) -> list[str]:
    """Original ids of `count` events a worker dead-lettered."""
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        pipe.xadd(STREAM, {"product_id": "exrps", "game_id": f"bad{n}", "dead": "1"})
    originals = [str(i) for i in pipe.execute()]
    worker = Recorder(client, STREAM, "g", block_ms=0)
    worker.run()
    worker.close()
    assert client.xlen(DEAD) == count
    return originals


def add_dead_letter(
    raw: redis.Redis, fields: dict[bytes, bytes], original_id: str = "1700000000000-0"
) -> str:
    """A dead letter as the stream worker writes one for an entry of any bytes."""
    meta = {b"dl_error": b"MalformedEvent: not UTF-8", b"dl_delivery_count": b"1",
            b"dl_original_id": original_id.encode(), b"dl_stream": STREAM.encode(),
            b"dl_group": b"g", b"dl_consumer": b"c1"}  # fmt: skip
    return raw.xadd(DEAD, {**fields, **meta}).decode()  # type: ignore[arg-type, union-attr]


def cli(redis_base: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "varcade_workers", "dead-letters", *args, "--stream", STREAM,
         "--redis", f"{redis_base}/3"],
        capture_output=True,
        check=False,
    )  # fmt: skip


def harmless(output: bytes) -> str:
    """The output as text, asserting it cannot drive a terminal: UTF-8, and nothing but printable
    characters and line ends."""
    text = output.decode("utf-8")  # strict: no stray byte reaches the terminal
    for line in text.split("\n"):
        assert line.isprintable(), repr(line)
    return text


def test_list_shows_ids_original_ids_errors_and_deliveries(
    redis_base: str, stream_redis: redis.Redis
) -> None:
    originals = make_dead_letters(stream_redis, 2)
    result = cli(redis_base, "list")
    assert result.returncode == 0, result.stderr
    lines = harmless(result.stdout).splitlines()
    assert lines[0] == f"{DEAD}: 2 dead letter(s), showing 2"
    for line, original in zip(lines[1:], originals, strict=True):
        assert f"original_id={original}" in line
        assert "deliveries=1" in line and "error=DeadLetter: cannot be handled" in line
        assert "group=g" in line


def test_list_escapes_binary_and_hostile_entries(redis_base: str, raw: redis.Redis) -> None:
    dead_id = add_dead_letter(raw, HOSTILE)
    result = cli(redis_base, "list", "--fields")
    assert result.returncode == 0, result.stderr
    text = harmless(result.stdout)
    assert b"\x1b" not in result.stdout and b"\x07" not in result.stdout
    assert "\u202e" not in text and "\u200b" not in text
    lines = text.splitlines()
    assert lines[0] == f"{DEAD}: 1 dead letter(s), showing 1"
    assert lines[1].startswith(f"{dead_id}  original_id=1700000000000-0 group=g deliveries=1")
    assert lines[2:] == [
        "    product_id=exrps",
        "    game_id=g\\xff\\xfe",
        "    name\\x1b[2J=\\x1b]0;pwned\\x07\\x1b[31mred",
        "    bidi=invoice\\u202etxt.exe\\u200b",
        "    lines=one\\ntwo\\rthree\\x00\\\\",
        "    text=caf\u00e9 \u6f22\u5b57",  # printable text of any script stays as it is
    ]


def test_hostile_metadata_is_escaped_too(redis_base: str, raw: redis.Redis) -> None:
    raw.xadd(DEAD, {b"x": b"1", b"dl_error": b"boom \x1b[2J\xff", b"dl_group": "\u202eg".encode(),
                    b"dl_original_id": b"1-0"})  # fmt: skip
    result = cli(redis_base, "list")
    assert result.returncode == 0, result.stderr
    line = harmless(result.stdout).splitlines()[1]
    assert "group=\\u202eg" in line and "error=boom \\x1b[2J\\xff" in line


def test_list_cuts_huge_values_and_says_how_much(redis_base: str, raw: redis.Redis) -> None:
    big = b"A" * (4 * 1024 * 1024)
    add_dead_letter(raw, {b"product_id": b"exrps", b"blob": big})
    result = cli(redis_base, "list", "--fields")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) < 2000
    blob = [line for line in harmless(result.stdout).splitlines() if "blob=" in line]
    assert blob == ["    blob=" + "A" * 200 + f"...[{len(big) - 200} more bytes]"]
    result = cli(redis_base, "list", "--fields", "--max-bytes", "10")
    assert "    blob=AAAAAAAAAA...[4194294 more bytes]" in harmless(result.stdout).splitlines()


def test_purge_all_and_replay_with_binary_entries(
    redis_base: str, raw: redis.Redis, stream_redis: redis.Redis
) -> None:
    for n in range(3):
        add_dead_letter(raw, {**HOSTILE, b"n": str(n).encode()}, f"17000000000{n}0-0")
    purged = cli(redis_base, "purge", "--all")
    assert purged.returncode == 0, purged.stderr
    assert harmless(purged.stdout) == f"3 purged from {DEAD}\n"
    assert raw.xlen(DEAD) == 0

    dead_id = add_dead_letter(raw, HOSTILE, "1700000000000-5")
    replayed = cli(redis_base, "replay", "--ids", dead_id)
    assert replayed.returncode == 0, replayed.stderr
    [(new_id, fields)] = raw.xrange(STREAM)
    # the original bytes, verbatim, plus the replay fields
    token = fields.pop(REPLAY_TOKEN.encode())
    addressed = {REPLAY_OF.encode(): b"1700000000000-5", REPLAY_GROUP.encode(): b"g"}
    assert fields == {**HOSTILE, **addressed}
    assert len(token) == 32
    assert f"replayed {dead_id} -> {STREAM} {new_id.decode()}" in harmless(replayed.stdout)
    assert raw.xlen(DEAD) == 0
    # the proof the tool left makes it a genuine replay for a worker reading it (bytes kept as
    # surrogates by its decoding)
    decoded = {k.decode("utf-8", "surrogateescape"): v.decode("utf-8", "surrogateescape")
               for k, v in {**fields, REPLAY_TOKEN.encode(): token}.items()}  # fmt: skip
    assert verify_replays(stream_redis, [(new_id.decode(), decoded)]) == {
        new_id.decode(): Replay("1700000000000-5", "g")
    }


def test_replay_puts_original_fields_back_and_the_worker_handles_them(
    redis_base: str, stream_redis: redis.Redis, raw: redis.Redis
) -> None:
    make_dead_letters(stream_redis, 2)
    [first, second] = list_dead_letters(raw, DEAD)
    result = cli(redis_base, "replay", "--ids", first.id)
    assert result.returncode == 0, result.stderr
    assert f"replayed {first.id} -> {STREAM}" in harmless(result.stdout)
    assert [e.id for e in list_dead_letters(raw, DEAD)] == [second.id]
    new_id, fields = stream_redis.xrevrange(STREAM, count=1)[0]
    original = {"product_id": "exrps", "game_id": "bad0", "dead": "1"}
    # no dl_* fields; the original id, the group that gave up and the token ride along
    assert fields == {**original, REPLAY_OF: first.original_id, REPLAY_GROUP: "g",
                      REPLAY_TOKEN: fields[REPLAY_TOKEN]}  # fmt: skip
    # a replay the tool made: genuine
    assert verify_replays(stream_redis, [(new_id, fields)]) == {
        new_id: Replay(first.original_id, "g")
    }
    # the cause is fixed now: a worker that accepts it handles the replayed event
    fixed = Fixed(stream_redis, STREAM, "g", block_ms=0)
    assert fixed.run() == 1
    # under its original id, without the replay fields
    assert fixed.handled == [(first.original_id, original)]
    assert int(stream_redis.xpending(STREAM, "g")["pending"]) == 0


class Fixed(Recorder):
    """The cause of the dead letters is fixed: it handles everything."""

    def handle_event(self, event_id: str, fields: dict[str, str]) -> None:
        self.handled.append((event_id, fields))


def test_replay_reaches_only_the_group_that_dead_lettered_it(
    stream_redis: redis.Redis, raw: redis.Redis
) -> None:
    stream_redis.xgroup_create(STREAM, "other", id="0", mkstream=True)
    make_dead_letters(stream_redis, 1)  # group g gave up; group other has not read yet
    other = Fixed(stream_redis, STREAM, "other", block_ms=0)
    assert other.run() == 1  # the original entry, handled fine by this group
    assert main(["dead-letters", "replay", "--all", "--stream", STREAM], client=raw) == 0
    assert other.run() == 0  # the replay is g's: acked, not handed to this group's handler
    assert len(other.handled) == 1
    fixed = Fixed(stream_redis, STREAM, "g", block_ms=0)
    assert fixed.run() == 1
    assert fixed.handled[0][0] == other.handled[0][0]  # the same (original) event id
    for group in ("g", "other"):
        assert int(stream_redis.xpending(STREAM, group)["pending"]) == 0
    other.close()
    fixed.close()


class OnceCounter(EventStreamWorker):
    """Counts events with ExactlyOnce; fails after its writes while `explode` is set."""

    def __init__(self, client: redis.Redis, data: redis.Redis, **options: Any) -> None:
        super().__init__(client, STREAM, "counter", block_ms=0, **options)
        self.once = ExactlyOnce(data, "t")
        self.explode = 0
        self.seen: list[str] = []

    def handle_event(self, event_id: str, fields: dict[str, str]) -> None:
        self.seen.append(event_id)
        self.once.apply(event_id, lambda pipe: pipe.incr("count"))
        if self.explode:
            self.explode -= 1
            raise RuntimeError("failed after the writes, before the ack")


def test_replayed_event_counted_once_across_a_redelivery(
    stream_redis: redis.Redis, data_redis: redis.Redis, raw: redis.Redis
) -> None:
    [original_id] = [str(stream_redis.xadd(STREAM, {"product_id": "exrps", "game_id": "g1"}))]
    counter = OnceCounter(stream_redis, data_redis, max_deliveries=1, claim_idle_ms=1)
    counter.explode = 1  # written, then failed: dead-lettered at once (max_deliveries=1)
    assert counter.run() == 0
    assert stream_redis.xlen(DEAD) == 1 and data_redis.get("count") == "1"
    assert main(["dead-letters", "replay", "--all", "--stream", STREAM], client=raw) == 0
    retry = OnceCounter(stream_redis, data_redis, max_deliveries=3, claim_idle_ms=1)
    retry.explode = 1  # the replay fails after its (skipped) writes: pending, claimed again
    retry.run()
    time.sleep(0.01)  # idle longer than claim_idle_ms
    assert retry.run() == 1
    assert retry.seen == [original_id, original_id]  # the original id both times
    assert data_redis.get("count") == "1"  # counted once in all
    assert int(stream_redis.xpending(STREAM, "counter")["pending"]) == 0
    assert stream_redis.xlen(DEAD) == 0
    retry.close()


def test_purge_needs_ids_or_all_and_deletes(
    redis_base: str, stream_redis: redis.Redis, raw: redis.Redis
) -> None:
    make_dead_letters(stream_redis, 3)
    [first, *_] = list_dead_letters(raw, DEAD)
    refused = cli(redis_base, "purge")
    assert refused.returncode == 2 and b"--ids" in refused.stderr
    assert stream_redis.xlen(DEAD) == 3
    assert b"1 purged" in cli(redis_base, "purge", "--ids", first.id).stdout
    missing = cli(redis_base, "purge", "--ids", first.id)
    assert missing.returncode == 1 and b"no dead letter" in missing.stderr
    assert b"2 purged" in cli(redis_base, "purge", "--all").stdout
    assert stream_redis.xlen(DEAD) == 0


def test_replay_all_in_process(
    stream_redis: redis.Redis, raw: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    make_dead_letters(stream_redis, 2)
    before = stream_redis.xlen(STREAM)
    assert main(["dead-letters", "replay", "--all", "--stream", STREAM], client=raw) == 0
    assert "2 replayed" in capsys.readouterr().out
    assert stream_redis.xlen(STREAM) == before + 2 and stream_redis.xlen(DEAD) == 0


def test_replay_reports_an_entry_it_cannot_address_and_goes_on(
    raw: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = add_dead_letter(raw, {b"product_id": b"exrps"}, original_id="not-an-id\x1b")
    good = add_dead_letter(raw, {b"product_id": b"exrps"}, original_id="5-0")
    assert main(["dead-letters", "replay", "--all", "--stream", STREAM], client=raw) == 1
    out, err = capsys.readouterr()
    assert f"cannot replay {bad}: not a stream entry id: 'not-an-id\\\\x1b'" in err
    assert f"replayed {good} ->" in out and "1 replayed" in out
    assert [e.id for e in list_dead_letters(raw, DEAD)] == [bad]


def test_all_walks_pages_up_to_the_newest_entry_at_the_start(raw: redis.Redis) -> None:
    ids = [add_dead_letter(raw, {b"n": str(n).encode()}, f"{n + 1}-0") for n in range(5)]
    assert [e.id for e in iter_dead_letters(raw, DEAD, page_size=2)] == ids
    assert [e.id for e in iter_dead_letters(raw, DEAD, count=3, page_size=2)] == ids[:3]
    walk = iter_dead_letters(raw, DEAD, page_size=2)
    assert next(walk).id == ids[0]
    add_dead_letter(raw, {b"n": b"late"})  # e.g. a replay dead-lettered again meanwhile
    assert [e.id for e in walk] == ids[1:]


def test_library_calls_refuse_a_decoding_client(stream_redis: redis.Redis) -> None:
    with pytest.raises(ValueError, match="decode_responses=False"):
        list_dead_letters(stream_redis, DEAD)
    entry = DeadLetterEntry.from_entry("1-0", {"a": "1", "dl_original_id": "2-0"})
    assert entry.fields == {b"a": b"1"} and entry.original_id == "2-0"
    with pytest.raises(ValueError, match="decode_responses=False"):
        replay(stream_redis, STREAM, DEAD, [entry])


@pytest.mark.parametrize("action", ["list", "replay", "purge"])
def test_help(action: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "varcade_workers", "dead-letters", action, "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and "--stream" in result.stdout


def test_unreachable_redis_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"redis://127.0.0.1:{free_port()}/3"
    assert main(["dead-letters", "list", "--stream", STREAM, "--redis", url]) == 1
    assert f"error: Redis at {url}" in capsys.readouterr().err


def test_error_messages_hide_the_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    url = f"redis://:s3cr%40t@127.0.0.1:{port}/3"
    assert main(["dead-letters", "list", "--stream", STREAM, "--redis", url]) == 1
    err = capsys.readouterr().err
    assert f"error: Redis at redis://:***@127.0.0.1:{port}/3: " in err
    assert "s3cr" not in err
    # a URL redis-py refuses, and one the settings refuse
    assert main(["dead-letters", "list", "--stream", STREAM, "--redis", "http://u:s3cr@h/1"]) == 2
    err = capsys.readouterr().err
    assert "http://u:***@h/1" in err and "s3cr" not in err
    monkeypatch.delenv("EVENT_STREAM_URL", raising=False)
    monkeypatch.setenv("VARCADE_REDIS", "http://:s3cr@host:6379")
    assert main(["dead-letters", "list", "--stream", STREAM]) == 2
    err = capsys.readouterr().err
    assert "VARCADE_REDIS" in err and "s3cr" not in err and ":***@host" in err


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@host:6379/1", "redis://:***@host:6379/1"),
        ("redis://user:p%40w@host/1", "redis://user:***@host/1"),
        ("rediss://user:pw@[::1]:6380/0", "rediss://user:***@[::1]:6380/0"),
        ("unix://:pw@/run/redis.sock?db=1", "unix://:***@/run/redis.sock?db=1"),
        ("redis://host:6379/1?password=pw&db=2", "redis://host:6379/1?password=***&db=2"),
        ("redis://host:6379/1", "redis://host:6379/1"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("value", "max_bytes", "shown"),
    [
        (b"plain text", None, "plain text"),
        (b"\x1b[31m\x07\x7f\x9b", None, "\\x1b[31m\\x07\\x7f\\x9b"),
        ("\u009b\u00a0\u202e\u2066\u200b\ufeff", None, "\\x9b\\xa0\\u202e\\u2066\\u200b\\ufeff"),
        ("\U000e0041 \U0001f600", None, "\\U000e0041 \U0001f600"),
        (b"\xff\xc3(", None, "\\xff\\xc3("),
        (b"back\\slash", None, "back\\\\slash"),
        (b"abcdef", 4, "abcd...[2 more bytes]"),
        ("\u00e9\u00e9".encode(), 3, "\u00e9...[2 more bytes]"),  # not cut inside a character
        (b"\xff" * 6, 4, "\\xff\\xff\\xff\\xff...[2 more bytes]"),
    ],
)
def test_printable(value: bytes | str, max_bytes: int | None, shown: str) -> None:
    assert printable(value, max_bytes) == shown
