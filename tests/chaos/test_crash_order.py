"""Crash and poison, the short version of `make chaos` (the full drill: tools/chaos/).

The real workers run as processes on a private Redis with their default settings (claim after
30 s idle, batches of 500, ...):

- matchmaker: games whose guest drops and connects again (player_disconnect, all_players_joined
  again ...). A backlog is written, then a worker that SIGKILLs itself in its 3rd batch (half of
  it handled and unacknowledged, half delivered and never handled: tests/chaos/crashing_worker.py)
  and, as a supervisor would, a new `python -m matchmaker.worker` while the rest of the games'
  events keep arriving. Every game must end as the in-order application of its events computed
  with the matchmaker's own rules (tools.chaos.lobby_model).
- stats: the same crash with an Elo product: leaderboards and counters must equal an in-order
  replay with the stats tracker's own code (tools.chaos.stats_model).
- poison: non-UTF-8 entries (a value, a field name) followed by valid game_over events: the valid
  ones must be applied, the poison dead-lettered and nothing left pending.

Each wait is bounded (WAIT seconds) so that a failure is an assertion saying what was seen, not a
hang; nothing else depends on timing.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from matchmaker.games import Product
from varcade_workers.testing import RedisServer

from tools.chaos import ROOT, lobby_model, stats_model
from tools.chaos.groups import DEAD_STREAM, GroupProgress, progress, wait_consumed
from tools.chaos.poison import poison_entries
from tools.chaos.stream_io import parse_stream
from tools.run.supervisor import spawn, stop_process
from varcade_workers import events

WAIT = 20.0  # seconds: the longest any single wait of these tests may take
STREAM = events.STREAM
STATS_PRODUCTS = {"exrps": "wins", "elorps": "elo"}
BATCH = 500  # the stream worker's default batch size
CRASH = ["--batch", "3", "--handled", str(BATCH // 2)]
HERE = Path(__file__).resolve().parent
_NOT_INHERITED = ("STREAM_", "CURATION_", "GAME_SERVER_TIMEOUT", "METRICS_PORT", "REDIS_URL")


class Worker:
    """A worker process, its output in a file (shown when a test fails)."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.proc = spawn(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=self._out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def tail(self, chars: int = 2500) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        stop_process(self.proc, grace_seconds=5)
        self._out.close()


def service_env(server: RedisServer, data_db: int, stream_db: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}
    env.update(
        VARCADE_ENV="test",
        VARCADE_REDIS=server.url,
        REDIS_URL=f"{server.url}/{data_db}",
        EVENT_STREAM_URL=f"{server.url}/{stream_db}",
        STATS_PRODUCTS=json.dumps(STATS_PRODUCTS),
        METRICS_PORT="0",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    return env


def crashing(service: str, env: dict[str, str], log: Path) -> Worker:
    argv = [sys.executable, str(HERE / "crashing_worker.py"), service, *CRASH]
    return Worker(argv, ROOT, env, log)


def real(package: str, env: dict[str, str], log: Path) -> Worker:
    """The worker as `make run` starts it: `python -m <package>.worker` in its folder."""
    return Worker([sys.executable, "-m", f"{package}.worker"], ROOT / package, env, log)


def wait_for_crash(worker: Worker) -> None:
    try:
        code = worker.proc.wait(WAIT)
    except subprocess.TimeoutExpired:
        worker.stop()
        pytest.fail(f"the crashing worker never reached its kill point:\n{worker.tail()}")
    assert code == -signal.SIGKILL, f"crashing worker exit {code}, not SIGKILL:\n{worker.tail()}"


def write_slowly(client: redis.Redis, later: list[events.Event], seconds: float = 2.0) -> None:
    """The rest of the games' events, arriving in small batches while the new worker runs."""
    producer = events.EventProducer(client)
    chunks = max(1, int(seconds / 0.1))
    size = max(1, -(-len(later) // chunks))
    for start in range(0, len(later), size):
        producer.publish_many(later[start : start + size])
        time.sleep(0.1)


def state_line(states: list[GroupProgress]) -> str:
    return "; ".join(s.describe() for s in states)


@pytest.fixture
def dbs(redis_server: RedisServer) -> Iterator[tuple[redis.Redis, redis.Redis]]:
    """(data, stream) clients of databases 0 and 1 of the module's private Redis, emptied."""
    data = redis_server.client(0, decode_responses=True)
    stream = redis_server.client(1, decode_responses=True)
    for client in (data, stream):
        client.flushdb()
    yield data, stream
    for client in (data, stream):
        client.flushdb()
        client.close()


def test_matchmaker_crash_keeps_every_game_in_order(
    redis_server: RedisServer, dbs: tuple[redis.Redis, redis.Redis], tmp_path: Path
) -> None:
    data, stream = dbs
    rng = random.Random(20261130)
    endings = ("removed", "ended", "in_progress", "host_left")
    scripts = [
        lobby_model.game_script(rng, rejoins=rng.choice((1, 2)), ending=rng.choice(endings))
        for _ in range(150)
    ]
    in_order = lobby_model.interleave(rng, scripts)
    repository = lobby_model.repository_for(data)
    product = Product("exrps", "http://127.0.0.1:9", "127.0.0.1:9", {"num_players": 2})
    initial = lobby_model.store_initial_games(repository, scripts, product, time.time())
    prefill = 4 * BATCH  # the crash comes in the 3rd batch of this backlog
    events.EventProducer(stream).publish_many(in_order[:prefill])
    env = service_env(redis_server, 0, 1)

    wait_for_crash(crashing("matchmaker", env, tmp_path / "crashing.log"))
    worker = real("matchmaker", env, tmp_path / "worker.log")
    try:
        write_slowly(stream, in_order[prefill:])
        done, waited, states = wait_consumed(stream, ["matchmaker"], timeout=WAIT)
        wrong = lobby_model.compare(repository, initial, parse_stream(stream), time.time())
        assert not wrong and done, (
            f"{len(wrong)} of {len(initial)} games differ from the in-order application of "
            f"their events ({len(in_order)} events); group after {waited:.0f}s: "
            f"{state_line(states)}; first ones:\n"
            + "\n".join(w.describe() for w in wrong[:5])
            + f"\n--- restarted worker's log (tail) ---\n{worker.tail()}"
        )
    finally:
        worker.stop()


def test_stats_crash_keeps_elo_in_order(
    redis_server: RedisServer, dbs: tuple[redis.Redis, redis.Redis], tmp_path: Path
) -> None:
    data, stream = dbs
    rng = random.Random(11302026)
    in_order = stats_model.stats_stream(rng, 3500, ["elorps", "exrps"], 12)
    prefill = 4 * BATCH
    events.EventProducer(stream).publish_many(in_order[:prefill])
    env = service_env(redis_server, 0, 1)

    wait_for_crash(crashing("stats", env, tmp_path / "crashing.log"))
    worker = real("stats_tracker", env, tmp_path / "worker.log")
    try:
        write_slowly(stream, in_order[prefill:])
        done, waited, states = wait_consumed(stream, ["stats_tracker"], timeout=WAIT)
        expected = stats_model.replay(parse_stream(stream), stats_model.products(STATS_PRODUCTS))
        diff = stats_model.compare(data, expected, "elorps")
        assert done and diff.elo_max_diff < 0.005 and not (diff.lost or diff.doubled), (
            f"after {waited:.0f}s ({state_line(states)}): largest Elo difference from the "
            f"in-order replay {diff.elo_max_diff:.2f} ({diff.elo_worst}), games counters lost "
            f"{diff.lost}, double-counted {diff.doubled}, other counters off "
            f"{diff.other_counters}; {expected.game_overs} game_over events\n"
            + "\n".join(diff.examples)
            + f"\n--- restarted worker's log (tail) ---\n{worker.tail()}"
        )
    finally:
        worker.stop()


def test_non_utf8_poison_does_not_hold_back_valid_events(
    redis_server: RedisServer, dbs: tuple[redis.Redis, redis.Redis], tmp_path: Path
) -> None:
    data, stream = dbs
    raw = redis_server.client(1)  # bytes: the poison is not UTF-8
    poison = list(poison_entries(5, 2, kinds=("non_utf8_value", "non_utf8_name")))
    players = [(f"valid-{n}-w", f"valid-{n}-l") for n in range(20)]
    pipe = raw.pipeline(transaction=False)
    for entry in poison:
        pipe.xadd(STREAM, entry.fields)  # type: ignore[arg-type]
    for n, (winner, loser) in enumerate(players):
        event = events.GameOver("exrps", f"game-{n}", winner, loser, seq=1)
        pipe.xadd(STREAM, event.to_fields())  # type: ignore[arg-type]
    poison_ids = {i.decode() for i in pipe.execute()[: len(poison)]}
    worker = real("stats_tracker", service_env(redis_server, 0, 1), tmp_path / "worker.log")

    def applied() -> int:
        return sum(
            1
            for winner, loser in players
            if data.hget(f"player_stats:exrps:{winner}", "wins") == "1"
            and data.hget(f"player_stats:exrps:{loser}", "losses") == "1"
        )

    def dead_lettered() -> set[str]:
        found = set()
        entries: Any = raw.xrange(DEAD_STREAM)
        for _, fields in entries:
            found.add(fields.get(b"dl_original_id", b"").decode(errors="replace"))
        return found & poison_ids

    try:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            state = progress(stream, "stats_tracker")
            if applied() == len(players) and dead_lettered() == poison_ids and state.consumed:
                break
            time.sleep(0.2)
        state = progress(stream, "stats_tracker")
        count, dead = applied(), dead_lettered()
        assert count == len(players) and dead == poison_ids and state.consumed, (
            f"after {WAIT:.0f}s: valid game_over applied {count}/{len(players)}, poison "
            f"dead-lettered {len(dead)}/{len(poison)} ({', '.join(e.note for e in poison)}), "
            f"{state.describe()}\n--- worker's log (tail) ---\n{worker.tail()}"
        )
    finally:
        worker.stop()
        raw.close()
