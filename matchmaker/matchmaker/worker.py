"""The matchmaker's worker process: `python -m matchmaker.worker` (metrics and /healthz on 5051)."""

from __future__ import annotations

from varcade_workers.process import run_worker_process
from varcade_workers.worker_manager import AsyncWorker

from matchmaker.config import METRICS_PORT, Config
from matchmaker.curation import CurationWorker
from matchmaker.events_worker import GameEventsWorker
from matchmaker.services import build_services


def build_workers() -> list[AsyncWorker]:
    config = Config.from_env(player_api=False)
    services = build_services(config)
    curation = CurationWorker(
        services.repository,
        services.game_servers,
        config.products,
        interval_seconds=config.curation_interval,
        batch=config.curation_batch,
    )
    events = GameEventsWorker(
        config.event_stream_url,
        services.repository,
        order_wait_seconds=config.order_wait_seconds,
        **config.stream,
    )
    return [events, curation]


if __name__ == "__main__":
    run_worker_process(build_workers, service="matchmaker-worker", metrics_port=METRICS_PORT)
