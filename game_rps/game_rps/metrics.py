"""The game server's Prometheus metrics, on a registry of its own (several servers may share a
test process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.active_games = Gauge("game_rps_active_games", "Games on this server", registry=r)
        self.connections = Gauge("game_rps_connections", "Open player sockets", registry=r)
        self.games_created = Counter("game_rps_games_created", "Games created", registry=r)
        self.games_finished = Counter(
            "game_rps_games_finished", "Games played to the end", registry=r
        )
        self.messages_received = Counter(
            "game_rps_messages_received", "Messages from players", registry=r
        )
        self.messages_sent = Counter("game_rps_messages_sent", "Messages to players", registry=r)
        self.malformed_messages = Counter(
            "game_rps_malformed_messages", "Player messages answered with an error", registry=r
        )
        self.clocks_started = Counter(
            "game_rps_clocks_started", "Game clocks started (one per battle)", registry=r
        )
        self.events_buffered = Gauge(
            "game_rps_events_buffered", "Events waiting to be written to the stream", registry=r
        )
        self.events_written = Counter(
            "game_rps_events_written", "Events written to the stream", registry=r
        )
        self.events_dropped = Counter(
            "game_rps_events_dropped", "Events dropped because the buffer was full", registry=r
        )
        self.event_write_errors = Counter(
            "game_rps_event_write_errors", "Failed attempts to write events", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
