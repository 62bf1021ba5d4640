"""The real start commands: `python -m stats_tracker.worker` (killed with SIGKILL mid-stream and
restarted, exactly-once totals) and `gunicorn 'stats_tracker.app:create_app()'`."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from stats_tracker.events_worker import GROUP
from stats_tracker.repository import StatsRepository, leaderboard_key
from stats_tracker.scoring import ELO_INITIAL_RATING, elo_update
from varcade_workers.events import EventProducer
from varcade_workers.testing import free_port, redis_base_url

from varcade_workers import events

SERVICE_DIR = Path(__file__).resolve().parents[1]
PRODUCTS = {"exrps": "wins", "rated": "elo"}
PLAYERS = [f"player{n}" for n in range(12)]
WEAPONS = [events.ROCK, events.PAPER, events.SCISSORS, None]
WEAPON_NAMES = {
    events.ROCK: "rock",
    events.PAPER: "paper",
    events.SCISSORS: "scissors",
    None: "botch",
}


def service_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        VARCADE_ENV="test",
        REDIS_URL=f"{redis_base_url()}/7",
        EVENT_STREAM_URL=f"{redis_base_url()}/8",
        STATS_PRODUCTS=json.dumps(PRODUCTS),
        LOG_LEVEL="INFO",
        **extra,
    )
    return env


def wait_for(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


class Expected:
    """The totals the stream must produce, computed by replaying it in order."""

    def __init__(self) -> None:
        self.wins: Counter[str] = Counter()
        self.listed: set[str] = set()
        self.ratings: dict[str, float] = {}
        self.counters: dict[tuple[str, str], Counter[str]] = {}

    def count(self, product_id: str, user_id: str, counter: str) -> None:
        self.counters.setdefault((product_id, user_id), Counter())[counter] += 1

    def apply(self, event: events.Event) -> None:
        if isinstance(event, events.WeaponSelected):
            if event.product_id == "exrps":
                self.count("exrps", event.user_id, f"{WEAPON_NAMES[event.weapon]}_selection_count")
        elif isinstance(event, events.GameOver):
            p, w, lo = event.product_id, event.winner_id, event.loser_id
            for user, counter in ((w, "games"), (w, "wins"), (lo, "games"), (lo, "losses")):
                self.count(p, user, counter)
            if p == "exrps":
                self.wins[w] += 1
                self.listed.update((w, lo))
            else:
                self.ratings[w], self.ratings[lo] = elo_update(
                    self.ratings.get(w, ELO_INITIAL_RATING),
                    self.ratings.get(lo, ELO_INITIAL_RATING),
                )


def make_stream(seed: int = 7, games: int = 1000) -> list[events.Event]:
    """5 events per game (two weapon pairs, game over): 5,000 events for 1,000 games."""
    rng = random.Random(seed)
    out: list[events.Event] = []
    for n in range(games):
        product = "exrps" if n % 2 else "rated"
        p1, p2 = rng.sample(PLAYERS, 2)
        game = f"game{n}"
        for _ in range(2):
            out.append(events.WeaponSelected(product, game, p1, rng.choice(WEAPONS)))
            out.append(events.WeaponSelected(product, game, p2, rng.choice(WEAPONS)))
        winner, loser = (p1, p2) if rng.random() < 0.5 else (p2, p1)
        out.append(events.GameOver(product, game, winner, loser))
    return out


BAD_ENTRIES = [
    {"product_id": "exrps", "game_id": "bad", "type": "game_over", "winner_id": "x"},
    {
        "product_id": "chess",
        "game_id": "bad",
        "type": "game_over",
        "winner_id": "x",
        "loser_id": "y",
    },
]


def test_worker_killed_mid_stream_and_restarted_counts_every_event_once(
    tmp_path, stream_redis, data_redis
):
    stream = make_stream()
    assert len(stream) == 5000
    expected = Expected()
    for event in stream:
        expected.apply(event)
    chunks = [stream[i : i + 1000] for i in range(0, len(stream), 1000)]
    producer = EventProducer(stream_redis)
    metrics_port = free_port()
    env = service_env(
        METRICS_PORT=str(metrics_port),
        STREAM_BATCH_SIZE="50",
        STREAM_CLAIM_IDLE_MS="200",
    )
    log_path = tmp_path / "worker.log"

    def start() -> subprocess.Popen[bytes]:
        with open(log_path, "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "stats_tracker.worker"],
                cwd=SERVICE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def delivered() -> str:
        groups = stream_redis.xinfo_groups(events.STREAM)
        return next((g["last-delivered-id"] for g in groups if g["name"] == GROUP), "0-0")

    process = None
    kills = 0
    try:
        for number, chunk in enumerate(chunks[:-1]):
            producer.publish_many(chunk)
            for fields in BAD_ENTRIES:
                stream_redis.xadd(events.STREAM, fields)
            read, written = delivered(), data_redis.dbsize()
            process = start()
            # Kill right after a read (mid-batch), or right after a batch's writes (before its ack).
            if number % 2:
                progress = lambda r=read: delivered() != r  # noqa: E731
            else:
                progress = lambda w=written: data_redis.dbsize() != w  # noqa: E731
            wait_for(
                lambda p=process, moved=progress: moved() or p.poll() is not None,
                what="the worker to make progress",
            )
            assert process.poll() is None, log_path.read_text()
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            kills += 1

        producer.publish_many(chunks[-1])
        last_id = stream_redis.xrevrange(events.STREAM, count=1)[0][0]
        process = start()

        def done() -> bool:
            assert process.poll() is None, log_path.read_text()
            summary = stream_redis.xpending(events.STREAM, GROUP)
            return delivered() == last_id and summary["pending"] == 0

        wait_for(done, what="the stream to be fully applied")
        health = requests.get(f"http://127.0.0.1:{metrics_port}/healthz", timeout=5)
        assert health.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
    assert kills == 4

    assert stream_redis.xlen(f"{events.STREAM}:dead") == len(BAD_ENTRIES) * kills
    exrps_board = dict(data_redis.zrange(leaderboard_key("exrps"), 0, -1, withscores=True))
    assert exrps_board == {user: float(expected.wins[user]) for user in expected.listed}
    rated_board = dict(data_redis.zrange(leaderboard_key("rated"), 0, -1, withscores=True))
    assert rated_board == pytest.approx(expected.ratings)
    repository = StatsRepository(data_redis)
    for (product_id, user_id), counters in expected.counters.items():
        stored = repository.player_counters(product_id, user_id, list(counters))
        assert stored == dict(counters), (product_id, user_id)


def test_gunicorn_serves_the_app(tmp_path, data_redis):
    port = free_port()
    env = service_env(
        PORT=str(port), WEB_CONCURRENCY="2", PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prom")
    )
    data_redis.zadd(leaderboard_key("exrps"), {"alice": 3})
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "stats_tracker.app:create_app()"],
        cwd=SERVICE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert server.poll() is None, server.stderr.read().decode()
        try:
            return requests.get(f"{base}/healthz", timeout=5).status_code == 200
        except requests.RequestException:  # not listening yet, or its workers still booting
            return False

    try:
        wait_for(answers, timeout=60, what="gunicorn to answer")
        top = requests.get(f"{base}/leaderboards/top_ten/exrps", timeout=5)
        assert top.json() == [{"user_id": "alice", "score": 3}]
        assert requests.get(f"{base}/stats/nope/alice", timeout=5).status_code == 400
        assert "http_requests_total" in requests.get(f"{base}/metrics", timeout=5).text
    finally:
        server.terminate()
        server.wait(15)
