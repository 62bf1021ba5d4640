"""gunicorn's threaded worker (``gthread``) with a request read timeout and JSON error answers.

:mod:`varcade_workers.gunicorn_conf` runs the HTTP services with
``worker_class = "varcade_workers.gunicorn_worker.ThreadWorker"``: gthread (``threads`` per
worker, kept-alive connections waiting in the worker's poller, not in a thread), plus two changes
gunicorn has no setting for.

1. **A thread only for a whole request head.** gthread gives a connection to a thread as soon as
   its first bytes arrive, and the thread then reads the rest of the request line and headers
   with no time limit: eight clients that each sent half a header held every thread of two
   workers with four threads each, and ``/healthz`` stopped answering. Here the worker's main
   loop collects the head without blocking, in the same poller, and hands the connection to a
   thread only once the head is complete (a blank line), so a slow client never holds a thread.
   A head that is not complete within ``GUNICORN_REQUEST_READ_TIMEOUT`` seconds (default 10) of
   the connection, or of the previous answer on a kept-alive connection, is answered 408 and
   closed (a connection that sent nothing is closed silently); a head larger than
   :data:`MAX_HEAD_BYTES` is answered 431. While the worker stops, the connections still
   waiting for their head are closed at once.
2. **JSON errors.** The answers gunicorn writes itself, before the app sees the request (400 for
   a malformed request, 414 for a request line longer than ``limit_request_line``, 431 for more
   headers than ``limit_request_fields`` or one longer than ``limit_request_field_size``, ...),
   are ``{"message": "..."}`` with ``Content-Type: application/json``, like the services' own
   errors, instead of an HTML page.

Left to a proxy in front (see the services' READMEs): a body sent slowly still holds a thread while
the app reads it (the services read no or small bodies; gthread drains an unread body for at most
5 s after the answer), every worker accepts at most ``worker_connections`` (1000) connections, and
one client may open as many as it likes.

Only plain HTTP/1.x takes the head-first path; TLS, HTTP/2 with prior knowledge and the uwsgi
protocol (none of which the services use) are handled exactly as gthread does.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import time
from functools import partial
from typing import Any, Final

from gunicorn import util  # type: ignore[import-untyped]
from gunicorn.http2 import negotiation  # type: ignore[import-untyped]
from gunicorn.workers import gthread  # type: ignore[import-untyped]

from varcade_workers.settings import env_float

__all__ = ["MAX_HEAD_BYTES", "ThreadWorker", "request_read_timeout"]

#: The largest request head (request line and headers) a worker collects: the services' requests
#: carry a few hundred bytes (a JWT is the longest header). Beyond it: 431.
MAX_HEAD_BYTES: Final = 64 * 1024
#: The longest message of a JSON error answer (gunicorn's messages may quote the request).
_MAX_MESSAGE: Final = 300


def request_read_timeout() -> float:
    """``GUNICORN_REQUEST_READ_TIMEOUT``: seconds a client has to send a request's line and
    headers (default 10)."""
    return env_float("GUNICORN_REQUEST_READ_TIMEOUT", 10.0, minimum=0.1)


def json_error(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 answer ``{"message": message}`` that closes the connection."""
    body = json.dumps({"message": message[:_MAX_MESSAGE]}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _ErrorCapture:
    """Stands in for the client's socket while gunicorn writes its own (HTML) error answer, to
    learn the status and reason gunicorn chose without repeating its rules here."""

    def __init__(self) -> None:
        self.data = bytearray()

    def gettimeout(self) -> float:
        return 0.0  # "non-blocking": gunicorn then writes without changing the socket's mode

    def sendall(self, data: bytes) -> None:
        self.data += data

    def status(self) -> tuple[int, str]:
        line = bytes(self.data).split(b"\r\n", 1)[0].decode("latin-1")
        _, code, reason = [*line.split(" ", 2), "", ""][:3]
        return (int(code), reason) if code.isdigit() else (500, "Internal Server Error")


def _head_end(data: bytearray, start: int) -> bool:
    """Whether the blank line that ends a request head is in ``data`` (searched from ``start``,
    so that a head arriving byte by byte is not searched again from its beginning each time)."""
    return (
        data.find(b"\r\n\r\n", max(0, start - 3)) >= 0 or data.find(b"\n\n", max(0, start - 1)) >= 0
    )


class ThreadWorker(gthread.ThreadWorker):  # type: ignore[misc]
    """gthread that collects each request's head in its poller before giving it a thread, and
    writes its own error answers as JSON (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_timeout = request_read_timeout()
        # Connections waiting for their head -> deadline. Every deadline is "now + read_timeout"
        # when the connection is added, so insertion order is deadline order.
        self._waiting: dict[Any, float] = {}
        self._heads: dict[Any, bytearray] = {}

    # -- head first -----------------------------------------------------------------------------

    def enqueue_req(self, conn: Any) -> None:
        """Called (in the main loop) for a new connection, a kept-alive one that turned readable,
        and one with bytes of its next request already read: give it a thread only with a whole
        head."""
        if not self._collects_head(conn):
            super().enqueue_req(conn)
            return
        head = bytearray()
        if conn.parser is not None:  # bytes of this request read with the previous one
            head += conn.parser.unreader.take_buffered()
            if _head_end(head, 0):
                conn.parser.unreader.unread(bytes(head))
                super().enqueue_req(conn)
                return
        self._heads[conn] = head
        self._waiting[conn] = time.monotonic() + self.read_timeout
        conn.sock.setblocking(False)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_head_data, conn))

    def _collects_head(self, conn: Any) -> bool:
        return not (
            self.cfg.is_ssl
            or conn.is_http2
            or getattr(self.cfg, "protocol", "http") != "http"
            or negotiation.prior_knowledge_allowed(self.cfg, conn.client)
        )

    def _on_head_data(self, conn: Any, _sock: Any) -> None:
        head = self._heads[conn]
        try:
            data = conn.sock.recv(MAX_HEAD_BYTES + 1 - len(head))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._close(conn)
            return
        start = len(head)
        head += data
        if _head_end(head, start):
            self._to_thread(conn)
        elif len(head) > MAX_HEAD_BYTES:
            self._refuse(
                conn,
                431,
                "Request Header Fields Too Large",
                f"The request's line and headers exceed {MAX_HEAD_BYTES} bytes.",
            )

    def _to_thread(self, conn: Any) -> None:
        head = bytes(self._heads.pop(conn))
        self._forget(conn)
        if conn.parser is None:
            conn.init()  # plain HTTP/1.x: creates the parser, reads nothing
        conn.parser.unreader.unread(head)
        conn.data_ready = True  # gthread must not wait for data that is already read
        super().enqueue_req(conn)

    def _forget(self, conn: Any) -> None:
        self._waiting.pop(conn, None)
        self._heads.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def _close(self, conn: Any) -> None:
        self._forget(conn)
        self.nr_conns -= 1
        conn.close()

    def _refuse(self, conn: Any, status: int, reason: str, message: str) -> None:
        self.log.info(
            "varcade: %s %s from %s: %s", status, reason, _peer(conn.client), message.rstrip(".")
        )
        with contextlib.suppress(OSError):
            conn.sock.send(json_error(status, reason, message))  # non-blocking, best effort
        self._close(conn)

    def murder_pending(self) -> None:
        """Every turn of the main loop: also end the heads that are late (all of them once the
        worker is stopping)."""
        super().murder_pending()
        now = time.monotonic()
        for conn, deadline in list(self._waiting.items()):
            if deadline > now and self.alive:
                break
            if self._heads.get(conn):
                seconds = f"{self.read_timeout:g}"
                message = f"The request's line and headers did not arrive within {seconds} s."
                self._refuse(conn, 408, "Request Timeout", message)
            else:
                self._close(conn)

    # -- JSON errors ----------------------------------------------------------------------------

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """gunicorn's own error answer (its status, logging and access log), written as JSON."""
        capture = _ErrorCapture()
        super().handle_error(req, capture, addr, exc)
        status, reason = capture.status()
        if status >= 500:
            message = "Internal server error"
        else:
            detail = str(exc).strip()
            message = f"{reason}: {detail}" if detail else reason
        try:
            util.write_nonblock(client, json_error(status, reason, message))
        except Exception:
            self.log.debug("Failed to send error message.")


def _peer(address: Any) -> str:
    if isinstance(address, tuple) and address:
        return str(address[0])
    return str(address or "unix socket")
