"""Per-worker counters as plain ints, read by the process's Prometheus collector at scrape time.

Keeping prometheus_client out of the hot path: the worker only increments ints.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["WorkerStats"]


@dataclass
class WorkerStats:
    """Totals since the worker was created; `pending` is the group's last known pending count."""

    processed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    pending: int = 0
