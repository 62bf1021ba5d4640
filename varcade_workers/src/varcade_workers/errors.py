"""Exceptions shared by every worker and handler."""

from __future__ import annotations

__all__ = ["DeadLetter", "Defer"]


class DeadLetter(Exception):
    """Raise from a handler when retrying cannot help (e.g. a malformed entry).

    The stream worker copies the event to its dead-letter stream at once and acks it, instead of
    leaving it pending for the retries that are meant for transient failures (Redis briefly away, a
    conflict).
    """


class Defer(Exception):
    """Raise from a handler when an event cannot be applied *yet*.

    Typically an earlier event of the same game is still on its way (held by a crashed consumer
    being taken over, or by a replica that has not applied it). The stream worker keeps the entry
    pending, does not count it as a failure, and hands it to the handler again shortly, while newer
    entries keep flowing. The handler decides when to stop waiting (e.g. after the event is some
    seconds old); the worker holds at most ``max_deferred`` entries this way.
    """
