"""Reading the stream back: its valid events, in stream order, parsed by the library."""

from __future__ import annotations

from typing import Any

import redis

from varcade_workers import events

STREAM = events.STREAM


def raw_client(client: redis.Redis) -> redis.Redis:
    """A client of the same database that returns bytes (entries need not be UTF-8)."""
    pool = client.connection_pool
    kwargs = {**pool.connection_kwargs, "decode_responses": False}
    return redis.Redis(connection_pool=type(pool)(connection_class=pool.connection_class, **kwargs))


def parse_stream(client: redis.Redis, stream: str = STREAM) -> list[events.Event]:
    """Every valid event of the stream, in stream order; entries that are not valid events
    (undecodable bytes, malformed fields) are skipped."""
    out: list[events.Event] = []
    raw = raw_client(client)
    try:
        cursor = "-"
        while True:
            page: Any = raw.xrange(stream, cursor, "+", count=5000)
            for _entry_id, fields in page:
                try:
                    decoded = {k.decode(): v.decode() for k, v in fields.items()}
                    out.append(events.parse_event(decoded))
                except (UnicodeDecodeError, events.MalformedEvent):
                    continue
            if len(page) < 5000:
                return out
            cursor = "(" + page[-1][0].decode()
    finally:
        raw.close()
