"""The game server's Prometheus metrics, on a registry of its own (several servers may share a
test process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

PREFIX = "game_rps_"


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()

        def gauge(name: str, documentation: str) -> Gauge:
            return Gauge(PREFIX + name, documentation, registry=self.registry)

        def counter(name: str, documentation: str) -> Counter:
            return Counter(PREFIX + name, documentation, registry=self.registry)

        self.active_games = gauge("active_games", "Games on this server")
        self.connections = gauge("connections", "Open player sockets")
        self.games_created = counter("games_created", "Games created")
        self.games_finished = counter("games_finished", "Games played to the end")
        self.messages_received = counter("messages_received", "Messages from players")
        self.messages_sent = counter("messages_sent", "Messages to players")
        self.malformed_messages = counter(
            "malformed_messages", "Player messages answered with an error"
        )
        self.clocks_started = counter("clocks_started", "Game clocks started (one per battle)")
        self.events_buffered = gauge(
            "events_buffered", "Events waiting to be written to the stream"
        )
        self.events_written = counter("events_written", "Events written to the stream")
        self.events_dropped = counter(
            "events_dropped", "Events dropped because the buffer was full"
        )
        self.events_rejected = counter(
            "events_rejected", "Events set aside because the stream cannot carry them"
        )
        self.event_write_errors = counter("event_write_errors", "Failed attempts to write events")

    def render(self) -> bytes:
        return generate_latest(self.registry)
