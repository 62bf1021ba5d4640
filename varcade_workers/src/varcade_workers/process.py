"""The worker process main loop every service's `worker.py` hands its workers to.

The blocking stream read is the loop's wait: nothing sleeps while a stream worker blocks. A stop
signal ends the loop after the current turn, so the batch in hand is finished and acked before exit.
`/metrics`, `/healthz` and `/livez` are served from a small thread:
- `/livez` (liveness) turns 503 only when the loop has not turned for `stall_seconds` (a handler
  stuck on I/O, a deadlock): what a liveness probe should restart. A Redis outage does not fail it
  (the loop keeps turning, backing off), so a blip never gets the process restarted.
- `/healthz` (readiness) turns 503 with a JSON `reason` when the loop is stalled, or when a worker
  reports a problem (`health_problem()`: Redis unreachable, or no successful turn, for longer than
  its threshold; the stream worker's is 30 s): what a readiness probe and an operator look at.

The metrics are plain numbers read by a collector at scrape time, never prometheus_client metric
objects: a worker process serves its own `/metrics`, so it has no use for prometheus_client's
multiprocess mode, and a `PROMETHEUS_MULTIPROC_DIR` meant for a service's gunicorn (possibly not
created yet in this container) neither breaks it nor receives its files.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import NoReturn, Protocol, runtime_checkable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from varcade_workers import settings
from varcade_workers.logs import setup_logging
from varcade_workers.metrics import WorkerStats
from varcade_workers.periodic import PeriodicWorker
from varcade_workers.stream_worker import EventStreamWorker
from varcade_workers.worker_manager import AsyncWorker, WorkerManager

logger = logging.getLogger(__name__)

__all__ = [
    "LoopDurations",
    "ReportsHealth",
    "SignalStop",
    "StopFlag",
    "WorkerProcess",
    "run_worker_process",
    "serve",
]


class StopFlag(Protocol):
    """What the loop needs of its stop signal: a `threading.Event` or a :class:`SignalStop`."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class SignalStop:
    """A stop flag that a signal handler may set.

    A `threading.Event` must not be set from a signal handler: the handler runs in the main thread,
    and if that thread was inside `Event.wait()` holding the event's (non-reentrant) lock, `set()`
    waits for that lock forever (a worker that ignores SIGTERM). Assigning an attribute takes no
    lock; `wait()` sleeps in short steps and looks at it.
    """

    _STEP_S = 0.05

    def __init__(self) -> None:
        self.requested = False

    def set(self) -> None:
        self.requested = True

    def is_set(self) -> bool:
        return self.requested

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.requested:
            left = self._STEP_S if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, self._STEP_S))
        return True


@runtime_checkable
class ReportsHealth(Protocol):
    """A worker that can tell why it is not ready (None when it is)."""

    def health_problem(self) -> str | None: ...


@runtime_checkable
class MeasuresLag(Protocol):
    """A stream worker that can count the entries its group has not received yet."""

    def measure_lag(self) -> int | None: ...


#: Longest idle wait when no worker blocks (only periodic or plain workers): bounds stop latency.
_MAX_IDLE_WAIT_S = 1.0
_LOOP_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class LoopDurations:
    """A histogram of loop turns as plain numbers (no prometheus_client value, no file, no lock)."""

    def __init__(self, buckets: tuple[float, ...] = _LOOP_BUCKETS) -> None:
        self.bounds = buckets
        self.counts = [0] * (len(buckets) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        index = 0
        for bound in self.bounds:
            if seconds <= bound:
                break
            index += 1
        self.counts[index] += 1
        self.total += seconds

    def metric(self, service: str) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            "varcade_worker_loop_duration_seconds",
            "Duration of one turn of the worker loop (includes the blocking read)",
            labels=["service"],
        )
        cumulative, buckets = 0, []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        family.add_metric([service], buckets, self.total)
        return family


class _StatsCollector(Collector):
    """Reads the workers' plain counters at scrape time (no Prometheus calls in the hot path)."""

    def __init__(self, service: str, workers: list[AsyncWorker], durations: LoopDurations) -> None:
        self._service = service
        self._durations = durations
        self._workers: list[tuple[str, WorkerStats]] = []
        self._laggards = [w for w in workers if isinstance(w, MeasuresLag)]
        for worker in workers:
            stats = _stats(worker)
            if stats is not None:
                self._workers.append((worker.get_name(), stats))

    def collect(
        self,
    ) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        labels = ["service", "worker"]
        processed = CounterMetricFamily(
            "varcade_worker_events_processed", "Events handled successfully", labels=labels
        )
        failed = CounterMetricFamily(
            "varcade_worker_events_failed", "Handler failures left pending for retry", labels=labels
        )
        dead = CounterMetricFamily(
            "varcade_worker_events_dead_lettered", "Events moved to the dead letters", labels=labels
        )
        pending = GaugeMetricFamily(
            "varcade_worker_pending_events",
            "Entries pending in the consumer group (last known)",
            labels=labels,
        )
        for name, stats in self._workers:
            values = [self._service, name]
            processed.add_metric(values, stats.processed)
            failed.add_metric(values, stats.failed)
            dead.add_metric(values, stats.dead_lettered)
            pending.add_metric(values, stats.pending)
        yield from (processed, failed, dead, pending)
        lag = GaugeMetricFamily(
            "varcade_worker_group_lag",
            "Stream entries not yet delivered to the worker's consumer group (measured at scrape)",
            labels=labels,
        )
        for worker in self._laggards:
            try:
                value = worker.measure_lag()
            except Exception as exc:  # a scrape during an outage: no figure, not an error page
                logger.debug("event=lag_unavailable service=%s error=%r", self._service, exc)
                continue
            if value is not None:
                lag.add_metric([self._service, worker.get_name()], value)
        yield lag
        yield self._durations.metric(self._service)


def _stats(worker: AsyncWorker) -> WorkerStats | None:
    stats = getattr(worker, "stats", None)
    return stats if isinstance(stats, WorkerStats) else None


class WorkerProcess:
    """The loop, its health and its HTTP endpoint, without signals or `sys.exit` (testable)."""

    def __init__(
        self,
        workers: Iterable[AsyncWorker] | WorkerManager,
        *,
        service: str,
        metrics_port: int = 0,
        metrics_host: str = "127.0.0.1",
        stall_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(workers, WorkerManager):
            self.manager = workers
        else:
            self.manager = WorkerManager()
            for worker in workers:
                self.manager.register_worker(worker)
        self.service = service
        self.stall_seconds = stall_seconds
        self._clock = clock
        self._workers = self.manager.workers
        self._blocking = any(
            isinstance(w, EventStreamWorker) and w.block_ms > 0 for w in self._workers
        )
        self._periodic = [w for w in self._workers if isinstance(w, PeriodicWorker)]
        self.last_turn = clock()
        self.turns = 0
        self.loop_durations = LoopDurations()
        self.registry = CollectorRegistry()
        self.registry.register(_StatsCollector(service, self._workers, self.loop_durations))
        self._http = _make_http_server(self, metrics_host, metrics_port)
        self.port: int = self._http.server_address[1]
        self._http_thread: threading.Thread | None = None

    # -- health ----------------------------------------------------------------------------------

    def last_turn_age(self) -> float:
        """Seconds since the loop last turned."""
        return self._clock() - self.last_turn

    def healthy(self) -> bool:
        """True while the loop turned within `stall_seconds` (liveness)."""
        return self.last_turn_age() <= self.stall_seconds

    def readiness(self) -> tuple[bool, dict[str, object]]:
        """(ready, JSON body): not ready when stalled or when a worker reports a problem."""
        age = self.last_turn_age()
        body: dict[str, object] = {"status": "ok", "last_turn_age": round(age, 3)}
        if age > self.stall_seconds:
            body.update(status="stalled", reason=f"the loop has not turned for {age:.1f} s")
            return False, body
        problems = {}
        for worker in self._workers:
            if isinstance(worker, ReportsHealth):
                problem = worker.health_problem()
                if problem:
                    problems[worker.get_name()] = problem
        if problems:
            reason = "; ".join(f"{name}: {text}" for name, text in problems.items())
            body.update(status="unavailable", reason=reason, workers=problems)
            return False, body
        return True, body

    # -- loop ------------------------------------------------------------------------------------

    def start_http(self) -> int:
        """Serve /metrics and /healthz in a daemon thread; returns the port."""
        if self._http_thread is None:
            self._http_thread = threading.Thread(
                target=self._http.serve_forever, name="metrics-http", daemon=True
            )
            self._http_thread.start()
        return self.port

    def turn(self) -> int:
        """One turn: every worker once. Returns the events handled."""
        started = self._clock()
        count = self.manager.run_workers()
        self.last_turn = self._clock()
        self.turns += 1
        self.loop_durations.observe(self.last_turn - started)
        return count

    def idle_wait(self) -> float:
        """How long to wait after an empty turn: 0 when a stream worker's read is the wait."""
        if self._blocking:
            return 0.0
        waits = [w.seconds_until_due() for w in self._periodic]
        return min([_MAX_IDLE_WAIT_S, *waits])

    def loop(self, stop: StopFlag) -> None:
        """Turn until `stop` is set; the turn in progress always completes."""
        logger.info(
            "event=worker_loop_started service=%s workers=%s",
            self.service,
            ",".join(w.get_name() for w in self._workers),
        )
        while not stop.is_set():
            if self.turn() == 0:
                wait = self.idle_wait()
                if wait > 0:
                    stop.wait(wait)
        logger.info("event=worker_loop_stopped service=%s turns=%d", self.service, self.turns)

    def close(self) -> None:
        """Send held acks, leave consumer groups cleanly, stop the HTTP server."""
        for worker in self._workers:
            close = getattr(worker, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:
                    logger.exception("event=worker_close_failed worker=%s", worker.get_name())
        if self._http_thread is not None:  # shutdown() waits for serve_forever to notice
            self._http.shutdown()
            self._http_thread.join()
        self._http.server_close()


def serve(
    workers: Iterable[AsyncWorker] | WorkerManager,
    stop: StopFlag,
    *,
    service: str,
    metrics_port: int = 0,
    stall_seconds: float = 60.0,
    on_ready: Callable[[WorkerProcess], None] | None = None,
    metrics_host: str = "127.0.0.1",
) -> int:
    """Run the loop with its HTTP endpoint until `stop` is set; returns the exit status (0)."""
    process = WorkerProcess(
        workers,
        service=service,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        stall_seconds=stall_seconds,
    )
    process.start_http()
    logger.info(
        "event=metrics_listening service=%s host=%s port=%d", service, metrics_host, process.port
    )
    if on_ready is not None:
        on_ready(process)
    try:
        process.loop(stop)
    finally:
        process.close()
    return 0


def _metrics_port(default: int) -> int:
    return settings.env_int("METRICS_PORT", default, minimum=0)


def run_worker_process(
    workers: Iterable[AsyncWorker] | Callable[[], Iterable[AsyncWorker]],
    *,
    service: str,
    metrics_port: int,
) -> NoReturn:
    """The main of a worker process: loop until SIGTERM/SIGINT, finish the batch in hand, exit 0.

    `workers` may be a function that builds them: it then runs after logging is set up, so a
    bad environment variable (`ConfigError`) is one log line naming it and exit status 2, not a
    traceback.

    `/metrics`, `/healthz` and `/livez` listen on `METRICS_HOST` (`settings.bind_host`: 127.0.0.1
    outside production, 0.0.0.0 in production) and `METRICS_PORT` (default `metrics_port`).
    """
    setup_logging(service)
    try:
        metrics_host = settings.bind_host("METRICS_HOST")
        if callable(workers):
            workers = workers()
    except settings.ConfigError as exc:
        logger.error("event=bad_configuration service=%s error=%r", service, str(exc))
        logging.shutdown()
        sys.exit(2)
    stop = SignalStop()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():  # a second signal: the operator insists
            logger.warning("event=forced_exit service=%s signal=%d", service, signum)
            os._exit(1)
        logger.info("event=stop_requested service=%s signal=%d", service, signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    status = serve(
        workers,
        stop,
        service=service,
        metrics_port=_metrics_port(metrics_port),
        metrics_host=metrics_host,
    )
    logging.shutdown()
    sys.exit(status)


def _make_http_server(process: WorkerProcess, host: str, port: int) -> ThreadingHTTPServer:
    registry = process.registry

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                ready, body = process.readiness()
                self._send(200 if ready else 503, json.dumps(body).encode(), "application/json")
            elif path == "/livez":
                age = process.last_turn_age()
                alive = age <= process.stall_seconds
                live = {"status": "ok" if alive else "stalled", "last_turn_age": round(age, 3)}
                self._send(200 if alive else 503, json.dumps(live).encode(), "application/json")
            else:
                self._send(404, b'{"message": "not found"}', "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None  # probes every few seconds would drown the logs

    server_class = _IPv6HTTPServer if ":" in host else ThreadingHTTPServer
    server = server_class((host, port), Handler)
    server.daemon_threads = True
    return server


class _IPv6HTTPServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6
