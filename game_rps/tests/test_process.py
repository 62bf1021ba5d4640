"""`python -m game_rps.server` as the deployment runs it: configured by environment, all three
ports in one process, a graceful stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import threading

import aiohttp
import redis
from conftest import SERVICE_TOKEN, STREAM_DB, entries, listening_ports, run, server_process
from game_rps.bot import Bot
from varcade_workers.testing import redis_base_url


def test_server_process_serves_three_ports_and_stops_gracefully(stream: redis.Redis) -> None:
    env = {
        **os.environ,
        "VARCADE_ENV": "test",
        "EVENT_STREAM_URL": f"{redis_base_url()}/{STREAM_DB}",
        "GAME_SERVER_TOKEN": SERVICE_TOKEN,
        "BIND_HOST": "127.0.0.1",
        "CONTROL_PORT": "0",
        "WS_PORT": "0",
        "CLIENT_PORT": "0",
        "TICK_SECONDS": "0.05",
        "LOG_LEVEL": "INFO",
    }
    lines: list[str] = []
    with server_process(env) as proc:
        ports = listening_ports(proc, lines)
        drain = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
        drain.start()

        async def body() -> tuple[int | None, str]:
            control = f"http://127.0.0.1:{ports['control_port']}"
            auth = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
            async with aiohttp.ClientSession() as session:
                async with session.get(control + "/healthz") as r:
                    assert r.status == 200
                async with session.get(control + "/livez") as r:
                    assert r.status == 200
                async with session.get(f"http://127.0.0.1:{ports['client_port']}/") as r:
                    assert r.status == 200  # the web page, same process
                game = {"gameId": "g-process", "userId": "host", "username": "HOST"}
                async with session.post(control + "/create_game", json=game, headers=auth) as r:
                    created = await r.json()
                ws = f"ws://127.0.0.1:{ports['ws_port']}"
                token, seat_token = created["gameToken"], created["seatToken"]
                async with Bot(ws, token, "host", seat_token, session=session) as host:
                    await host.wait_for(lambda m: m["type"] == "player_joined")
                    proc.send_signal(signal.SIGTERM)
                    result = await host.wait_closed()
                    return result.close_code, result.close_reason

        assert run(body()) == (1001, "Server shutting down.")
        assert proc.wait(15) == 0
    assert entries(stream, "g-process")[-1]["type"] == "game_removed"
    assert any("game server stopped" in line for line in lines)
