"""EventStreamWorker beside a plain redis-py consumer loop. Prints figures, asserts nothing.

1. Throughput: drain N pre-filled events (default 100,000) with a no-op handler that still receives
   decoded dict[str, str] fields, and with a plain loop (XREADGROUP COUNT 500 + XACK), each through
   its own consumer group over the same stream. Best of --rounds.
2. Latency: a producer process XADDs at --rate events/s for --seconds; the worker's handler measures
   XADD -> handler with the system-wide monotonic clock; p50/p99/max.

Runs against a private redis-server on a free port (or --redis URL, e.g. redis://127.0.0.1:6379/3).
Usage: python bench/bench_stream.py [--events 100000] [--rate 2000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from contextlib import ExitStack

import redis
from varcade_workers.testing import RedisServer

from varcade_workers import EventStreamWorker, events

STREAM = "bench_stream"
BATCH = 500


def fill(client: redis.Redis, count: int) -> None:
    producer = events.EventProducer(client, stream=STREAM, maxlen=10 * count)
    chunk = 2000
    for start in range(0, count, chunk):
        producer.publish_many(
            events.StateChange(
                product_id="exrps", game_id=f"game-{n}", new_state=events.IN_PROGRESS
            )
            for n in range(start, min(count, start + chunk))
        )


def plain_loop(client: redis.Redis, group: str, count: int) -> float:
    """The reference: what a hand-written consumer does. Returns events/s."""
    client.xgroup_create(STREAM, group, id="0")
    done = 0
    started = time.perf_counter()
    while done < count:
        response = client.xreadgroup(group, "plain", {STREAM: ">"}, count=BATCH, block=1000)
        if not response:
            break
        entries = response[0][1]
        client.xack(STREAM, group, *[entry_id for entry_id, _ in entries])
        done += len(entries)
    return done / (time.perf_counter() - started)


class NoOp(EventStreamWorker):
    def handle_event(self, event_id: str, fields: dict[str, str]) -> None:
        pass


def library_loop(url: str, group: str, count: int) -> float:
    worker = NoOp(url, STREAM, group, batch_size=BATCH, block_ms=1000)
    worker.run()  # creates the group and reads the first batch: part of the timing below
    worker.stats.processed = 0
    worker.redis.xgroup_destroy(STREAM, group)
    worker._group_ready = False
    worker._to_ack = []
    started = time.perf_counter()
    while worker.stats.processed < count:
        if worker.run() == 0:
            break
    worker.close()
    elapsed = time.perf_counter() - started
    worker.redis.close()
    return worker.stats.processed / elapsed


def produce(url: str, stream: str, rate: int, seconds: float) -> None:
    client = redis.Redis.from_url(url)
    interval = 1.0 / rate
    total = int(rate * seconds)
    start = time.monotonic()
    for n in range(total):
        target = start + n * interval
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        client.xadd(stream, {"product_id": "exrps", "t": str(time.monotonic_ns())})
    client.xadd(stream, {"product_id": "exrps", "t": "end"})


class Timer(EventStreamWorker):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.latencies_us: list[float] = []
        self.ended = False

    def handle_event(self, event_id: str, fields: dict[str, str]) -> None:
        now = time.monotonic_ns()
        sent = fields["t"]
        if sent == "end":
            self.ended = True
        else:
            self.latencies_us.append((now - int(sent)) / 1000)


def latency(url: str, rate: int, seconds: float) -> list[float]:
    stream = f"{STREAM}:latency"
    worker = Timer(url, stream, "latency", batch_size=BATCH, block_ms=1000, start_id="$")
    worker._create_group()  # from "$": only what the producer writes from now on
    producer = multiprocessing.get_context("fork").Process(
        target=produce, args=(url, stream, rate, seconds)
    )
    producer.start()
    while not worker.ended:
        worker.run()
    producer.join()
    worker.close()
    worker.redis.close()
    return worker.latencies_us


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--redis", help="Redis URL with a db number (default: a private server)")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with ExitStack() as stack:
        url = args.redis or stack.enter_context(RedisServer()).url + "/0"
        client = redis.Redis.from_url(url)
        client.delete(STREAM, f"{STREAM}:latency", f"{STREAM}:dead")
        version = client.info("server")["redis_version"]
        print(f"redis {version} at {url}; redis-py {redis.__version__}")
        print(f"filling {args.events:,} events ...", flush=True)
        fill(client, args.events)
        plain: list[float] = []
        plain_decoded: list[float] = []
        library: list[float] = []
        decoded = redis.Redis.from_url(url, decode_responses=True)
        for r in range(args.rounds):
            plain.append(plain_loop(client, f"plain{r}", args.events))
            library.append(library_loop(url, f"lib{r}", args.events))
            plain_decoded.append(plain_loop(decoded, f"plaind{r}", args.events))
        best_plain, best_lib, best_dec = max(plain), max(library), max(plain_decoded)
        print(f"throughput, {args.events:,} events, batch {BATCH}, best of {args.rounds}:")
        print(f"  plain redis-py loop (bytes)    {best_plain:>10,.0f} events/s")
        print(f"  plain redis-py loop (decoded)  {best_dec:>10,.0f} events/s")
        print(f"  EventStreamWorker (decoded)    {best_lib:>10,.0f} events/s")
        print(f"  ratio worker / plain (bytes)   {best_lib / best_plain:>10.2f}")
        print(f"  ratio worker / plain (decoded) {best_lib / best_dec:>10.2f}")
        print(f"latency XADD -> handler at {args.rate}/s for {args.seconds:g} s ...", flush=True)
        values = latency(url, args.rate, args.seconds)
        print(f"  events {len(values):,}")
        print(f"  p50 {percentile(values, 50):8.0f} us")
        print(f"  p99 {percentile(values, 99):8.0f} us")
        print(f"  max {max(values):8.0f} us   mean {statistics.fmean(values):.0f} us")
        client.delete(STREAM, f"{STREAM}:latency", f"{STREAM}:dead")
        client.close()
        decoded.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
