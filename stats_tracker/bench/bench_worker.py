"""Benchmark: game_over events per second the stats worker applies, stream -> leaderboard + stats,
with exactly-once on. Prints figures, asserts nothing.

    cd stats_tracker && PYTHONPATH=. python bench/bench_worker.py [--events 50000] [--scoring wins]

Runs against a private redis-server on a free port (varcade_workers.testing.RedisServer), so it
never touches a test suite's databases or a running arcade.
"""

from __future__ import annotations

import argparse
import random
import time

import redis
from stats_tracker.events_worker import StatsEventsWorker
from stats_tracker.products import build_products
from varcade_workers.events import EventProducer
from varcade_workers.testing import RedisServer

from varcade_workers import events

DATA_DB, STREAM_DB = 7, 8


def run(base: str, count: int, scoring: str, players: int, batch_size: int) -> float:
    stream = redis.Redis.from_url(f"{base}/{STREAM_DB}", decode_responses=True)
    data = redis.Redis.from_url(f"{base}/{DATA_DB}", decode_responses=True)
    stream.flushdb()
    data.flushdb()
    try:
        rng = random.Random(1)
        users = [f"user{n}" for n in range(players)]
        producer = EventProducer(stream)
        for start in range(0, count, 5000):
            chunk = []
            for n in range(start, min(count, start + 5000)):
                winner, loser = rng.sample(users, 2)
                chunk.append(events.GameOver("bench", f"game{n}", winner, loser))
            producer.publish_many(chunk)
        worker = StatsEventsWorker(
            f"{base}/{STREAM_DB}",
            data,
            build_products({"bench": scoring}),
            batch_size=batch_size,
            block_ms=10,
        )
        started = time.perf_counter()
        handled = 0
        while batch := worker.run():
            handled += batch
        worker.flush_acks()
        elapsed = time.perf_counter() - started
        games = sum(int(v) for v in data.hvals(f"player_stats:bench:{users[0]}"))
        assert handled == count and games > 0, (handled, games)
        worker.redis.close()
        return count / elapsed
    finally:
        stream.flushdb()
        data.flushdb()
        stream.close()
        data.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--scoring", choices=["wins", "elo", "both"], default="both")
    args = parser.parse_args()
    with RedisServer() as server:
        for scoring in ("wins", "elo") if args.scoring == "both" else (args.scoring,):
            rate = run(server.url, args.events, scoring, args.players, args.batch_size)
            print(
                f"stats worker: {rate:,.0f} game_over events/s applied exactly-once "
                f"(scoring={scoring}, {args.events:,} events, {args.players} players, "
                f"batch={args.batch_size}; target > 10,000/s)"
            )


if __name__ == "__main__":
    main()
