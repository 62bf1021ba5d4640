"""The players' WebSocket: ``ws://<host>:<WS_PORT>/?game_token=<token>&user_id=<id>``.

Each accepted socket gets an outbound queue drained by its own writer task, so the registry can
queue messages and closes without awaiting (keeping a game's outputs in order) and a slow or dead
client only ever delays itself. Refused sockets are accepted and closed at once with the spec's
close code (1000 unknown token or player, or a user id the stream could not carry; 4000 host not
connected yet, 4001 already connected).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from game_rps import engine
from game_rps.games import ActiveGame, GameRegistry
from varcade_workers import events

log = logging.getLogger("game_rps.sockets")

MAX_MESSAGE_BYTES = 16 * 1024
MAX_QUEUED_MESSAGES = 1000
HEARTBEAT_SECONDS = 20.0
CLOSE_TOO_SLOW = 1008

REGISTRY_KEY = web.AppKey("registry", GameRegistry)

_MALFORMED = engine.error_message(
    "Malformed message: expected JSON text.", engine.MALFORMED_MESSAGE
)


class SocketConnection:
    """One player's socket: a queue of frames to send and the task that sends them."""

    def __init__(self, ws: web.WebSocketResponse, game_id: str, user_id: str) -> None:
        self.ws = ws
        self.game_id = game_id
        self.user_id = user_id
        self._queue: asyncio.Queue[tuple[str, Any, Any]] = asyncio.Queue()
        self._closing = False
        self._writer = asyncio.get_running_loop().create_task(
            self._write(), name=f"ws-writer-{game_id}-{user_id}"
        )

    def send(self, message: dict[str, Any]) -> None:
        if self._closing:
            return
        if self._queue.qsize() >= MAX_QUEUED_MESSAGES:
            log.warning(
                "player too slow, closing", extra={"game_id": self.game_id, "user_id": self.user_id}
            )
            self.close(CLOSE_TOO_SLOW, "Too many unread messages.")
            return
        self._queue.put_nowait(("send", json.dumps(message, separators=(",", ":")), None))

    def close(self, code: int, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        self._queue.put_nowait(("close", code, reason))

    async def _write(self) -> None:
        while True:
            kind, a, b = await self._queue.get()
            try:
                if kind == "send":
                    await self.ws.send_str(a)
                else:
                    await self.ws.close(code=a, message=b.encode()[:120])
                    return
            except (ConnectionError, RuntimeError, asyncio.TimeoutError):
                # The client is gone; the reader will notice and the registry detaches it.
                self._closing = True
                return

    async def finish(self, timeout: float = 5.0) -> None:
        """After the reader ended: let queued frames and the close go out, then stop."""
        self.close(engine.CLOSE_NORMAL, "")
        try:
            await asyncio.wait_for(asyncio.shield(self._writer), timeout)
        except (asyncio.TimeoutError, Exception):
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer


async def _refuse(ws: web.WebSocketResponse, code: int, reason: str) -> web.WebSocketResponse:
    with contextlib.suppress(Exception):
        await ws.close(code=code, message=reason.encode())
    return ws


async def handle_socket(request: web.Request) -> web.StreamResponse:
    registry = request.app[REGISTRY_KEY]
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=MAX_MESSAGE_BYTES)
    if not ws.can_prepare(request).ok:
        return web.json_response({"message": "Expected a WebSocket upgrade."}, status=400)
    await ws.prepare(request)
    token = request.query.get("game_token", "")
    user_id = request.query.get("user_id", "")
    if user_id:
        try:
            events.check_id(user_id, "user_id")
        except ValueError as exc:
            # Never a player's id (the control API refuses those), and never logged as it is.
            log.info("socket refused: invalid user id", extra={"code": 1000, "error": str(exc)})
            return await _refuse(ws, engine.CLOSE_NORMAL, "Invalid game token or user id.")
    active = registry.by_token(token) if token else None
    if active is None or not user_id:
        log.info("socket refused: unknown token or user", extra={"code": 1000})
        return await _refuse(ws, engine.CLOSE_NORMAL, "Invalid game token or user id.")
    connection = SocketConnection(ws, active.game_id, user_id)
    refusal = registry.attach(active, user_id, connection)
    if refusal is not None:
        code, reason = refusal
        log.info(
            "socket refused",
            extra={"game_id": active.game_id, "user_id": user_id, "code": code},
        )
        connection.close(code, reason)
        await connection.finish()
        return ws
    try:
        await _read(ws, registry, active, user_id, connection)
    except Exception:
        log.exception("socket failed", extra={"game_id": active.game_id, "user_id": user_id})
    finally:
        registry.detach(active, user_id, connection)
        await connection.finish()
    return ws


async def _read(
    ws: web.WebSocketResponse,
    registry: GameRegistry,
    active: ActiveGame,
    user_id: str,
    connection: SocketConnection,
) -> None:
    metrics = registry.metrics
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            metrics.messages_received.inc()
            try:
                message = json.loads(msg.data)
            except (ValueError, RecursionError):  # deep nesting raises RecursionError
                metrics.malformed_messages.inc()
                connection.send(_MALFORMED)
                continue
            try:
                registry.handle_message(active, user_id, connection, message)
            except Exception:
                # A bug handling one message: tell the player, keep the game and the server.
                log.exception(
                    "message handling failed", extra={"game_id": active.game_id, "user_id": user_id}
                )
                connection.send(engine.error_message("Internal error.", 1011))
        elif msg.type == WSMsgType.BINARY:
            metrics.messages_received.inc()
            metrics.malformed_messages.inc()
            connection.send(_MALFORMED)
        elif msg.type == WSMsgType.ERROR:
            log.info(
                "socket error",
                extra={
                    "game_id": active.game_id,
                    "user_id": user_id,
                    "error": repr(ws.exception()),
                },
            )
            break


def create_socket_app(registry: GameRegistry) -> web.Application:
    """The WS_PORT app: the player socket at `/` (any path, as old clients may add one)."""
    app = web.Application()
    app[REGISTRY_KEY] = registry
    app.router.add_get("/", handle_socket)
    app.router.add_get("/{tail:.*}", handle_socket)
    return app
