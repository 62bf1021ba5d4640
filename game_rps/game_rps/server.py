"""``python -m game_rps.server``: one asyncio process serving the control API (CONTROL_PORT), the
players' WebSocket (WS_PORT) and the web page (CLIENT_PORT).

:class:`GameServer` is also what the tests start in-process (ports 0 pick free ports). SIGTERM or
SIGINT stops it gracefully: listeners close, every game is removed (sockets closed with 1001,
``game_removed`` written) and the event buffer is flushed before the process exits.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from typing import NoReturn

from aiohttp import web
from varcade_workers.logs import setup_logging
from varcade_workers.redis_clients import async_redis_client
from varcade_workers.settings import ConfigError

from game_rps.config import Config
from game_rps.control_api import create_control_app
from game_rps.event_log import EventLog
from game_rps.games import GameRegistry, TickGate
from game_rps.json_errors import JsonErrorAppRunner
from game_rps.metrics import ServerMetrics
from game_rps.sockets import SocketLimits, create_socket_app
from varcade_workers import events

log = logging.getLogger("game_rps.server")

SHUTDOWN_FLUSH_SECONDS = 5.0


def _page_app() -> web.Application:
    # Imported lazily: the page (another part of game_rps) must not be able to break the game.
    from game_rps.page import create_page_app

    return create_page_app()


def _configured_page_app() -> Callable[[], web.Application]:
    """The page app's factory, its configuration read now: a bad value (e.g. JWT_SECRET outside
    production) fails before any port is opened."""
    from game_rps.page import PageConfig, create_page_app

    page_config = PageConfig.from_env()
    return lambda: create_page_app(page_config)


class ListenError(Exception):
    """A port could not be opened (address in use, BIND_HOST not an address of this host)."""


class GameServer:
    """The three listeners, the game registry and the event writer of one server process."""

    def __init__(
        self,
        config: Config,
        *,
        page_app: Callable[[], web.Application] | None = _page_app,
        tick_gate: TickGate | None = None,
    ) -> None:
        self.config = config
        self.metrics = ServerMetrics()
        self.redis = async_redis_client(config.event_stream_url, decode_responses=False)
        producer = events.EventProducer(None, maxlen=config.event_stream_maxlen)
        self.event_log = EventLog(
            self.redis, producer, capacity=config.event_buffer_size, metrics=self.metrics
        )
        self.registry = GameRegistry(
            self.event_log,
            tick_seconds=config.tick_seconds,
            product_id=config.product_id,
            metrics=self.metrics,
            tick_gate=tick_gate,
        )
        self._page_app = page_app if config.serve_page else None
        self._runners: list[web.AppRunner] = []
        self.control_port = self.ws_port = self.client_port = 0

    async def start(self) -> None:
        self.event_log.start()
        self.control_port = await self._serve(
            create_control_app(
                self.registry,
                self.config.game_server_token,
                self.redis,
                unhealthy_after=self.config.event_write_unhealthy_seconds,
            ),
            self.config.control_port,
        )
        socket_app = create_socket_app(self.registry, SocketLimits.from_config(self.config))
        self.ws_port = await self._serve(socket_app, self.config.ws_port)
        if self._page_app is not None:
            self.client_port = await self._serve(self._page_app(), self.config.client_port)
        log.info(
            "game server listening",
            extra={
                "control_port": self.control_port,
                "ws_port": self.ws_port,
                "client_port": self.client_port,
                "tick_seconds": self.config.tick_seconds,
            },
        )

    async def _serve(self, app: web.Application, port: int) -> int:
        runner = JsonErrorAppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, self.config.host, port)
        await site.start()
        return int(runner.addresses[-1][1])

    async def stop(self) -> None:
        """Remove every game, close the listeners, write what is buffered."""
        removed = self.registry.remove_all()
        log.info("game server stopping", extra={"games_removed": removed})
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        await self.event_log.stop(SHUTDOWN_FLUSH_SECONDS)
        await self.redis.aclose()


async def serve(config: Config, page_app: Callable[[], web.Application] | None = _page_app) -> None:
    """Run until SIGTERM or SIGINT; :class:`ListenError` when a port cannot be opened."""
    server = GameServer(config, page_app=page_app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
    except OSError as exc:
        await server.stop()
        raise ListenError(f"cannot listen on {config.host!r}: {exc}") from None
    try:
        await stop.wait()
    finally:
        await server.stop()
        log.info("game server stopped")


def _refuse_to_start(message: str, error: BaseException) -> NoReturn:
    """One log line naming the problem, exit status 2 (no traceback)."""
    log.error(message, extra={"error": str(error)})
    logging.shutdown()
    sys.exit(2)


def main() -> None:
    try:
        setup_logging("game-rps")
    except ConfigError as exc:  # LOG_LEVEL: said at the default level
        setup_logging("game-rps", "INFO")
        _refuse_to_start("bad configuration", exc)
    try:
        config = Config.from_env()
        page_app = _configured_page_app() if config.serve_page else None
    except ValueError as exc:  # settings.ConfigError: the message names the variable
        _refuse_to_start("bad configuration", exc)
    try:
        asyncio.run(serve(config, page_app))
    except ListenError as exc:
        _refuse_to_start("cannot listen", exc)


if __name__ == "__main__":
    main()
