"""Where a consumer group stands: what it has consumed, what is pending, and for whom.

`progress` reads XINFO GROUPS and the stream's last id; `wait_consumed` waits (bounded) until a
group has been handed every entry and has acknowledged them all. `TakeoverWatch` measures how long
a killed consumer's pending entries wait before another consumer takes them over: at the kill it
records the entries pending for the killed process (its consumer name carries its pid), then polls
XPENDING until each of them is acked, owned by another consumer, or delivered again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.client import NEVER_DECODE

STREAM = "game_event_stream"
DEAD_STREAM = f"{STREAM}:dead"


@dataclass(frozen=True)
class GroupProgress:
    group: str
    exists: bool
    pending: int
    last_delivered: str
    stream_last: str

    @property
    def consumed(self) -> bool:
        """Every entry handed to the group and acknowledged."""
        return self.exists and self.pending == 0 and self.last_delivered == self.stream_last

    def describe(self) -> str:
        if not self.exists:
            return f"{self.group}: no group"
        behind = "" if self.last_delivered == self.stream_last else ", not all delivered"
        return f"{self.group}: {self.pending} pending{behind}"


def stream_last_id(client: redis.Redis, stream: str = STREAM) -> str:
    """The newest entry's id. Its fields are read as bytes (they may not be UTF-8)."""
    last: Any = client.execute_command(
        "XREVRANGE", stream, "+", "-", "COUNT", "1", **{NEVER_DECODE: True}
    )
    if not last:
        return "0-0"
    entry_id = last[0][0]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def progress(client: redis.Redis, group: str, stream: str = STREAM) -> GroupProgress:
    last = stream_last_id(client, stream)
    try:
        groups = {str(g["name"]): g for g in client.xinfo_groups(stream)}
    except redis.ResponseError:  # no stream yet
        groups = {}
    info = groups.get(group)
    if info is None:
        return GroupProgress(group, False, 0, "", last)
    return GroupProgress(group, True, int(info["pending"]), str(info["last-delivered-id"]), last)


def wait_consumed(
    client: redis.Redis,
    groups: Iterable[str],
    *,
    timeout: float,
    stream: str = STREAM,
    on_wait: Callable[[list[GroupProgress]], None] | None = None,
    report_every: float = 5.0,
    check: Callable[[], None] | None = None,
) -> tuple[bool, float, list[GroupProgress]]:
    """Wait until every group has consumed the stream: (done, seconds waited, last progress).

    `check` runs at each poll (e.g. raise when a process died)."""
    names = list(groups)
    started = time.monotonic()
    next_report = started + report_every
    while True:
        if check is not None:
            check()
        states = [progress(client, g, stream) for g in names]
        waited = time.monotonic() - started
        if all(s.consumed for s in states):
            return True, waited, states
        if waited > timeout:
            return False, waited, states
        if on_wait is not None and time.monotonic() >= next_report:
            next_report += report_every
            on_wait(states)
        time.sleep(0.1)


def pending_entries(
    client: redis.Redis, group: str, *, stream: str = STREAM, count: int = 100_000
) -> list[dict[str, Any]]:
    """XPENDING's extended form: message_id, consumer, time_since_delivered, times_delivered."""
    try:
        rows: Any = client.xpending_range(stream, group, "-", "+", count)
    except redis.ResponseError:
        return []
    return list(rows)


def consumer_of_pid(name: str, pid: int) -> bool:
    """Whether a consumer name is the library's default name for process `pid` (host-pid-hex)."""
    parts = name.rsplit("-", 2)
    return len(parts) == 3 and parts[1] == str(pid)


@dataclass
class Takeover:
    """One kill: how many entries the killed consumer held, and when the last was taken over."""

    pid: int
    killed_at: float
    entries: dict[str, tuple[str, int]]  # entry id -> (consumer, delivery count) at the kill
    done_at: float | None = None

    @property
    def delay(self) -> float | None:
        if not self.entries:
            return 0.0
        return None if self.done_at is None else self.done_at - self.killed_at


@dataclass
class TakeoverWatch:
    """Polls the group's pending entries in a thread; `record_kill` right after each SIGKILL.

    The killed process's entries are those of the consumer named after its pid; when no consumer
    carries the pid (a library naming consumers otherwise) and `sole_consumer` is set (one replica),
    every entry pending at the kill counts as the killed process's.
    """

    client: redis.Redis
    group: str
    stream: str = STREAM
    sole_consumer: bool = True
    interval: float = 0.2
    kills: list[Takeover] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> TakeoverWatch:
        self._thread = threading.Thread(target=self._run, name="takeover-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling, after one last look (entries acked just now count as taken over)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.poll()

    def record_kill(self, pid: int, killed_at: float) -> Takeover:
        rows = pending_entries(self.client, self.group, stream=self.stream)
        mine = [r for r in rows if consumer_of_pid(str(r["consumer"]), pid)]
        names = {str(r["consumer"]) for r in rows}
        if not mine and self.sole_consumer and not any(map(_looks_default, names)):
            mine = rows  # consumers not named after pids: with one replica, all were its
        entries = {str(r["message_id"]): _owner(r) for r in mine}
        takeover = Takeover(pid, killed_at, entries)
        with self._lock:
            self.kills.append(takeover)
        return takeover

    def open_kills(self) -> int:
        with self._lock:
            return sum(1 for k in self.kills if k.entries and k.done_at is None)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        """Mark the kills whose entries have all been acked, claimed or delivered again since."""
        with self._lock:
            waiting = [k for k in self.kills if k.entries and k.done_at is None]
        if not waiting:
            return
        try:
            rows = pending_entries(self.client, self.group, stream=self.stream)
        except redis.RedisError:
            return
        now = time.monotonic()
        current = {str(r["message_id"]): _owner(r) for r in rows}

        def moved(entry_id: str, then: tuple[str, int]) -> bool:
            now_owner = current.get(entry_id)
            return now_owner is None or now_owner[0] != then[0] or now_owner[1] > then[1]

        with self._lock:
            for kill in waiting:
                if all(moved(i, then) for i, then in kill.entries.items()):
                    kill.done_at = now


def holds_entries(client: redis.Redis, group: str, pid: int, *, stream: str = STREAM) -> bool:
    """Whether process `pid` has entries in hand (delivered to it, not acked yet).

    Its consumer is the one named after its pid; if no consumer is (a library naming them
    otherwise), whether the group has anything pending or undelivered at all."""
    try:
        consumers = client.xinfo_consumers(stream, group)
    except redis.ResponseError:
        return False
    for info in consumers:
        if consumer_of_pid(str(info["name"]), pid):
            return int(info["pending"]) > 0
    if any(_looks_default(str(info["name"])) for info in consumers):
        return False  # named after pids, but not yet after this one: it has not read yet
    state = progress(client, group, stream)
    return state.pending > 0 or state.last_delivered != state.stream_last


def _owner(row: Mapping[str, object]) -> tuple[str, int]:
    return str(row["consumer"]), int(str(row["times_delivered"]))


def _looks_default(name: str) -> bool:
    parts = name.rsplit("-", 2)
    return len(parts) == 3 and parts[1].isdigit() and len(parts[2]) == 6
