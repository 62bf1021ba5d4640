"""The stats worker process: `python -m stats_tracker.worker` (metrics, /healthz on 5002)."""

from __future__ import annotations

import redis
from varcade_workers.process import run_worker_process

from stats_tracker.config import Config
from stats_tracker.events_worker import StatsEventsWorker

METRICS_PORT = 5002


def main() -> None:
    config = Config.from_env()
    data = redis.Redis.from_url(config.redis_url, decode_responses=True)
    worker = StatsEventsWorker(config.event_stream_url, data, config.products, **config.stream)
    run_worker_process([worker], service="stats_tracker", metrics_port=METRICS_PORT)


if __name__ == "__main__":
    main()
