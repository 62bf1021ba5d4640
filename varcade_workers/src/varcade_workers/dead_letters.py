"""Operating dead letters: list them, replay them into their stream, purge them.

A dead letter is the original entry's fields plus the `dl_*` fields `EventStreamWorker` adds
(error, delivery count, original id, stream, group, consumer). Replay appends the original fields to
the stream again (a new entry id) plus two delivery fields (`events.REPLAY_OF`: the original id,
`events.REPLAY_GROUP`: the group that gave up on it). Only that group handles the replayed entry
(the others ack it unseen, having handled the original already), and its handler gets the original
id, so `ExactlyOnce` markers set by an earlier delivery still match.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from varcade_workers import settings
from varcade_workers.events import REPLAY_FIELDS, REPLAY_GROUP, REPLAY_OF
from varcade_workers.redis_clients import redis_client
from varcade_workers.stream_worker import DEAD_LETTER_FIELDS, default_dead_letter_stream

__all__ = ["DeadLetterEntry", "list_dead_letters", "main", "purge", "replay"]


@dataclass(frozen=True)
class DeadLetterEntry:
    """One entry of a dead-letter stream, split into its original fields and the metadata."""

    id: str
    fields: dict[str, str]
    original_id: str
    error: str
    delivery_count: str
    stream: str
    group: str

    @classmethod
    def from_entry(cls, entry_id: str, raw: dict[str, str]) -> DeadLetterEntry:
        original = {
            k: v for k, v in raw.items() if k not in DEAD_LETTER_FIELDS and k not in REPLAY_FIELDS
        }
        return cls(
            id=entry_id,
            fields=original,
            original_id=raw.get("dl_original_id", ""),
            error=raw.get("dl_error", ""),
            delivery_count=raw.get("dl_delivery_count", ""),
            stream=raw.get("dl_stream", ""),
            group=raw.get("dl_group", ""),
        )


def list_dead_letters(
    client: redis.Redis, dead_stream: str, *, count: int | None = 100, ids: Sequence[str] = ()
) -> list[DeadLetterEntry]:
    """The oldest `count` dead letters (all when None), or exactly those in `ids` that exist."""
    if ids:
        pipe = client.pipeline(transaction=False)
        for entry_id in ids:
            pipe.xrange(dead_stream, entry_id, entry_id)
        entries: list[Any] = [entry for found in pipe.execute() for entry in found or []]
    else:
        entries = list(client.xrange(dead_stream, count=count) or [])
    return [DeadLetterEntry.from_entry(entry_id, fields) for entry_id, fields in entries]


def replay(
    client: redis.Redis, stream: str, dead_stream: str, entries: Sequence[DeadLetterEntry]
) -> list[tuple[str, str]]:
    """Append each entry's original fields to `stream`, addressed to the group that dead-lettered
    it under its original id, and delete it from the dead letters (one transaction per entry).
    Returns (dead-letter id, new stream id) pairs."""
    replayed: list[tuple[str, str]] = []
    for entry in entries:
        fields = dict(entry.fields)
        if entry.original_id:
            fields[REPLAY_OF] = entry.original_id
        if entry.group:
            fields[REPLAY_GROUP] = entry.group
        pipe = client.pipeline(transaction=True)
        pipe.xadd(stream, fields)  # type: ignore[arg-type]
        pipe.xdel(dead_stream, entry.id)
        new_id, _ = pipe.execute()
        replayed.append((entry.id, str(new_id)))
    return replayed


def purge(client: redis.Redis, dead_stream: str, ids: Sequence[str]) -> int:
    """Delete these dead letters; returns how many existed."""
    return int(client.xdel(dead_stream, *ids)) if ids else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m varcade_workers",
        description="Operate the varcade_workers library's dead-letter streams.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    dead = commands.add_parser(
        "dead-letters",
        help="list, replay or purge dead-lettered events",
        description="Events a worker gave up on are kept in <stream>:dead with the error.",
    )
    actions = dead.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--stream", required=True, help="the event stream, e.g. game_event_stream")
        sub.add_argument(
            "--dead-stream", help="the dead-letter stream (default: <stream>:dead)", default=None
        )
        sub.add_argument(
            "--redis",
            default=None,
            help="Redis URL (default: $EVENT_STREAM_URL, else $VARCADE_REDIS/1, as the workers)",
        )
        sub.add_argument("--ids", nargs="+", default=[], metavar="ID", help="dead-letter entry ids")

    listing = actions.add_parser("list", help="show the oldest dead letters")
    common(listing)
    listing.add_argument("--count", type=int, default=100, help="at most N entries (default 100)")
    listing.add_argument("--fields", action="store_true", help="also print the original fields")
    for name, text in (
        ("replay", "append dead letters to the stream again and remove them from the dead letters"),
        ("purge", "delete dead letters for good"),
    ):
        sub = actions.add_parser(name, help=text, description=f"{text}. Needs --ids or --all.")
        common(sub)
        sub.add_argument("--all", action="store_true", help="every dead letter (up to --count)")
        sub.add_argument("--count", type=int, default=None, help="with --all: at most N entries")
    return parser


def main(argv: Sequence[str] | None = None, client: redis.Redis | None = None) -> int:
    """The `python -m varcade_workers` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        url = args.redis or settings.redis_url("EVENT_STREAM_URL", 1)
    except settings.ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if client is None:
        client = redis_client(url)
    dead_stream = args.dead_stream or default_dead_letter_stream(args.stream)
    out = sys.stdout
    try:
        if args.action == "list":
            entries = list_dead_letters(client, dead_stream, count=args.count, ids=args.ids)
            total = client.xlen(dead_stream)
            out.write(f"{dead_stream}: {total} dead letter(s), showing {len(entries)}\n")
            for e in entries:
                out.write(
                    f"{e.id}  original_id={e.original_id} group={e.group} "
                    f"deliveries={e.delivery_count} error={e.error}\n"
                )
                if args.fields:
                    out.write("    " + " ".join(f"{k}={v}" for k, v in e.fields.items()) + "\n")
            return 0
        if not args.ids and not args.all:
            sys.stderr.write(f"{args.action}: give --ids ID... or --all\n")
            return 2
        entries = list_dead_letters(
            client, dead_stream, count=args.count if args.all else None, ids=args.ids
        )
        missing = sorted(set(args.ids) - {e.id for e in entries})
        for entry_id in missing:
            sys.stderr.write(f"{args.action}: no dead letter {entry_id} in {dead_stream}\n")
        if args.action == "replay":
            for dead_id, new_id in replay(client, args.stream, dead_stream, entries):
                out.write(f"replayed {dead_id} -> {args.stream} {new_id}\n")
            out.write(f"{len(entries)} replayed\n")
        else:
            purged = purge(client, dead_stream, [e.id for e in entries])
            out.write(f"{purged} purged from {dead_stream}\n")
        return 1 if missing else 0
    except redis.RedisError as exc:
        sys.stderr.write(f"error: Redis at {url}: {exc}\n")
        return 1
