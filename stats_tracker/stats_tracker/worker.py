"""The stats worker process: `python -m stats_tracker.worker` (metrics, /healthz on 5002)."""

from __future__ import annotations

from varcade_workers.process import run_worker_process
from varcade_workers.redis_clients import redis_client
from varcade_workers.worker_manager import AsyncWorker

from stats_tracker.config import Config
from stats_tracker.events_worker import StatsEventsWorker

METRICS_PORT = 5002


def build_workers() -> list[AsyncWorker]:
    config = Config.from_env()
    data = redis_client(config.redis_url)
    return [StatsEventsWorker(config.event_stream_url, data, config.products, **config.stream)]


if __name__ == "__main__":
    run_worker_process(build_workers, service="stats_tracker", metrics_port=METRICS_PORT)
