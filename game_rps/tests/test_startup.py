"""Start-up: development listens on loopback, production on all interfaces (BIND_HOST); production
needs only the settings it uses (no JWT_SECRET) and a GAME_SERVER_TOKEN of at least 32 bytes; a
missing or bad setting, or a port that cannot be opened, is one log line and exit status 2."""

from __future__ import annotations

import json
import os
import socket

import pytest
from conftest import STREAM_DB, listening_ports, run, server_process
from game_rps.config import Config
from test_hardening import JSON, Answer, exchange, game_server, request
from varcade_workers.settings import ConfigError
from varcade_workers.testing import redis_base_url

# ------------------------------------------------------------------ 5. listening address


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("VARCADE_ENV", "BIND_HOST", "GAME_SERVER_TOKEN", "JWT_SECRET", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_bind_host_is_loopback_unless_production(clean_env: pytest.MonkeyPatch) -> None:
    assert Config().host == "127.0.0.1"
    assert Config.from_env().host == "127.0.0.1"  # development
    clean_env.setenv("VARCADE_ENV", "test")
    assert Config.from_env().host == "127.0.0.1"
    clean_env.setenv("VARCADE_ENV", "production")
    clean_env.setenv("GAME_SERVER_TOKEN", "p" * 40)
    assert Config.from_env().host == "0.0.0.0"  # containers: reachable inside their network
    clean_env.setenv("BIND_HOST", "::1")
    assert Config.from_env().host == "::1"
    clean_env.setenv("BIND_HOST", "not a host!")
    with pytest.raises(ConfigError, match="BIND_HOST"):
        Config.from_env()


def test_every_port_listens_on_the_bind_host(stream_url: str) -> None:
    async def body() -> list[str]:
        async with game_server(stream_url) as server:  # Config's default host
            return [str(address[0]) for r in server._runners for address in r.addresses]

    hosts = run(body())
    assert hosts == ["127.0.0.1"] * 3


# ------------------------------------------------------------------ 6. start-up settings


def test_production_service_token_must_be_32_bytes(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("VARCADE_ENV", "production")
    clean_env.setenv("GAME_SERVER_TOKEN", "t" * 31)
    with pytest.raises(
        ConfigError, match=r"GAME_SERVER_TOKEN is too short .*31 bytes, at least 32"
    ):
        Config.from_env()
    clean_env.setenv("GAME_SERVER_TOKEN", "t" * 32)
    assert Config.from_env().game_server_token == "t" * 32
    clean_env.setenv("VARCADE_ENV", "development")
    clean_env.setenv("GAME_SERVER_TOKEN", "short")  # development and tests may use short ones
    assert Config.from_env().game_server_token == "short"


def server_env(env: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("JWT_SECRET", "GAME_SERVER_TOKEN")}
    return {
        **base,
        "EVENT_STREAM_URL": f"{redis_base_url()}/{STREAM_DB}",
        "CONTROL_PORT": "0",
        "WS_PORT": "0",
        "CLIENT_PORT": "0",
        "LOG_LEVEL": "INFO",
        "BIND_HOST": "127.0.0.1",
        **env,
    }


def refusal(env: dict[str, str]) -> tuple[int, list[str]]:
    with server_process(server_env(env)) as proc:
        _, err = proc.communicate(timeout=30)
    return proc.returncode, err.splitlines()


LONG_TOKEN = "production-service-token-0123456789abcdef"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"VARCADE_ENV": "production"}, "GAME_SERVER_TOKEN must be set in production"),
        (
            {"VARCADE_ENV": "production", "GAME_SERVER_TOKEN": "short-token"},
            "GAME_SERVER_TOKEN is too short for production (11 bytes, at least 32)",
        ),
        ({"VARCADE_ENV": "staging"}, "VARCADE_ENV must be one of"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL must be a level name"),
        ({"BIND_HOST": "no such host!"}, "BIND_HOST must be an IP address or a host name"),
        ({"TICK_SECONDS": "fast"}, "TICK_SECONDS must be a number"),
    ],
)
def test_a_bad_setting_is_one_log_line_and_status_2(
    stream_url: str, env: dict[str, str], expected: str
) -> None:
    status, lines = refusal(env)
    assert status == 2, lines
    assert len(lines) == 1, lines
    assert "level=ERROR" in lines[0] and 'msg="bad configuration"' in lines[0], lines
    assert expected in lines[0]
    assert LONG_TOKEN not in lines[0]


def test_a_port_in_use_is_one_log_line_and_status_2(stream_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        status, lines = refusal({"WS_PORT": port})
    assert status == 2, lines
    refused = [line for line in lines if 'msg="cannot listen"' in line]
    assert len(refused) == 1 and "level=ERROR" in refused[0], lines
    assert not [line for line in lines if "Traceback" in line]


def test_production_starts_without_jwt_secret(stream_url: str) -> None:
    lines: list[str] = []
    env = server_env({"VARCADE_ENV": "production", "GAME_SERVER_TOKEN": LONG_TOKEN})
    with server_process(env) as proc:
        found = listening_ports(proc, lines)

        async def dev_token() -> Answer:
            body = json.dumps({"username": "alice"}).encode()
            return await exchange(
                int(found["client_port"]), request("POST", "/dev/token", JSON, body)
            )

        answer = run(dev_token())
        assert (answer.status, answer.json) == (404, {"message": "Not found"})  # no dev tokens
        proc.terminate()
        assert proc.wait(15) == 0
