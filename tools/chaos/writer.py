"""Write prepared events to the stream over a given time, in bursts, as game servers would."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis

from varcade_workers import events


@dataclass
class PacedWriter:
    """Writes `stream_events` in order over about `duration` seconds, a burst every 0.2-1.5 s
    (each burst one pipelined `EventProducer.publish_many`, like the game server's batches), so
    the workers alternate between a backlog and waiting."""

    client: redis.Redis
    stream_events: Sequence[events.Event]
    duration: float
    rng: random.Random
    burst_gap: tuple[float, float] = (0.2, 1.5)
    written: int = 0
    ids: list[str] = field(default_factory=list)
    error: BaseException | None = None
    _thread: threading.Thread | None = None

    def start(self) -> PacedWriter:
        self._thread = threading.Thread(target=self._guarded, name="writer", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _guarded(self) -> None:
        try:
            self.run()
        except BaseException as exc:
            self.error = exc

    def run(self) -> None:
        producer = events.EventProducer(self.client)
        total = len(self.stream_events)
        started = time.monotonic()
        while self.written < total:
            time.sleep(self.rng.uniform(*self.burst_gap))
            due = min(total, int(total * (time.monotonic() - started) / self.duration) + 1)
            if due > self.written:
                chunk = self.stream_events[self.written : due]
                self.ids.extend(producer.publish_many(chunk))
                self.written = due
