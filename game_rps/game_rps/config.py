"""The game server's configuration, read from the environment once (CONVENTIONS "Environment")."""

from __future__ import annotations

from dataclasses import dataclass

from varcade_workers.settings import DEV_GAME_SERVER_TOKEN  # development only; shared

from game_rps.engine import PRODUCT_ID
from varcade_workers import events, settings


@dataclass(frozen=True)
class Config:
    """Everything the server process needs; tests build one directly (ports 0 = any free port)."""

    event_stream_url: str = "redis://127.0.0.1:6379/1"
    game_server_token: str = DEV_GAME_SERVER_TOKEN
    #: BIND_HOST: loopback unless production (settings.bind_host), for all three ports.
    host: str = "127.0.0.1"
    control_port: int = 8080
    ws_port: int = 8085
    client_port: int = 8090
    tick_seconds: float = 1.0
    event_stream_maxlen: int = events.DEFAULT_MAXLEN
    event_buffer_size: int = 100_000
    #: ``/healthz`` answers 503 once buffered events have not been written for this long.
    event_write_unhealthy_seconds: float = 10.0
    product_id: str = PRODUCT_ID
    serve_page: bool = True
    #: Player sockets (issue 13: floods): each socket's inbound messages, a token bucket of this
    #: sustained rate and burst (past it: an error, then close 1008); concurrent sockets per
    #: client address (past it: 429 before the upgrade); the largest inbound frame (bytes).
    ws_max_messages_per_second: float = 20.0
    ws_message_burst: int = 40
    ws_max_connections_per_address: int = 20
    ws_max_message_bytes: int = 4096

    @classmethod
    def from_env(cls) -> Config:
        return cls(
            event_stream_url=settings.redis_url("EVENT_STREAM_URL", 1),
            game_server_token=settings.secret(
                "GAME_SERVER_TOKEN", DEV_GAME_SERVER_TOKEN, min_bytes=settings.MIN_SECRET_BYTES
            ),
            host=settings.bind_host("BIND_HOST"),
            control_port=settings.env_int("CONTROL_PORT", 8080, minimum=0),
            ws_port=settings.env_int("WS_PORT", 8085, minimum=0),
            client_port=settings.env_int("CLIENT_PORT", 8090, minimum=0),
            tick_seconds=settings.env_float("TICK_SECONDS", 1.0, minimum=0.001),
            event_stream_maxlen=settings.env_int(
                "EVENT_STREAM_MAXLEN", events.DEFAULT_MAXLEN, minimum=1
            ),
            event_buffer_size=settings.env_int("EVENT_BUFFER_SIZE", 100_000, minimum=1),
            event_write_unhealthy_seconds=settings.env_float(
                "EVENT_WRITE_UNHEALTHY_SECONDS", 10.0, minimum=0.001
            ),
            ws_max_messages_per_second=settings.env_float(
                "WS_MAX_MESSAGES_PER_SECOND", 20.0, minimum=0.001
            ),
            ws_message_burst=settings.env_int("WS_MESSAGE_BURST", 40, minimum=1),
            ws_max_connections_per_address=settings.env_int(
                "WS_MAX_CONNECTIONS_PER_ADDRESS", 20, minimum=1
            ),
            ws_max_message_bytes=settings.env_int("WS_MAX_MESSAGE_BYTES", 4096, minimum=256),
        )
