"""JSON errors for every port of the game server (control API, WebSocket, page).

Clients get ``{"message": ...}`` with a 4xx status; a 5xx is a bug, logged with its traceback and
answered with a generic message. aiohttp's own HTTP errors (404, 405, 413 ...) are answered the
same way instead of as plain text, and so is a request body that cannot be read (malformed chunked
or compressed data: 400).

:class:`JsonErrorAppRunner` runs an app so that aiohttp's refusals of requests it cannot parse
(malformed HTTP, a request line or header over :data:`MAX_LINE_BYTES` / :data:`MAX_FIELD_BYTES`,
more than :data:`MAX_HEADERS` headers) are JSON too, each logged as one line without a traceback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

__all__ = [
    "MAX_FIELD_BYTES",
    "MAX_HEADERS",
    "MAX_LINE_BYTES",
    "BadRequest",
    "Handler",
    "JsonErrorAppRunner",
    "json_error",
    "parse_error_message",
    "with_json_errors",
]

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
    except web.RequestPayloadError:  # e.g. bad gzip or chunks: the client's fault, not a bug
        return json_error(400, "The request body cannot be read (malformed encoding).")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(exc.status, (messages or {}).get(exc.status, exc.reason))
    except Exception:
        log.exception("request failed", extra={"path": request.path})
        return json_error(500, "Internal server error.")


#: aiohttp's limits, stated here so that the answers and the README can name them: the request
#: line (method, URL, version), one header line, and the number of headers.
MAX_LINE_BYTES: Final = 8190
MAX_FIELD_BYTES: Final = 8190
MAX_HEADERS: Final = 128

_http_log = logging.getLogger("game_rps.http")
# The part of aiohttp's parser message worth repeating: plain words before any ":" (what follows
# quotes the offending bytes, which are not echoed back).
_PLAIN_REASON: Final = re.compile(r"[A-Za-z][A-Za-z0-9 -]{0,79}")


def parse_error_message(exc: BaseException | None) -> str:
    """The ``message`` for a request aiohttp could not parse; never echoes the request."""
    if isinstance(exc, LineTooLong):
        return (
            "Bad request: the request line or a header is too long "
            f"(at most {max(MAX_LINE_BYTES, MAX_FIELD_BYTES)} bytes each)."
        )
    if isinstance(exc, HttpProcessingError):
        reason = str(exc.message or "").split(":", 1)[0].split("\n", 1)[0].strip()
        if _PLAIN_REASON.fullmatch(reason):
            return f"Bad request: {reason}."
    return "Bad request: malformed HTTP."


class _JsonErrorRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, answering what it refuses as JSON, logged in one line."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp does: too late for another answer
            raise ConnectionError("the response is already being sent")
        if status >= 500:  # an exception no middleware caught: a bug
            _http_log.error("request failed", exc_info=exc)
            text = "Internal server error."
        else:
            text = parse_error_message(exc)
            _http_log.info(
                "malformed request refused",
                extra={"status": status, "error": text, "peer": request.remote},
            )
        response = json_error(status, text)
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        # aiohttp logs the body error of a refused request a second time, with a traceback, when
        # it discards the rest of that body: one info line is enough (the client sent garbage).
        exc = kwargs.get("exc_info")
        if isinstance(exc, (web.RequestPayloadError, HttpProcessingError)):
            _http_log.info("unreadable request body discarded", extra={"error": type(exc).__name__})
            return
        super().log_exception(*args, **kwargs)


class _JsonErrorServer(web.Server):
    def __call__(self) -> web.RequestHandler:
        return _JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


@web.middleware
async def _outermost_json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    return await with_json_errors(request, handler, _http_log)


class JsonErrorAppRunner(web.AppRunner):
    """``web.AppRunner`` whose every answer is JSON: the app's HTTP errors (an outermost
    :func:`with_json_errors` middleware is added to the app) and aiohttp's refusals of requests
    it cannot parse, with the limits above. (aiohttp offers no public hook for the latter: the
    connection handler is swapped for a subclass; tests/test_hardening.py pins the behaviour.)"""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs.setdefault("max_line_size", MAX_LINE_BYTES)
        kwargs.setdefault("max_field_size", MAX_FIELD_BYTES)
        kwargs.setdefault("max_headers", MAX_HEADERS)
        app.middlewares.insert(0, _outermost_json_errors)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer
        return server
