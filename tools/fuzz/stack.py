"""The stack a fuzz run attacks: a private Redis and the five processes of `make run`
(tools/run/stack.py, the same definitions the end-to-end tests use), on free ports.

The abuse limits are raised for the run, so that the fuzzers reach past them (each limit is still
on, and still answers as documented when reached): `LIMITS` below, printed at the start of a run.
The WebSocket frame size limit is kept (the fuzzer checks it), so is the per-socket rate (raised
to let a fuzzed socket take its frames, still far below a flood, which the fuzzer checks too).
Secrets are new for each run. All output of the processes goes to `<run dir>/stack.log`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

import requests

from tools.chaos.redis_node import PrivateRedis
from tools.run.stack import Ports, StackConfig, stack_specs
from tools.run.supervisor import ProcessFailed, Supervisor

#: The abuse limits of the run (the services' settings; defaults in their READMEs).
LIMITS: dict[str, str] = {
    "CREATE_RATE_PER_MINUTE": "100000",  # default 10 create_game calls per player a minute
    "JOIN_RATE_PER_MINUTE": "100000",  # default 30
    "MAX_OPEN_GAMES_PER_PLAYER": "100000",  # default 3
    "WS_MAX_MESSAGES_PER_SECOND": "200",  # default 20 frames per second per socket
    "WS_MESSAGE_BURST": "100",  # default 40
    "WS_MAX_CONNECTIONS_PER_ADDRESS": "200",  # default 20 (every fuzzer socket is 127.0.0.1)
}
TICK_SECONDS = "0.05"  # games go fast (default 1.0)
#: A log line that tells of a bug or a crash (the services log one line per event, key=value).
_BAD_LINE = re.compile(r"level=(ERROR|CRITICAL)|Traceback \(most recent call last\)")


@dataclass
class FuzzStack:
    """Start with `with FuzzStack(run_dir) as stack:`; everything is stopped at the end."""

    run_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    config: StackConfig = field(init=False)
    redis: PrivateRedis = field(init=False)
    supervisor: Supervisor = field(init=False)
    service_token: str = field(default_factory=lambda: secrets.token_hex(24))
    jwt_secret: str = field(default_factory=lambda: secrets.token_hex(24))
    _log: IO[str] | None = None

    @property
    def log_path(self) -> Path:
        return self.run_dir / "stack.log"

    def __enter__(self) -> FuzzStack:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.redis = PrivateRedis(self.run_dir / "redis", fsync="everysec")
        self.redis.start()
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        env = {
            "LOG_LEVEL": "INFO",
            "TICK_SECONDS": TICK_SECONDS,
            "JWT_SECRET": self.jwt_secret,
            "GAME_SERVER_TOKEN": self.service_token,
            **LIMITS,
            **self.extra_env,
        }
        self._log = self.log_path.open("w", encoding="utf-8")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("STREAM_", "CURATION_"))}
        for attempt in (1, 2):
            self.config = StackConfig(
                redis=self.redis.url,
                ports=Ports.free(),
                environment="development",
                run_dir=self.run_dir,
                extra_env=env,
            )
            self.supervisor = Supervisor(
                stack_specs(self.config, base), output=self._log, color=False
            )
            try:
                self.supervisor.start()
                self.supervisor.wait_healthy(timeout=90)
                return
            except ProcessFailed:
                self.supervisor.stop()
                self._log.flush()
                # Free ports are free when picked: only a port taken meanwhile earns a retry.
                if attempt == 2 or "in use" not in self.log_tail(20_000):
                    raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if hasattr(self, "supervisor"):
            self.supervisor.stop()
        self.redis.stop()
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- what the fuzzers need -------------------------------------------------------------------

    @property
    def control_url(self) -> str:
        return self.config.game_control_url

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.game_socket_address}"

    def alive(self) -> dict[str, bool]:
        """Each process: still running?"""
        return {name: proc.poll() is None for name, proc in self.supervisor.procs.items()}

    def healthy(self) -> dict[str, bool]:
        """Each health URL of the stack (and the game server's /livez): answering 200?"""
        urls = [url for spec in self.supervisor.specs for url in spec.health_urls]
        urls.append(f"{self.control_url}/livez")
        out = {}
        for url in urls:
            try:
                out[url] = requests.get(url, timeout=5).status_code == 200
            except requests.RequestException:
                out[url] = False
        return out

    def log_tail(self, chars: int = 4000) -> str:
        if self._log is not None:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    def bad_log_lines(self) -> list[str]:
        """Lines of the services' output that tell of an error or a traceback."""
        if self._log is not None:
            self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return [line for line in text.splitlines() if _BAD_LINE.search(line)]

    def describe(self) -> str:
        ports = self.config.ports
        return (
            f"Redis {self.redis.url}; matchmaker :{ports.matchmaker}, stats :{ports.stats}, "
            f"game control :{ports.game_control}, socket :{ports.game_socket}, "
            f"page :{ports.game_page}; limits raised for the run: "
            + ", ".join(f"{k}={v}" for k, v in LIMITS.items())
            + f", TICK_SECONDS={TICK_SECONDS}; logs {self.log_path}"
        )


def stack_json(stack: FuzzStack) -> str:
    """The stack's addresses as JSON (for a person running pieces by hand)."""
    return json.dumps(
        {
            "matchmaker": stack.config.matchmaker_url,
            "stats": stack.config.stats_url,
            "control": stack.control_url,
            "page": stack.config.page_url,
            "ws": stack.ws_url,
        }
    )
