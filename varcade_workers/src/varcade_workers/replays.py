"""Replays of dead letters, and the proof that the dead-letters tool made them.

A replayed dead letter is appended to its stream again with three delivery fields: `_replay_of`
(the original entry id), `_replay_group` (the consumer group that dead-lettered it) and
`_replay_token`. The stream worker hands a replay to that group only, under the original id (so
`ExactlyOnce` markers from earlier deliveries still match), and every other group acks it unseen.

Why a token: the first two fields alone prove nothing. Any producer that can XADD to the stream
could write them, and then

- with `_replay_group=<anything but yours>` make every group ack an event without handling it
  (the event is lost to all consumers), or
- with `_replay_of=<another event's id>` have the event handled under that id, so that
  `ExactlyOnce` deduplicates it away (or it takes the other event's place).

So the tool leaves a proof outside the stream, which an entry cannot carry by itself: before
appending the entry, in the same MULTI/EXEC, it stores

    SET varcade:replay:<token> "<original id>\\n<sha256 of the event fields>\\n<group>" EX 7 days

where `<token>` is 128 random bits (32 hex digits), also written into the entry as
`_replay_token`. `verify_replays` believes an entry is a replay only when the key of its token
exists and its value names the entry's own original id, group and event fields. A producer that
can only add entries cannot create that key, and guessing a token succeeds once in 2**128. Copying
a genuine replay's fields (its token included) into a new entry with other contents fails the
digest; copying it unchanged only repeats that very replay, which its original id deduplicates.

An entry whose replay fields do not verify is an ordinary event: strip the fields
(`strip_replay_fields`) and let every group handle it under its own id.

Limits: whoever can write arbitrary keys in the stream's Redis database can forge the proof (give
producers only what they need, e.g. a Redis ACL allowing XADD on the stream, if that matters);
a replay still pending when its key expires (`REPLAY_TTL_SECONDS`, 7 days) is no longer
recognised as one. The key is not in the stream's name because `verify_replays` gets entries, not
their stream; tokens are random, so streams sharing a database never collide.

The writer side is `write_replay` (used by `python -m varcade_workers dead-letters replay`); the
verifier is `verify_replays` (used by the stream worker, one MGET per batch that has replays).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import redis
import redis.client
from redis.client import NEVER_DECODE

from varcade_workers.events import REPLAY_GROUP, REPLAY_OF, REPLAY_TOKEN

__all__ = [
    "REPLAY_FIELDS",
    "REPLAY_GROUP",
    "REPLAY_KEY_PREFIX",
    "REPLAY_OF",
    "REPLAY_TOKEN",
    "REPLAY_TTL_SECONDS",
    "Replay",
    "replay_key",
    "strip_replay_fields",
    "verify_replays",
    "write_replay",
]

#: Every field name a replay adds to an entry (reserved: never event fields).
REPLAY_FIELDS: Final = (REPLAY_OF, REPLAY_GROUP, REPLAY_TOKEN)
#: Prefix of the proof keys: ``varcade:replay:<token>``.
REPLAY_KEY_PREFIX: Final = "varcade:replay:"
#: Lifetime of a proof key: a replay must be handled within this time to count as one.
REPLAY_TTL_SECONDS: Final = 7 * 24 * 3600

_TOKEN: Final = re.compile(r"[0-9a-f]{32}")
_STREAM_ID: Final = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
_REPLAY_FIELD_SET: Final = frozenset(REPLAY_FIELDS)
_REPLAY_FIELD_BYTES: Final = frozenset(name.encode() for name in REPLAY_FIELDS)


@dataclass(frozen=True)
class Replay:
    """A genuine replay: hand it to `group` only, under `original_id`."""

    original_id: str
    group: str


def replay_key(token: str) -> str:
    """The key holding the proof of the replay with this token."""
    return f"{REPLAY_KEY_PREFIX}{token}"


def strip_replay_fields(fields: dict[str, str]) -> dict[str, str]:
    """The fields without the replay fields (a new dict)."""
    return {k: v for k, v in fields.items() if k not in _REPLAY_FIELD_SET}


def _raw(text: str | bytes) -> bytes:
    # Text the worker decoded gives back the stored bytes (undecodable ones as surrogateescape).
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")


def _fields_digest(fields: Iterable[tuple[bytes, bytes]]) -> str:
    """sha256 of the event fields (replay fields left out), independent of their order."""
    digest = hashlib.sha256()
    for name, value in sorted((n, v) for n, v in fields if n not in _REPLAY_FIELD_BYTES):
        digest.update(len(name).to_bytes(8, "big"))
        digest.update(name)
        digest.update(len(value).to_bytes(8, "big"))
        digest.update(value)
    return digest.hexdigest()


def _proof(replay: Replay, fields: Iterable[tuple[bytes, bytes]]) -> bytes:
    return b"\n".join(
        (_raw(replay.original_id), _fields_digest(fields).encode(), _raw(replay.group))
    )


def write_replay(
    pipe: redis.client.Pipeline,
    stream: str,
    fields: Mapping[bytes, bytes] | Mapping[str, str],
    replay: Replay,
    *,
    ttl_seconds: int = REPLAY_TTL_SECONDS,
) -> str:
    """Queue a replay of `fields` on `pipe`: the proof (SET with an expiry), then the entry (XADD of
    the fields without any replay field, plus the three replay fields). Returns the token.

    The XADD is the second command queued, so its reply (the new entry id) is the second of the
    pipeline's results. Use a transaction pipeline, so no consumer ever sees the entry without its
    proof. Raises ValueError when `replay.original_id` is not a stream entry id.
    """
    if not _STREAM_ID.fullmatch(replay.original_id):
        raise ValueError(f"not a stream entry id: {replay.original_id!r}")
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    event_fields = [(_raw(k), _raw(v)) for k, v in fields.items()]
    event_fields = [(k, v) for k, v in event_fields if k not in _REPLAY_FIELD_BYTES]
    token = secrets.token_hex(16)
    entry: dict[bytes, bytes] = dict(event_fields)
    entry[REPLAY_OF.encode()] = _raw(replay.original_id)
    entry[REPLAY_GROUP.encode()] = _raw(replay.group)
    entry[REPLAY_TOKEN.encode()] = token.encode()
    pipe.set(replay_key(token), _proof(replay, event_fields), ex=ttl_seconds)
    pipe.xadd(stream, entry)  # type: ignore[arg-type]
    return token


def verify_replays(
    client: redis.Redis, entries: list[tuple[str, dict[str, str]]]
) -> dict[str, Replay]:
    """The genuine replays among a batch's entries, by entry id.

    An entry is one when it carries all three replay fields, its token is well formed, and the
    token's key names the entry's original id, group and event fields. Entries without replay fields
    cost nothing; the others are checked with one MGET for the whole batch. `client` may decode
    responses or not (the proofs are read as bytes either way).
    """
    candidates: list[tuple[str, str, Replay, dict[str, str]]] = []
    for entry_id, fields in entries:
        token = fields.get(REPLAY_TOKEN)
        if token is None:
            continue
        original_id = fields.get(REPLAY_OF)
        group = fields.get(REPLAY_GROUP)
        if original_id is None or group is None or not _TOKEN.fullmatch(token):
            continue
        candidates.append((entry_id, token, Replay(original_id, group), fields))
    if not candidates:
        return {}
    keys = [replay_key(token) for _, token, _, _ in candidates]
    options: dict[str, Any] = {NEVER_DECODE: True}
    # Read as bytes whatever the client decodes: a proof that is not UTF-8 cannot break a batch.
    stored = client.execute_command("MGET", *keys, **options)  # type: ignore[no-untyped-call]
    genuine: dict[str, Replay] = {}
    for (entry_id, _, replay, fields), proof in zip(candidates, stored, strict=True):
        if proof is None:
            continue
        if proof == _proof(replay, ((_raw(k), _raw(v)) for k, v in fields.items())):
            genuine[entry_id] = replay
    return genuine
