"""Operating dead letters: list them, replay them into their stream, purge them.

A dead letter is the original entry's fields (as the producer wrote them: any bytes) plus the
`dl_*` fields `EventStreamWorker` adds (error, delivery count, original id, stream, group,
consumer). This module reads entries as bytes, so it handles every entry, binary or hostile ones
included:

- `list` prints field names and values as text with every control, format (bidi) or otherwise
  non-printable character escaped (``\\x1b``, ``\\u202e``), every undecodable byte as ``\\xff``
  and the backslash as ``\\\\``, so an entry cannot write to the terminal; long values are cut
  (``--max-bytes``) with the number of bytes left out said.
- `replay` appends the original fields, byte for byte, to the stream again (a new entry id) with
  the replay fields of `varcade_workers.replays`: the original id, the group that gave up on it
  and a token whose proof key it stores in the same transaction. Only that group handles the
  replayed entry (the others ack it unseen, having handled the original already), and its handler
  gets the original id, so `ExactlyOnce` markers set by an earlier delivery still match. The token
  is what makes the replay genuine: replay fields a producer writes itself are not believed.
- `purge` deletes dead letters.

`--all` walks the dead letters page by page, up to the last one present when the command started
(a replay dead-lettered again meanwhile is not replayed a second time by the same command).
"""

from __future__ import annotations

import argparse
import re
import sys
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TextIO

import redis

from varcade_workers import settings
from varcade_workers.redis_clients import redis_client
from varcade_workers.replays import REPLAY_FIELDS, REPLAY_TTL_SECONDS, Replay, write_replay
from varcade_workers.stream_worker import default_dead_letter_stream

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DeadLetterEntry",
    "iter_dead_letters",
    "list_dead_letters",
    "main",
    "printable",
    "purge",
    "redact_url",
    "replay",
]

#: Longest value `list` prints, in bytes, unless told otherwise (`--max-bytes`).
DEFAULT_MAX_BYTES: Final = 200
_PAGE: Final = 20  # entries may be megabytes each
_DEAD_LETTER_PREFIX: Final = b"dl_"
_REPLAY_FIELD_BYTES: Final = frozenset(name.encode() for name in REPLAY_FIELDS)
# Anything but printable ASCII, and the backslash (escaped too, so escapes are unambiguous).
_NOT_PLAIN: Final = re.compile(r"[^\x20-\x5b\x5d-\x7e]")
_SHORT_ESCAPES: Final = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _text(value: bytes | str) -> str:
    """Text of a metadata value; undecodable bytes kept as surrogates (printable() shows them)."""
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


@dataclass(frozen=True)
class DeadLetterEntry:
    """One entry of a dead-letter stream: the original fields, verbatim, and the metadata."""

    id: str
    fields: dict[bytes, bytes]
    original_id: str
    error: str
    delivery_count: str
    stream: str
    group: str

    @classmethod
    def from_entry(
        cls, entry_id: bytes | str, raw: Mapping[bytes, bytes] | Mapping[str, str]
    ) -> DeadLetterEntry:
        """Split an entry read from the dead-letter stream (bytes; text is encoded back)."""
        fields = {_bytes(k): _bytes(v) for k, v in raw.items()}
        meta = {k[3:].decode("utf-8", "surrogateescape"): _text(v) for k, v in fields.items()
                if k.startswith(_DEAD_LETTER_PREFIX)}  # fmt: skip
        original = {
            k: v
            for k, v in fields.items()
            if not k.startswith(_DEAD_LETTER_PREFIX) and k not in _REPLAY_FIELD_BYTES
        }
        return cls(
            id=_text(entry_id),
            fields=original,
            original_id=meta.get("original_id", ""),
            error=meta.get("error", ""),
            delivery_count=meta.get("delivery_count", ""),
            stream=meta.get("stream", ""),
            group=meta.get("group", ""),
        )


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


def _check_bytes_client(client: redis.Redis) -> None:
    kwargs = getattr(client.connection_pool, "connection_kwargs", {})
    if kwargs.get("decode_responses"):
        raise ValueError(
            "the dead-letters tool needs a client with decode_responses=False "
            "(entries may hold any bytes)"
        )


def iter_dead_letters(
    client: redis.Redis,
    dead_stream: str,
    *,
    count: int | None = None,
    page_size: int = _PAGE,
) -> Iterator[DeadLetterEntry]:
    """The oldest `count` dead letters (all when None), oldest first, read page by page up to the
    newest entry present at the first read. `client` must not decode responses."""
    _check_bytes_client(client)
    newest: list[Any] = list(client.xrevrange(dead_stream, count=1) or [])
    if not newest:
        return
    last: bytes = newest[0][0]
    start: Any = "-"
    left = count
    while left is None or left > 0:
        size = page_size if left is None else min(page_size, left)
        page: list[Any] = list(client.xrange(dead_stream, start, last, count=size) or [])
        for entry_id, fields in page:
            yield DeadLetterEntry.from_entry(entry_id, fields)
        if len(page) < size:
            return
        if left is not None:
            left -= len(page)
        start = b"(" + _bytes(page[-1][0])


def list_dead_letters(
    client: redis.Redis, dead_stream: str, *, count: int | None = 100, ids: Sequence[str] = ()
) -> list[DeadLetterEntry]:
    """The oldest `count` dead letters (all when None), or exactly those in `ids` that exist.
    `client` must not decode responses (entries may hold any bytes)."""
    if not ids:
        return list(iter_dead_letters(client, dead_stream, count=count))
    _check_bytes_client(client)
    pipe = client.pipeline(transaction=False)
    for entry_id in ids:
        pipe.xrange(dead_stream, entry_id, entry_id)
    entries: list[Any] = [entry for found in pipe.execute() for entry in found or []]
    return [DeadLetterEntry.from_entry(entry_id, fields) for entry_id, fields in entries]


def replay(
    client: redis.Redis,
    stream: str,
    dead_stream: str,
    entries: Sequence[DeadLetterEntry],
    *,
    ttl_seconds: int = REPLAY_TTL_SECONDS,
) -> list[tuple[str, str]]:
    """Append each entry's original fields to `stream`, addressed to the group that dead-lettered
    it under its original id (`replays.write_replay`: with its proof), and delete it from the dead
    letters: one transaction per entry. An entry without an original id is appended as a plain
    entry (every group handles it). Returns (dead-letter id, new stream id) pairs.

    Raises ValueError, before writing it, for an entry whose original id is not a stream id (the
    entries before it are replayed)."""
    _check_bytes_client(client)
    replayed: list[tuple[str, str]] = []
    for entry in entries:
        pipe = client.pipeline(transaction=True)
        if entry.original_id:
            write_replay(
                pipe, stream, entry.fields, Replay(entry.original_id, entry.group),
                ttl_seconds=ttl_seconds,
            )  # fmt: skip
        else:
            pipe.xadd(stream, entry.fields)  # type: ignore[arg-type]
        pipe.xdel(dead_stream, entry.id)
        *_, new_id, _ = pipe.execute()
        replayed.append((entry.id, _text(new_id)))
    return replayed


def purge(client: redis.Redis, dead_stream: str, ids: Sequence[str]) -> int:
    """Delete these dead letters; returns how many existed."""
    return int(client.xdel(dead_stream, *ids)) if ids else 0


# -- printing -------------------------------------------------------------------------------------


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if char.isprintable():  # letters, marks, symbols of any script
        return char
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(value: bytes | str, max_bytes: int | None = None) -> str:
    """`value` as one line of harmless text: undecodable bytes as ``\\xNN``, control, format (bidi,
    zero-width) and other non-printable characters as ``\\xNN``/``\\uNNNN``/``\\UNNNNNNNN``
    (``\\t``, ``\\n``, ``\\r`` for those three), the backslash as ``\\\\``. With `max_bytes`, a
    longer value is cut (at a character boundary) and ends with ``...[N more bytes]``."""
    data = _bytes(value)
    cut = 0
    if max_bytes is not None and len(data) > max_bytes:
        end = max_bytes
        # Do not split a UTF-8 sequence: back off over at most 3 continuation bytes.
        while end > 0 and max_bytes - end < 3 and (data[end] & 0xC0) == 0x80:
            end -= 1
        if max_bytes - end == 3 and (data[end] & 0xC0) == 0x80:
            end = max_bytes  # not UTF-8 anyway
        cut = len(data) - end
        data = data[:end]
    text = _NOT_PLAIN.sub(_escape, data.decode("utf-8", "surrogateescape"))
    return f"{text}...[{cut} more bytes]" if cut else text


def _write(out: TextIO, text: str) -> None:
    """Write, escaping what the output's encoding cannot carry (a Latin-1 terminal, say)."""
    try:
        out.write(text)
    except UnicodeEncodeError:
        encoding = out.encoding or "ascii"
        out.write(text.encode(encoding, "backslashreplace").decode(encoding))


def redact_url(url: str) -> str:
    """`url` with its password (in the user info or a ``password=`` parameter) replaced by
    ``***``: ``redis://:***@host:6379/1``."""
    try:
        parts = urllib.parse.urlsplit(url)
        has_password = parts.password is not None
    except ValueError:  # not even a URL: show nothing of it
        return "<unparsable URL>"
    netloc = parts.netloc
    if has_password:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hostport}"
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        if any(name.lower() == "password" for name, _ in pairs):
            query = "&".join(
                f"{name}=***" if name.lower() == "password" else urllib.parse.urlencode({name: v})
                for name, v in pairs
            )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


# user:password@ in any URL of a message, and password=... parameters.
_USERINFO_PASSWORD: Final = re.compile(r"(://[^/@:\s]*):[^@\s]*@")
_PASSWORD_PARAMETER: Final = re.compile(r"(?i)(\bpassword=)[^&\s'\"]*")


def _scrub(text: str, url: str | None = None) -> str:
    """An error text fit to print: `url` and any other URL's password hidden, escaped."""
    if url:
        text = text.replace(url, redact_url(url))
        try:
            password = urllib.parse.urlsplit(url).password
        except ValueError:
            password = None
        for secret in (password, urllib.parse.unquote(password or "")):
            if secret:
                text = text.replace(secret, "***")
    text = _USERINFO_PASSWORD.sub(r"\1:***@", text)
    return printable(_PASSWORD_PARAMETER.sub(r"\1***", text))


# -- the command ----------------------------------------------------------------------------------


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

    listing = actions.add_parser(
        "list",
        help="show the oldest dead letters",
        description="Show the oldest dead letters. Non-printable characters and undecodable "
        "bytes are printed as escapes (\\x1b, \\u202e, \\xff; a backslash as \\\\).",
    )
    common(listing)
    listing.add_argument("--count", type=int, default=100, help="at most N entries (default 100)")
    listing.add_argument(
        "--fields", action="store_true", help="also print the original fields, one per line"
    )
    listing.add_argument(
        "--max-bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        metavar="N",
        help=f"cut values longer than N bytes (default {DEFAULT_MAX_BYTES}; 0: never)",
    )
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
    """The `python -m varcade_workers` command; returns the exit status. A `client` given must not
    decode responses (``decode_responses=False``)."""
    args = _parser().parse_args(argv)
    try:
        url = args.redis or settings.redis_url("EVENT_STREAM_URL", 1)
    except settings.ConfigError as exc:
        sys.stderr.write(f"error: {_scrub(str(exc))}\n")
        return 2
    if args.count is not None and args.count < 0:
        sys.stderr.write("error: --count must not be negative\n")
        return 2
    if client is None:
        try:
            client = redis_client(url, decode_responses=False)
        except ValueError as exc:
            sys.stderr.write(f"error: Redis URL {redact_url(url)}: {_scrub(str(exc), url)}\n")
            return 2
    dead_stream = args.dead_stream or default_dead_letter_stream(args.stream)
    try:
        return _run(args, client, dead_stream, sys.stdout)
    except redis.RedisError as exc:
        sys.stderr.write(f"error: Redis at {redact_url(url)}: {_scrub(str(exc), url)}\n")
        return 1


def _run(args: argparse.Namespace, client: redis.Redis, dead_stream: str, out: TextIO) -> int:
    shown_stream = printable(dead_stream)
    if args.action == "list":
        limit = args.max_bytes if args.max_bytes > 0 else None
        entries = list_dead_letters(client, dead_stream, count=args.count, ids=args.ids)
        total = client.xlen(dead_stream)
        _write(out, f"{shown_stream}: {total} dead letter(s), showing {len(entries)}\n")
        for e in entries:
            _write(
                out,
                f"{printable(e.id)}  original_id={printable(e.original_id, limit)} "
                f"group={printable(e.group, limit)} "
                f"deliveries={printable(e.delivery_count, limit)} "
                f"error={printable(e.error, limit)}\n",
            )
            if args.fields:
                for name, value in e.fields.items():
                    _write(out, f"    {printable(name, limit)}={printable(value, limit)}\n")
        return 0
    if not args.ids and not args.all:
        sys.stderr.write(f"{args.action}: give --ids ID... or --all\n")
        return 2
    status = 0
    if args.ids:
        entries = list_dead_letters(client, dead_stream, ids=args.ids)
        found = {e.id for e in entries}
        for entry_id in args.ids:
            if entry_id not in found:
                sys.stderr.write(
                    f"{args.action}: no dead letter {printable(entry_id)} in {shown_stream}\n"
                )
                status = 1
        batches: Iterator[list[DeadLetterEntry]] = iter([entries])
    else:
        batches = _pages(iter_dead_letters(client, dead_stream, count=args.count))
    done = 0
    for batch in batches:
        if args.action == "purge":
            done += purge(client, dead_stream, [e.id for e in batch])
            continue
        for entry in batch:
            try:
                [(dead_id, new_id)] = replay(client, args.stream, dead_stream, [entry])
            except ValueError as exc:
                reason = printable(str(exc))
                sys.stderr.write(f"replay: cannot replay {printable(entry.id)}: {reason}\n")
                status = 1
                continue
            done += 1
            _write(out, f"replayed {printable(dead_id)} -> {printable(args.stream)} {new_id}\n")
    if args.action == "purge":
        _write(out, f"{done} purged from {shown_stream}\n")
    else:
        _write(out, f"{done} replayed\n")
    return status


def _pages(entries: Iterator[DeadLetterEntry]) -> Iterator[list[DeadLetterEntry]]:
    page: list[DeadLetterEntry] = []
    for entry in entries:
        page.append(entry)
        if len(page) == _PAGE:
            yield page
            page = []
    if page:
        yield page
