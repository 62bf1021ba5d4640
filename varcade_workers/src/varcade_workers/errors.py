"""Exceptions shared by every worker and handler."""

from __future__ import annotations

__all__ = ["DeadLetter"]


class DeadLetter(Exception):
    """Raise from a handler when retrying cannot help (e.g. a malformed entry).

    The stream worker copies the event to its dead-letter stream at once and acks it, instead of
    leaving it pending for the retries that are meant for transient failures (Redis briefly away, a
    conflict).
    """
