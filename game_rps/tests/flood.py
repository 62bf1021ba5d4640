"""Flood a running game server's sockets and measure another game's round trip meanwhile.

A helper for the tests and for benchmarks (it needs only the server's addresses and service
token, not the test harness)::

    report = await flood_and_measure(control_url, ws_url, service_token, flooders=10)
    print(report.summary())  # the quiet game's round-trip median and p95, what the flooders got

`flooders` sockets each create a game of their own through the control API, connect as its host
and send valid frames (`select_fighter`) as fast as the connection takes them, over and over (a
new game each time the server closes one) until the measurement is done. Meanwhile a quiet game,
both players connected, measures its round trip: the host sends `select_fighter` and waits for the
server's answer (its own choice, sent at once), `probes` times, `interval` seconds apart (under the
per-socket message limit). Every socket comes from one client address, so `flooders` + 2 must stay
within the server's WS_MAX_CONNECTIONS_PER_ADDRESS (or the server raises it).

The flooders run in the caller's event loop: against a server in the same process (the tests) the
figure includes the flooders' own work; a benchmark runs the server in its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from game_rps.bot import Bot

FIGHTERS = ("aru", "man", "hog", "rad", "mai")


@dataclass
class FloodReport:
    """What the quiet game measured and what the flooding sockets got."""

    round_trips: list[float] = field(default_factory=list)  # seconds, one per probe
    flood_sockets: int = 0  # sockets the flooders opened
    frames_sent: int = 0  # frames the flooders got onto the wire
    close_codes: Counter[int | None] = field(default_factory=Counter)  # per flooding socket
    too_many_messages: int = 0  # flooding sockets told "too many messages" before the close

    @property
    def median_ms(self) -> float:
        return statistics.median(self.round_trips) * 1000

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.round_trips)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000

    def summary(self) -> str:
        return (
            f"quiet game round trip: median {self.median_ms:.2f} ms, p95 {self.p95_ms:.2f} ms "
            f"over {len(self.round_trips)} probes; flooders: {self.flood_sockets} sockets, "
            f"{self.frames_sent} frames sent, close codes {dict(self.close_codes)}, "
            f"{self.too_many_messages} told 'too many messages'"
        )


class _Control:
    """Just enough of the control API to make games for the flood."""

    def __init__(self, session: aiohttp.ClientSession, url: str, service_token: str) -> None:
        self.session = session
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {service_token}"}

    async def call(self, path: str, game_id: str, user_id: str) -> dict[str, str]:
        body = {"gameId": game_id, "userId": user_id, "username": user_id}
        async with self.session.post(self.url + path, json=body, headers=self.headers) as r:
            reply: dict[str, str] = await r.json()
            if r.status != 200:
                raise RuntimeError(f"{path} answered {r.status}: {reply}")
            return reply


async def _flood_once(
    control: _Control,
    session: aiohttp.ClientSession,
    ws_url: str,
    report: FloodReport,
    frames: int,
    stop: asyncio.Event,
) -> None:
    """One game, one flooding host socket: send until closed, `frames` sent, or `stop`; then
    wait until the server has read them all (it answers a final malformed frame) or closed."""
    game_id = f"flood-{uuid.uuid4().hex[:12]}"
    host = f"flooder-{uuid.uuid4().hex[:8]}"
    created = await control.call("/create_game", game_id, host)
    bot = Bot(ws_url, created["gameToken"], host, created["seatToken"], session=session)
    report.flood_sockets += 1
    try:
        await bot.connect()
        frame = '{"type":"select_fighter","characterId":"aru"}'
        for _ in range(frames):
            if bot.closed or stop.is_set():
                break
            try:
                await bot.send(frame)
            except (ConnectionError, RuntimeError, aiohttp.ClientError):
                break
            report.frames_sent += 1
        if not bot.closed:
            start = len(bot.messages)
            with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
                await bot.send("{}")  # answered with error 4400 once the flood has been read
            with contextlib.suppress(ConnectionError):  # (closed by the server meanwhile)
                await bot.wait_for(lambda m: m.get("code") == 4400, timeout=60, start=start)
        if not bot.closed:
            await bot.leave()  # the server took the whole flood (its limits were raised)
        result = await bot.wait_closed(10)
        report.close_codes[result.close_code] += 1
        if any(m.get("message") == "too many messages" for m in result.of_type("error")):
            report.too_many_messages += 1
    finally:
        await bot.aclose()


async def _flooder(
    control: _Control,
    session: aiohttp.ClientSession,
    ws_url: str,
    report: FloodReport,
    frames: int,
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        await _flood_once(control, session, ws_url, report, frames, stop)


async def _probe(bot: Bot, report: FloodReport, probes: int, interval: float) -> None:
    for n in range(probes):
        answer = {"playerId": bot.result.user_id, "selectedCharacterId": FIGHTERS[n % 5]}
        start = len(bot.messages)
        began = time.perf_counter()
        await bot.select_fighter(answer["selectedCharacterId"])
        await bot.wait_for(
            lambda m, answer=answer: (  # type: ignore[misc]
                m.get("type") == "select_fighter" and m["gameData"] == answer
            ),
            start=start,
        )
        report.round_trips.append(time.perf_counter() - began)
        await asyncio.sleep(interval)


async def flood_and_measure(
    control_url: str,
    ws_url: str,
    service_token: str,
    *,
    flooders: int = 10,
    probes: int = 30,
    interval: float = 0.1,
    frames_per_socket: int = 500,
    session: aiohttp.ClientSession | None = None,
) -> FloodReport:
    """Flood with `flooders` sockets while a quiet game measures `probes` round trips (0
    flooders: the baseline). The quiet game is removed at the end; the flooders' games go when
    their host's socket closes."""
    own = session is None
    session = session or aiohttp.ClientSession()
    control = _Control(session, control_url, service_token)
    report = FloodReport()
    stop = asyncio.Event()
    game_id, tag = f"quiet-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex[:8]
    host_id, guest_id = f"quiet-host-{tag}", f"quiet-guest-{tag}"
    tasks: list[asyncio.Task[Any]] = []
    created = await control.call("/create_game", game_id, host_id)
    joined = await control.call("/join_game", game_id, guest_id)
    host = Bot(ws_url, created["gameToken"], host_id, created["seatToken"], session=session)
    guest = Bot(ws_url, joined["gameToken"], guest_id, joined["seatToken"], session=session)
    try:
        await host.connect()
        await host.wait_for(lambda m: m.get("type") == "player_joined")
        await guest.connect()
        await guest.wait_for(lambda m: m.get("type") == "player_joined")
        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(_flooder(control, session, ws_url, report, frames_per_socket, stop))
            for _ in range(flooders)
        ]
        if flooders:
            await asyncio.sleep(0.05)  # the flood is on before the first probe
        await _probe(host, report, probes, interval)
    finally:
        stop.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await guest.aclose()
        await host.aclose()
        if own:
            await session.close()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return report
