"""JSON errors for the game server's two aiohttp apps (the control API and the page).

Clients get ``{"message": ...}`` with a 4xx status; a 5xx is a bug, logged with its traceback and
answered with a generic message. aiohttp's own HTTP errors (404, 405, 413 ...) are answered the
same way instead of as plain text.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

__all__ = ["BadRequest", "Handler", "json_error", "with_json_errors"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(Exception):
    """A 4xx answer with a message for the caller."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


async def with_json_errors(
    request: web.Request,
    handler: Handler,
    log: logging.Logger,
    messages: Mapping[int, str] | None = None,
) -> web.StreamResponse:
    """``handler(request)``, with :class:`BadRequest`, aiohttp's HTTP errors and unexpected
    exceptions answered as JSON. ``messages`` replaces aiohttp's reason for some statuses."""
    try:
        return await handler(request)
    except BadRequest as exc:
        return json_error(exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(exc.status, (messages or {}).get(exc.status, exc.reason))
    except Exception:
        log.exception("request failed", extra={"path": request.path})
        return json_error(500, "Internal server error.")
