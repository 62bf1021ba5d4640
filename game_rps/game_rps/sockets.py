"""The players' WebSocket:
``ws://<host>:<WS_PORT>/?game_token=<token>&user_id=<id>&seat_token=<seat token>``.

Each accepted socket gets an outbound queue drained by its own writer task, so the registry can
queue messages and closes without awaiting (keeping a game's outputs in order) and a slow or dead
client only ever delays itself. Refused sockets are accepted and closed at once with the spec's
close code: 1000 for an unknown game token, a user id that is not seated in the game (or that the
stream could not carry) and a missing or wrong seat token, all with the same reason, so that the
close tells nothing about who is seated; 4000 (host not connected yet) and 4001 (already
connected) only to the holder of the right seat token.

Floods (issue 13): each socket's inbound messages go through a token bucket (past it: an `error`
``{"message": "too many messages", "code": 1008}``, then close 1008); concurrent sockets per client
address are capped (past it: 429 before the upgrade); inbound frames are capped in size (aiohttp
closes a larger one with 1009; per-message compression is not offered, so the cap is on the bytes
sent). The limits are :class:`SocketLimits`, from the configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from game_rps import engine
from game_rps.config import Config
from game_rps.games import ActiveGame, GameRegistry
from varcade_workers import events

log = logging.getLogger("game_rps.sockets")

MAX_QUEUED_MESSAGES = 1000
HEARTBEAT_SECONDS = 20.0
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_SLOW = CLOSE_POLICY_VIOLATION
TOO_MANY_MESSAGES = "too many messages"


@dataclass(frozen=True)
class SocketLimits:
    """The per-socket and per-address limits (``WS_*`` settings; benchmarks raise them)."""

    messages_per_second: float = 20.0
    message_burst: int = 40
    connections_per_address: int = 20
    max_message_bytes: int = 4096

    @classmethod
    def from_config(cls, config: Config) -> SocketLimits:
        return cls(
            messages_per_second=config.ws_max_messages_per_second,
            message_burst=config.ws_message_burst,
            connections_per_address=config.ws_max_connections_per_address,
            max_message_bytes=config.ws_max_message_bytes,
        )


class TokenBucket:
    """`burst` tokens to start with, refilled at `rate` per second up to `burst`; each message
    takes one. A client within the rate never runs out; a flood runs out after `burst` messages."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class AddressCounter:
    """Concurrent sockets per client address. Refusals are logged once per address until it is
    under the limit again (a flood of connections is not a flood of log lines)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}
        self._refusing: set[str] = set()

    def count(self, address: str) -> int:
        return self._counts.get(address, 0)

    def acquire(self, address: str) -> bool:
        count = self._counts.get(address, 0)
        if count >= self.limit:
            if address not in self._refusing:
                self._refusing.add(address)
                log.warning(
                    "sockets refused: too many connections from one address",
                    extra={"address": address, "limit": self.limit},
                )
            return False
        self._counts[address] = count + 1
        return True

    def release(self, address: str) -> None:
        count = self._counts.get(address, 0) - 1
        if count > 0:
            self._counts[address] = count
        else:
            self._counts.pop(address, None)
        self._refusing.discard(address)


REGISTRY_KEY = web.AppKey("registry", GameRegistry)
LIMITS_KEY = web.AppKey("socket_limits", SocketLimits)
ADDRESSES_KEY = web.AppKey("socket_addresses", AddressCounter)

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
    limits = request.app[LIMITS_KEY]
    ws = web.WebSocketResponse(
        heartbeat=HEARTBEAT_SECONDS,
        # aiohttp refuses a frame of max_msg_size bytes or more: + 1 so that a frame of exactly
        # WS_MAX_MESSAGE_BYTES is read, as documented (make fuzz found 4096 bytes refused).
        max_msg_size=limits.max_message_bytes + 1,
        # No per-message compression: aiohttp checks a decompressed message against the limit
        # differently (over it, not at it), and messages of under 100 bytes gain nothing.
        compress=False,
    )
    if not ws.can_prepare(request).ok:
        return web.json_response({"message": "Expected a WebSocket upgrade."}, status=400)
    addresses = request.app[ADDRESSES_KEY]
    address = request.remote or ""
    if not addresses.acquire(address):
        return web.json_response({"message": "Too many connections from this address."}, status=429)
    try:
        return await _serve(request, ws, limits)
    finally:
        addresses.release(address)


async def _serve(
    request: web.Request, ws: web.WebSocketResponse, limits: SocketLimits
) -> web.WebSocketResponse:
    registry = request.app[REGISTRY_KEY]
    await ws.prepare(request)
    token = request.query.get("game_token", "")
    user_id = request.query.get("user_id", "")
    seat_token = request.query.get("seat_token", "")
    if user_id:
        try:
            events.check_id(user_id, "user_id")
        except ValueError as exc:
            # Never a player's id (the control API refuses those), and never logged as it is.
            log.info("socket refused: invalid user id", extra={"code": 1000, "error": str(exc)})
            return await _refuse(ws, engine.CLOSE_NORMAL, engine.REFUSED_REASON)
    active = registry.by_token(token) if token else None
    if active is None or not user_id:
        log.info("socket refused: unknown token or user", extra={"code": 1000})
        return await _refuse(ws, engine.CLOSE_NORMAL, engine.REFUSED_REASON)
    connection = SocketConnection(ws, active.game_id, user_id)
    refusal = registry.attach(active, user_id, seat_token, connection)
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
        bucket = TokenBucket(limits.messages_per_second, limits.message_burst)
        await _read(ws, registry, active, user_id, connection, bucket)
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
    bucket: TokenBucket,
) -> None:
    metrics = registry.metrics
    async for msg in ws:
        if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            metrics.messages_received.inc()
            if not bucket.take():
                # A flood: one error, then close 1008; the player has left (like any close).
                log.warning(
                    "socket flooding, closing",
                    extra={"game_id": active.game_id, "user_id": user_id, "code": 1008},
                )
                connection.send(engine.error_message(TOO_MANY_MESSAGES, CLOSE_POLICY_VIOLATION))
                connection.close(CLOSE_POLICY_VIOLATION, "Too many messages.")
                break
        if msg.type == WSMsgType.TEXT:
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


def create_socket_app(
    registry: GameRegistry, limits: SocketLimits | None = None
) -> web.Application:
    """The WS_PORT app: the player socket at `/` (any path, as old clients may add one)."""
    app = web.Application()
    app[REGISTRY_KEY] = registry
    app[LIMITS_KEY] = limits = limits or SocketLimits()
    app[ADDRESSES_KEY] = AddressCounter(limits.connections_per_address)
    app.router.add_get("/", handle_socket)
    app.router.add_get("/{tail:.*}", handle_socket)
    return app
