"""A worker process for the subprocess tests: records every handled event id in the data Redis.

Run as `python worker_child.py STREAM_URL DATA_URL STREAM GROUP CLAIM_IDLE_MS BATCH_SIZE DELAY_S`.
The handler pushes the entry id to the list `handled`, then sleeps DELAY_S (a slow handler gives the
test time to kill or stop the process mid-batch).
"""

from __future__ import annotations

import sys
import time

import redis
from varcade_workers.process import run_worker_process

from varcade_workers import EventStreamWorker


class Recorder(EventStreamWorker):
    def __init__(self, data: redis.Redis, delay: float, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.data = data
        self.delay = delay

    def handle_event(self, event_id: str, fields: dict[str, str]) -> None:
        self.data.rpush("handled", event_id)
        if self.delay:
            time.sleep(self.delay)


def main() -> None:
    stream_url, data_url, stream, group, claim_idle_ms, batch_size, delay = sys.argv[1:8]
    worker = Recorder(
        redis.Redis.from_url(data_url, decode_responses=True),
        float(delay),
        redis=stream_url,
        stream=stream,
        group=group,
        batch_size=int(batch_size),
        block_ms=100,
        claim_idle_ms=int(claim_idle_ms),
    )
    run_worker_process([worker], service="test-child", metrics_port=0)


if __name__ == "__main__":
    main()
