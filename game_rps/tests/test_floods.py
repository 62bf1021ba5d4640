"""Floods on the players' socket (issue 13): each socket's message rate (a token bucket: an error,
then close 1008), concurrent sockets per client address (429 before the upgrade), the size of an
inbound frame (1009); a flood never stops another game from answering."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
import redis
from conftest import SERVICE_TOKEN, entries, eventually, run, running_server
from flood import flood_and_measure
from game_rps.bot import PAPER, Bot, always
from game_rps.config import Config
from game_rps.sockets import ADDRESSES_KEY, SocketLimits, TokenBucket
from varcade_workers.settings import ConfigError

TOO_MANY = {"type": "error", "message": "too many messages", "code": 1008}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(20.0, 40, clock)
    assert all(bucket.take() for _ in range(40))  # the burst at once
    assert not bucket.take()
    clock.now += 0.051  # one message's worth at 20/s (and a bit: float time)
    assert bucket.take() and not bucket.take()
    clock.now += 3600  # refills up to the burst, never beyond
    assert sum(bucket.take() for _ in range(100)) == 40
    # a client steadily within the rate never runs out
    steady = TokenBucket(20.0, 40, clock)
    for _ in range(2000):
        clock.now += 1 / 19
        assert steady.take()


LIMIT_VARS = {
    "WS_MAX_MESSAGES_PER_SECOND": "1000",
    "WS_MESSAGE_BURST": "2000",
    "WS_MAX_CONNECTIONS_PER_ADDRESS": "500",
    "WS_MAX_MESSAGE_BYTES": "8192",
}


def test_socket_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LIMIT_VARS:
        monkeypatch.delenv(name, raising=False)
    assert SocketLimits.from_config(Config.from_env()) == SocketLimits(20.0, 40, 20, 4096)
    assert SocketLimits() == SocketLimits(20.0, 40, 20, 4096)
    for name, value in LIMIT_VARS.items():
        monkeypatch.setenv(name, value)
    assert SocketLimits.from_config(Config.from_env()) == SocketLimits(1000.0, 2000, 500, 8192)


@pytest.mark.parametrize(
    ("name", "value"),
    [("WS_MAX_MESSAGES_PER_SECOND", "0"), ("WS_MAX_MESSAGES_PER_SECOND", "lots"),
     ("WS_MESSAGE_BURST", "0"), ("WS_MAX_CONNECTIONS_PER_ADDRESS", "0"),
     ("WS_MAX_MESSAGE_BYTES", "100")],
)  # fmt: skip
def test_bad_socket_limits_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        Config.from_env()


def test_a_flooding_socket_gets_an_error_then_1008_and_another_game_keeps_answering(
    stream_url: str, stream: redis.Redis
) -> None:
    async def body() -> None:
        async with running_server(stream_url) as h:  # the default limits: 20/s, burst 40
            quiet_id, quiet = await h.new_game("q1", "q2")
            noisy_id, noisy = await h.new_game("n1", "n2")
            q1 = await h.bot(quiet, "q1", "aru", always(PAPER)).connect()
            await q1.wait_for(lambda m: m["type"] == "player_joined")
            q2 = await h.bot(quiet, "q2", "man").connect()
            n1 = await h.bot(noisy, "n1").connect()
            await n1.wait_for(lambda m: m["type"] == "player_joined")
            frame = '{"type":"select_fighter","characterId":"aru"}'
            sent = 0
            for _ in range(2000):
                if n1.closed:
                    break
                try:
                    await n1.send(frame)
                except (ConnectionError, RuntimeError, aiohttp.ClientError):
                    break
                sent += 1
            result = await n1.wait_closed()
            assert (result.close_code, result.close_reason) == (1008, "Too many messages.")
            assert result.of_type("error") == [TOO_MANY]  # told once, then closed
            assert result.messages[-1] == TOO_MANY
            answered = len(result.of_type("select_fighter"))
            assert 40 <= answered < sent and answered < 200  # the burst (and a little refill)
            # the flooder was the host: it left, so its game is gone
            await eventually(lambda: h.server.registry.get(noisy_id) is None)
            # the other game never noticed: it answers, and plays on
            start = len(q1.messages)
            await q1.select_fighter("hog")
            own = await q1.wait_for(lambda m: m["type"] == "select_fighter", start=start)
            assert own["gameData"] == {"playerId": "q1", "selectedCharacterId": "hog"}
            assert not q1.closed and not q2.closed
            await q2.select_fighter()
            for bot in (q1, q2):
                await bot.start_battle()
            over = await q1.wait_closed(30)
            assert (over.close_code, over.close_reason) == (1000, "Game over.")
            await q2.aclose()
            await h.flush()
        assert entries(stream, noisy_id)[-1]["type"] == "game_removed"
        assert any(e["type"] == "game_over" for e in entries(stream, quiet_id))

    run(body())


def test_the_burst_is_exact_and_a_flood_of_the_second_player_frees_the_seat(
    stream_url: str, stream: redis.Redis
) -> None:
    async def body() -> None:
        # (practically) no refill: the burst is all a socket gets
        async with running_server(
            stream_url, ws_max_messages_per_second=0.001, ws_message_burst=5
        ) as h:
            game_id, token = await h.new_game("host", "guest")
            host = await h.bot(token, "host").connect()
            await host.wait_for(lambda m: m["type"] == "player_joined")
            guest = await h.bot(token, "guest").connect()
            await guest.wait_for(lambda m: m["type"] == "player_joined")
            for _ in range(5):
                start = len(guest.messages)
                await guest.send({})  # each gets an error (malformed)
                await guest.wait_for(lambda m: m["type"] == "error", start=start)
            assert not guest.closed and [m["code"] for m in guest.of_type("error")] == [4400] * 5
            await guest.send({})  # the sixth message
            result = await guest.wait_closed()
            assert result.close_code == 1008 and result.messages[-1] == TOO_MANY
            # like any departure of the second player: the host is told, the seat is free
            error = await host.wait_for(lambda m: m.get("code") == 4003)
            assert error["message"] == "Opponent disconnected" and not host.closed
            async with h.bot(token, "guest") as again:  # the seat token went with the seat
                assert (await again.wait_closed()).close_code == 1000
            await host.aclose()
            await h.flush()
        kinds = [e["type"] for e in entries(stream, game_id)]
        assert kinds.count("player_disconnect") == 1

    run(body())


def test_concurrent_sockets_per_address_are_capped_before_the_upgrade(
    stream_url: str, stream: redis.Redis
) -> None:
    async def status_of(h: Any, **connector: Any) -> int:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(**connector)) as s:
            try:
                async with s.ws_connect(f"{h.ws_url}/?game_token=x&user_id=y") as ws:
                    await ws.receive()
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    async def body() -> None:
        async with running_server(stream_url, ws_max_connections_per_address=3) as h:
            counter = h.server._runners[1].app[ADDRESSES_KEY]  # the socket app's
            _, a = await h.new_game("a1", "a2")
            _, b = await h.new_game("b1", "b2")
            a1 = await h.bot(a, "a1").connect()
            await a1.wait_for(lambda m: m["type"] == "player_joined")
            a2 = await h.bot(a, "a2").connect()
            await a2.wait_for(lambda m: m["type"] == "player_joined")
            b1 = await h.bot(b, "b1").connect()
            await b1.wait_for(lambda m: m["type"] == "player_joined")
            assert counter.count("127.0.0.1") == 3
            # a fourth socket from the same address: 429, no upgrade, nothing seated
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await h.bot(b, "b2").connect()
            assert refused.value.status == 429
            assert await status_of(h) == 429
            # another address is not held back (Linux answers all of 127/8 on loopback)
            connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                Bot(h.ws_url, b, "b2", h.seat(b, "b2"), session=session) as other,
            ):
                await other.wait_for(lambda m: m["type"] == "player_joined")
                assert counter.count("127.0.0.2") == 1
            # once a socket of the first address closes, it may open one again
            await a2.leave()
            await eventually(lambda: counter.count("127.0.0.1") == 2)
            assert await status_of(h) == 101  # upgraded (then refused: an unknown token)
            for bot in (a1, a2, b1):
                await bot.aclose()
            await eventually(lambda: counter.count("127.0.0.1") == 0)
            assert counter.count("127.0.0.2") == 0

    run(body())


def test_a_frame_over_the_size_cap_closes_the_socket(stream_url: str, stream: redis.Redis) -> None:
    async def body() -> None:
        async with running_server(stream_url) as h:  # 4 KiB by default
            _, token = await h.new_game("host", "guest")
            async with h.bot(token, "host") as host:
                await host.wait_for(lambda m: m["type"] == "player_joined")
                await host.send(" " * 4000)  # under the cap: read (and malformed)
                await host.wait_for(lambda m: m.get("code") == 4400)
                await host.send("x" * 5000)
                assert (await host.wait_closed()).close_code == 1009  # message too big

    run(body())


def test_a_frame_of_exactly_the_size_cap_is_read_one_byte_more_closes(
    stream_url: str, stream: redis.Redis
) -> None:
    """make fuzz found a frame of exactly WS_MAX_MESSAGE_BYTES closed with 1009 (aiohttp refuses
    at its max_msg_size, not past it). A client offering compression gets none: the cap is on the
    bytes it sends."""

    async def body() -> None:
        async with running_server(stream_url, ws_max_message_bytes=300) as h:
            for compress in (0, 15):
                _, token = await h.new_game("host", "guest")
                url = f"{h.ws_url}/?game_token={token}&user_id=host&seat_token="
                async with h.session.ws_connect(
                    url + h.seat(token, "host"), compress=compress
                ) as ws:
                    assert ws.compress == 0  # not negotiated
                    await ws.receive_json()  # player_joined
                    await ws.send_str(" " * 299 + "}")  # 300 bytes: read (and malformed)
                    answer = await ws.receive_json()
                    assert (answer["type"], answer["code"]) == ("error", 4400)
                    await ws.send_str(" " * 300 + "}")  # 301 bytes
                    closing = await ws.receive()
                    assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 1009)

    run(body())


def test_flood_and_measure_reports_the_quiet_games_round_trip(
    stream_url: str, stream: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reusable helper (tests/flood.py) at a small scale: 8 flooding sockets against the
    default limits; the quiet game's round trip is printed (a benchmark measures it properly)."""

    async def body() -> tuple[Any, Any]:
        async with running_server(stream_url) as h:
            control = h.control_url
            baseline = await flood_and_measure(
                control, h.ws_url, SERVICE_TOKEN, flooders=0, probes=10, interval=0.06
            )
            flooded = await flood_and_measure(
                control, h.ws_url, SERVICE_TOKEN, flooders=8, probes=20, interval=0.06
            )
            await eventually(lambda: len(h.server.registry) == 0)
            return baseline, flooded

    baseline, flooded = run(body())
    assert len(baseline.round_trips) == 10 and baseline.flood_sockets == 0
    assert len(flooded.round_trips) == 20
    assert flooded.flood_sockets >= 8
    assert flooded.close_codes[1008] >= 8 and flooded.too_many_messages >= 8, flooded.summary()
    with capsys.disabled():
        print(f"\n  no flood: {baseline.summary()}\n  flood:    {flooded.summary()}")
