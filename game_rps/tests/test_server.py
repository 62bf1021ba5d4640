"""The server over real HTTP and WebSockets with a real Redis: whole games, leaving, removal,
refusals, malformed input (spec "game_rps server" sections and "The event stream")."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from typing import Any

import redis
from conftest import (
    HEAD,
    SEATED,
    TICK,
    barrier,
    battle_entries,
    connected,
    entries,
    gameplay,
    raw_entries,
    ready,
    rock_beats_scissors,
    run,
    running_server,
    seqs,
    state,
)
from game_rps.bot import PAPER, ROCK, SCISSORS, always, is_round_event
from game_rps.control_api import REDIS_KEY
from game_rps.engine import REFUSED_REASON
from varcade_workers.redis_clients import PROBE_TIMEOUT_SECONDS

# -- a whole game --------------------------------------------------------------------------------


def test_whole_game_between_two_bots_writes_the_spec_stream(
    stream_url: str, stream: redis.Redis
) -> None:
    async def body() -> None:
        async with running_server(stream_url) as h:
            game_id, token = await h.new_game("alice", "bob")
            assert re.fullmatch(r"[0-9a-f]{32}", token)
            async with h.bot(token, "alice", "aru", always(ROCK)) as alice:
                await alice.wait_for(lambda m: m["type"] == "player_joined")
                async with h.bot(token, "bob", "man", always(SCISSORS)) as bob:
                    await alice.wait_for(
                        lambda m: m["type"] == "player_joined" and m["gameData"]["p2Id"] == "bob"
                    )
                    await ready(alice)
                    await ready(bob)
                    a, b = await asyncio.gather(alice.wait_closed(30), bob.wait_closed(30))
            for result in (a, b):
                assert (result.close_code, result.close_reason) == (1000, "Game over.")
                assert (result.winner_id, result.loser_id) == ("alice", "bob")
            assert a.of_type("player_joined")[-1]["gameData"] == {
                "p1Id": "alice",
                "p1Name": "ALICE",
                "p2Id": "bob",
                "p2Name": "BOB",
            }
            assert a.of_type("player_joined")[0]["gameData"]["p2Id"] is None
            # bob sees alice's fighter (she chose first) right after his own
            picks = [m["gameData"] for m in b.of_type("select_fighter")]
            assert picks == [
                {"playerId": "bob", "selectedCharacterId": "man"},
                {"playerId": "alice", "selectedCharacterId": "aru"},
            ]
            assert b.of_type("sync")[-1]["gameData"] == {"p1Health": 100, "p2Health": 0}
            summaries = [
                m["eventData"]["data"]["attackSummary"] for m in a.messages if is_round_event(m, 3)
            ]
            assert len(summaries) == 8 and summaries[0] == {
                "p1Selection": {"weaponId": "rock", "damageDealt": 25},
                "p2Selection": {"weaponId": "scissors", "damageDealt": 0},
            }
            await h.flush()
            assert h.server.registry.get(game_id) is None and len(h.server.registry) == 0
            status, _ = await h.post(
                "/join_game", {"gameId": game_id, "userId": "carol", "username": "C"}
            )
            assert status == 400  # the finished game and its token are forgotten
            async with h.bot(token, "alice") as again:
                assert (await again.wait_closed()).close_code == 1000
        expected = rock_beats_scissors(game_id)
        got = entries(stream, game_id)
        assert got == expected
        assert [list(e) for e in got] == [list(e) for e in expected]  # field order
        # every entry also carries the game's seq, as its last field: 1..N in stream order
        assert seqs(stream, game_id) == list(range(1, len(expected) + 1))
        assert {list(e)[-1] for e in raw_entries(stream, game_id)} == {"seq"}

    run(body())


def test_concurrent_games_each_number_their_events_in_stream_order(
    stream_url: str, stream: redis.Redis
) -> None:
    """Two games played at once, in one of which the second player leaves and another joins:
    the stream interleaves their entries, and each game's seq is 1..N in stream order through
    every type of event (state_change, gameplay, player_disconnect, game_over, game_removed)."""

    async def play(h: Any, token: str, p1: str, p2: str) -> None:
        async with connected(
            h.bot(token, p1, "aru", always(ROCK)), h.bot(token, p2, "man", always(SCISSORS))
        ) as (host, guest):
            await ready(host)
            await ready(guest)
            await host.wait_closed(30)

    async def with_a_leaver(h: Any, game_id: str, token: str) -> None:
        async with h.bot(token, "b1", "aru", always(ROCK)) as host:
            await host.wait_for(lambda m: m["type"] == "player_joined")
            async with h.bot(token, "b2") as leaver:
                await leaver.wait_for(lambda m: m["type"] == "player_joined")
            await host.wait_for(lambda m: m.get("code") == 4003)
            status, _ = await h.post(
                "/join_game", {"gameId": game_id, "userId": "b3", "username": "B3"}
            )
            assert status == 200
            async with h.bot(token, "b3", "man", always(SCISSORS)) as guest:
                await ready(host)
                await ready(guest)
                await host.wait_closed(30)

    async def body() -> tuple[str, str]:
        async with running_server(stream_url) as h:
            a_id, a_token = await h.new_game("a1", "a2")
            b_id, b_token = await h.new_game("b1", "b2")
            await asyncio.gather(play(h, a_token, "a1", "a2"), with_a_leaver(h, b_id, b_token))
            await h.flush()
            return a_id, b_id

    a_id, b_id = run(body())
    kinds: set[str] = set()
    for game_id in (a_id, b_id):
        got = raw_entries(stream, game_id)
        assert got[-1]["type"] == "game_removed"
        assert seqs(stream, game_id) == list(range(1, len(got) + 1)), game_id
        kinds.update(e["type"] for e in got)
    assert kinds == {"state_change", "gameplay", "player_disconnect", "game_over", "game_removed"}
    order = [f["game_id"] for _, f in stream.xrange("game_event_stream")]
    switches = sum(1 for x, y in itertools.pairwise(order) if x != y)
    assert switches > 2  # the two games' entries really are interleaved in the stream


# -- refusals ------------------------------------------------------------------------------------


REFUSED = (1000, REFUSED_REASON)  # every refusal that does not hold the right seat token


def test_each_refusal_close_code(stream_url: str, stream: redis.Redis) -> None:
    async def closed_with(
        h: Any, token: str | None, user: str | None, seat_token: Any = SEATED
    ) -> tuple[int, str]:
        async with h.bot(token, user, seat_token=seat_token) as bot:
            result = await bot.wait_closed()
            return result.close_code, result.close_reason

    async def without_the_seat(h: Any, token: str, user: str) -> set[tuple[int, str]]:
        """What a socket gets for `user` from anyone who holds the game token but not the seat
        token of `user`: no seat token, made-up ones, the other player's, another game's."""
        mine = h.seat(token, user)
        others = [seat for (_, u), seat in h.seats.items() if seat != mine]
        guesses = [None, "", "0" * 32, mine.upper(), mine[:-1], mine + "0", "é" * 32, *others]
        return {await closed_with(h, token, user, seat_token=guess) for guess in guesses}

    async def body() -> None:
        async with running_server(stream_url) as h:
            game_id, token = await h.new_game("host", "guest")
            await h.new_game("x1", "x2")  # another game: its seat tokens are no good here
            assert await closed_with(h, None, "host") == REFUSED
            assert await closed_with(h, token, None) == REFUSED
            assert await closed_with(h, "0" * 32, "host") == REFUSED
            assert await closed_with(h, "0" * 32, "host", h.seat(token, "host")) == REFUSED
            # the game token and the host's user id are not enough to sit in the host's seat
            # (the old server seated whoever came first with them)
            assert await without_the_seat(h, token, "host") == {REFUSED}
            # nor do close codes tell who is seated: no 4000 without the guest's seat token
            assert await without_the_seat(h, token, "guest") == {REFUSED}
            assert await closed_with(h, token, "guest") == (4000, "The host has not connected yet.")
            async with h.bot(token, "host") as host:
                await host.wait_for(lambda m: m["type"] == "player_joined")
                # a stranger holding the valid token cannot play as anyone
                assert await closed_with(h, token, "stranger") == REFUSED
                assert await closed_with(h, token, "stranger", h.seat(token, "guest")) == REFUSED
                assert await without_the_seat(h, token, "host") == {REFUSED}  # no 4001 either
                assert await closed_with(h, token, "host") == (4001, "Player already connected.")
                async with h.bot(token, "guest") as guest:
                    await guest.wait_for(lambda m: m["type"] == "player_joined")
                    assert await without_the_seat(h, token, "guest") == {REFUSED}
                    assert (await closed_with(h, token, "guest"))[0] == 4001
                    assert not host.closed and not guest.closed
            await h.flush()
        # the refused sockets wrote nothing: only the two accepted ones did
        kinds = [e.get("new_state", e["type"]) for e in entries(stream, game_id)]
        assert kinds[:2] == ["creator_joined", "all_players_joined"]
        assert kinds.count("creator_joined") == 1 and kinds.count("all_players_joined") == 1

    run(body())


# -- leaving -------------------------------------------------------------------------------------


def test_host_leaving_removes_the_game(stream_url: str, stream: redis.Redis) -> None:
    async def body() -> None:
        async with running_server(stream_url) as h:
            game_id, token = await h.new_game("host", "guest")
            host = await h.bot(token, "host").connect()
            await host.wait_for(lambda m: m["type"] == "player_joined")
            async with h.bot(token, "guest") as guest:
                await guest.wait_for(lambda m: m["type"] == "player_joined")
                await host.leave()
                result = await guest.wait_closed()
                assert result.of_type("error")[-1] == {
                    "type": "error",
                    "message": "Host disconnected",
                    "code": 4002,
                }
                assert (result.close_code, result.close_reason) == (1000, "Host disconnected.")
            await host.aclose()
            await h.flush()
            assert h.server.registry.get(game_id) is None
            async with h.bot(token, "host") as again:
                assert (await again.wait_closed()).close_code == 1000  # token forgotten
        got = entries(stream, game_id)
        assert got[-1] == {**HEAD, "game_id": game_id, "type": "game_removed"}
        assert [e["type"] for e in got].count("player_disconnect") == 0

    run(body())


def test_opponent_leaving_then_rejoining_through_join_game(
    stream_url: str, stream: redis.Redis
) -> None:
    async def body() -> None:
        async with running_server(stream_url) as h:
            game_id, token = await h.new_game("host", "guest")
            old_seat = h.seat(token, "guest")
            async with h.bot(token, "host", "aru", always(ROCK)) as host:
                await host.wait_for(lambda m: m["type"] == "player_joined")
                guest = await h.bot(token, "guest", "man", always(None)).connect()
                await ready(host)
                await ready(guest)
                # an exchange happens: the guest botches, the host's rock hits
                await host.wait_for(
                    lambda m: m["type"] == "sync" and m["gameData"]["p2Health"] < 100
                )
                await guest.leave()
                await guest.aclose()
                error = await host.wait_for(lambda m: m.get("code") == 4003)
                assert error == {"type": "error", "message": "Opponent disconnected", "code": 4003}
                assert not host.closed
                mark = len(host.messages)
                # the old guest must join again through the matchmaker before connecting: the
                # seat token of the first join is forgotten
                async with h.bot(token, "guest") as early:
                    result = await early.wait_closed()
                    assert (result.close_code, result.close_reason) == REFUSED
                status, joined = await h.post(
                    "/join_game", {"gameId": game_id, "userId": "guest", "username": "GUEST"}
                )
                assert status == 200 and joined["gameToken"] == token
                assert re.fullmatch(r"[0-9a-f]{32}", joined["seatToken"])
                assert joined["seatToken"] != old_seat  # a new join, a new seat token
                async with h.bot(token, "guest", seat_token=old_seat) as stale:
                    result = await stale.wait_closed()
                    assert (result.close_code, result.close_reason) == REFUSED
                async with h.bot(token, "guest", "hog", always(SCISSORS)) as back:
                    await ready(back)
                    started = await host.wait_for(lambda m: m["type"] == "RPSGameEvent", start=mark)
                    assert started["eventData"]["type"] == 0
                    result = await back.wait_closed(30)
                assert result.winner_id == "host"
                first_sync = next(m for m in result.messages if m["type"] == "sync")
                assert first_sync["gameData"] == {"p1Health": 100, "p2Health": 100}
                rounds = [m for m in host.messages[mark:] if is_round_event(m, 5)]
                assert len(rounds) == 2  # restarted from round 1: exactly two rounds after
            await h.flush()
        got = entries(stream, game_id)
        cut = got.index({**HEAD, "game_id": game_id, "type": "player_disconnect",
                         "player_id": "guest"})  # fmt: skip
        assert got[cut + 1 :] == [
            state(game_id, "all_players_joined"),
            gameplay(game_id, "select_fighter", "hog", "guest"),
            gameplay(game_id, "set_ready", "", "guest"),
            state(game_id, "in_progress"),
            # aru rock 25 against hog scissors (mitigation 0.2): 25 * 0.8 = 20, 5 exchanges
            *battle_entries(game_id, "host", "guest", "0", "2", 5, "host", "guest"),
        ]

    run(body())


# -- the matchmaker removing things --------------------------------------------------------------


def test_remove_game_during_a_battle_stops_it(stream_url: str, stream: redis.Redis) -> None:
    async def body() -> None:
        async with running_server(stream_url, patient=False) as h:  # the real clock
            game_id, token = await h.new_game("host", "guest")
            async with connected(h.bot(token, "host"), h.bot(token, "guest")) as (host, guest):
                await ready(host)
                await ready(guest)
                await host.wait_for(lambda m: is_round_event(m, 1))  # a weapon countdown
                status, reply = await h.post("/remove_game", {"gameId": game_id})
                assert (status, reply) == (200, {"gameId": game_id, "gameRemoved": True})
                for bot in (host, guest):
                    result = await bot.wait_closed()
                    assert (result.close_code, result.close_reason) == (
                        1000,
                        "This game has been removed.",
                    )
            await h.flush()
            count = len(entries(stream, game_id))
            await asyncio.sleep(TICK * 10)  # a clock still running would write more
            await h.flush()
            assert len(entries(stream, game_id)) == count
            assert await h.post("/remove_game", {"gameId": game_id}) == (200, None)
            async with h.bot(token, "host") as again:
                assert (await again.wait_closed()).close_code == 1000
        got = entries(stream, game_id)
        assert got[-1] == {**HEAD, "game_id": game_id, "type": "game_removed"}
        assert "game_over" not in [e["type"] for e in got]

    run(body())


def test_remove_player_of_a_connected_player(stream_url: str, stream: redis.Redis) -> None:
    async def body() -> None:
        async with running_server(stream_url) as h:
            game_id, token = await h.new_game("host", "guest")
            async with connected(h.bot(token, "host"), h.bot(token, "guest")) as (host, guest):
                status, reply = await h.post(
                    "/remove_player", {"gameId": game_id, "userId": "guest"}
                )
                assert (status, reply) == (200, {"playerRemoved": True, "connectionRemoved": True})
                assert (await guest.wait_closed()).close_code == 1000
                error = await host.wait_for(lambda m: m["type"] == "error")
                assert error["code"] == 4003 and not host.closed
                # the removed player is no longer in the game, and their seat token is forgotten
                status, _ = await h.post("/remove_player", {"gameId": game_id, "userId": "guest"})
                assert status == 404
                async with h.bot(token, "guest") as removed:
                    result = await removed.wait_closed()
                    assert (result.close_code, result.close_reason) == REFUSED
                # a joined but never connected player: removed, no socket to close
                await h.post("/join_game", {"gameId": game_id, "userId": "g2", "username": "G2"})
                g2_seat = h.seat(token, "g2")
                status, reply = await h.post("/remove_player", {"gameId": game_id, "userId": "g2"})
                assert (status, reply) == (200, {"playerRemoved": True, "connectionRemoved": False})
                assert h.server.registry.get(game_id).seats.keys() == {"host"}  # type: ignore[union-attr]
                # joined again (the matchmaker let them back in): a new seat token, the old one
                # is refused
                await h.post("/join_game", {"gameId": game_id, "userId": "g2", "username": "G2"})
                assert h.seat(token, "g2") != g2_seat
                async with h.bot(token, "g2", seat_token=g2_seat) as stale:
                    result = await stale.wait_closed()
                    assert (result.close_code, result.close_reason) == REFUSED
                async with h.bot(token, "g2") as back:
                    await back.wait_for(lambda m: m["type"] == "player_joined")
                    await host.wait_for(
                        lambda m: m["type"] == "player_joined" and m["gameData"]["p2Id"] == "g2"
                    )
                status, reply = await h.post(
                    "/remove_player", {"gameId": game_id, "userId": "host"}
                )
                assert status == 400 and reply["message"]
                assert not host.closed
            await h.flush()
        types = [(e["type"], e.get("player_id")) for e in entries(stream, game_id)]
        assert ("player_disconnect", "guest") in types and ("player_disconnect", "g2") in types

    run(body())


def test_start_battle_twice_runs_one_clock(stream_url: str, stream: redis.Redis) -> None:
    async def body() -> None:
        async with running_server(stream_url) as h:
            game_id, token = await h.new_game("host", "guest")
            async with h.bot(token, "host", "rad", always(PAPER)) as host:
                await host.wait_for(lambda m: m["type"] == "player_joined")
                guest = await h.bot(token, "guest", "mai", always(ROCK)).connect()
                for bot in (host, guest, host, guest):
                    await bot.select_fighter()
                for bot in (host, guest, host, guest, host, guest):
                    await bot.start_battle()
                started = await host.wait_for(lambda m: m["type"] == "RPSGameEvent")
                for bot in (host, guest):
                    await bot.start_battle()
                result = await host.wait_closed(30)
                await guest.aclose()
            assert result.winner_id == "host"
            assert len(host.of_type("RPSGameEvent")) == 2  # started once, complete once
            assert started["eventData"]["type"] == 0
            # every countdown value appears once per countdown: one clock, not two
            values = [
                m["eventData"]["data"]["value"] for m in host.messages if is_round_event(m, 0)
            ]
            assert values == [3, 2, 1, 3, 2, 1]
            assert h.server.metrics.clocks_started._value.get() == 1
            await h.flush()
        names = [e.get("event_name") for e in entries(stream, game_id)]
        assert names.count("set_ready") == 2 and names.count("select_fighter") == 2

    run(body())


# -- bad input -----------------------------------------------------------------------------------


def test_malformed_messages_get_errors_and_never_disturb_another_game(
    stream_url: str, stream: redis.Redis
) -> None:
    async def body() -> None:
        async with running_server(stream_url) as h:
            quiet_id, quiet_token = await h.new_game("q1", "q2")
            noisy_id, noisy_token = await h.new_game("n1", "n2")
            q1 = await h.bot(quiet_token, "q1", "aru", always(PAPER)).connect()
            await q1.wait_for(lambda m: m["type"] == "player_joined")
            q2 = await h.bot(quiet_token, "q2", "hog", always(ROCK)).connect()
            n1 = await h.bot(noisy_token, "n1").connect()
            await n1.wait_for(lambda m: m["type"] == "player_joined")
            await ready(q1)
            await ready(q2)
            bad: list[Any] = [
                "not json",
                "[1, 2]",
                '"text"',
                "42",
                "null",
                {"type": 7},
                {"type": "select_weapon", "index": "1"},
                {"type": "select_weapon", "index": 9},
                '{"type": "select_weapon", "index": 1.0}',
                "[" * 4000,  # deep nesting (under the frame cap): RecursionError, not ValueError
                {"type": "select_fighter", "characterId": ["aru"]},
                {"type": "select_fighter"},
                {"type": "start_battle"},  # no fighter yet
            ]
            for message in bad:
                start = len(n1.messages)
                await n1.send(message)
                error = await n1.wait_for(lambda m: m["type"] == "error", start=start)
                assert isinstance(error["message"], str) and error["code"] in (4400, 4401)
            assert n1._ws is not None
            await n1._ws.send_bytes(b"\x00\x01")
            await n1.wait_for(lambda m: m["type"] == "error" and "JSON" in m["message"])
            start = len(n1.messages)
            await n1.send({"type": "dance", "moves": 3})  # unknown types are ignored
            await barrier(n1)
            assert [m["type"] for m in n1.messages[start:]] == ["error"]  # the barrier's only
            assert not n1.closed
            quiet = await q1.wait_closed(30)
            assert quiet.winner_id == "q1" and quiet.close_reason == "Game over."
            await n1.aclose()
            await q2.aclose()
            await q1.aclose()
            status, _ = await h.get("/healthz")
            assert status == 200
            await h.flush()
        weapons = {e["event_data"] for e in entries(stream, quiet_id) if
                   e.get("event_name") == "select_weapon"}  # fmt: skip
        assert weapons == {"0", "1"}  # nothing but what the players threw
        assert entries(stream, noisy_id)[-1]["type"] == "game_removed"  # host left at the end

    run(body())


def test_control_api_auth_and_validation(stream_url: str, stream: redis.Redis) -> None:
    async def body() -> None:
        async with running_server(stream_url) as h:
            g = {"gameId": "g-api", "userId": "u1", "username": "one"}
            for token in (None, "wrong", ""):
                status, reply = await h.post("/create_game", g, token=token)
                assert status == 401 and isinstance(reply["message"], str)
            async with h.session.post(
                h.control_url + "/create_game", json=g, headers={"Authorization": "Basic x"}
            ) as r:
                assert r.status == 401
            for path in ("/create_game", "/join_game", "/remove_game", "/remove_player"):
                status, reply = await h.post(path, data=b"{not json")
                assert status == 400 and reply == {"message": "Malformed JSON body."}
                status, reply = await h.post(path, data=b"")
                assert status == 400 and "message" in reply
                status, reply = await h.post(path, data=b"[" * 60_000)
                assert status == 400 and reply == {"message": "Malformed JSON body."}
                status, reply = await h.post(path, [1, 2])
                assert status == 400 and "message" in reply
            cases = [
                ({}, "gameId"),
                ({"gameId": "", "userId": "", "username": ""}, "gameId"),
                ({"gameId": 5, "userId": "u", "username": "n"}, "gameId"),
                ({"gameId": "g"}, "userId"),
                ({"gameId": "g", "userId": None, "username": "n"}, "userId"),
                ({"gameId": "g", "userId": "u"}, "username"),
                ({"gameId": "g", "userId": "u", "username": {"a": 1}}, "username"),
            ]
            for path in ("/create_game", "/join_game"):
                for bad, name in cases:
                    status, reply = await h.post(path, bad)
                    assert (status, reply) == (400, {"message": f"Invalid {name} format."})
            status, reply = await h.post("/create_game", g)
            assert status == 200 and re.fullmatch(r"[0-9a-f]{32}", reply["gameToken"])
            assert list(reply) == ["gameToken", "seatToken"]
            assert re.fullmatch(r"[0-9a-f]{32}", reply["seatToken"])
            token, host_seat = reply["gameToken"], reply["seatToken"]
            assert host_seat != token
            status, reply = await h.post("/create_game", g)
            assert status == 400 and reply["message"]
            status, other = await h.post("/create_game", {**g, "gameId": "g-api-2"})
            assert other["gameToken"] != token and other["seatToken"] != host_seat
            status, reply = await h.post("/join_game", {**g, "gameId": "nope"})
            assert status == 400 and reply["message"]
            status, reply = await h.post("/join_game", g)  # the host itself
            assert status == 400
            j = {"gameId": "g-api", "userId": "u2", "username": "two"}
            status, joined = await h.post("/join_game", j)
            assert status == 200 and joined["gameToken"] == token
            assert re.fullmatch(r"[0-9a-f]{32}", joined["seatToken"])
            assert joined["seatToken"] not in (token, host_seat)
            # the same player asking again (still seated): the same answer
            assert await h.post("/join_game", j) == (200, joined)
            status, reply = await h.post("/join_game", {**j, "userId": "u3"})
            assert status == 400 and "full" in reply["message"]
            assert (await h.post("/remove_game", {}))[0] == 400  # fixed: the old server said 500
            assert (await h.post("/remove_game", {"gameId": 3}))[0] == 400
            assert (await h.post("/remove_player", {"gameId": "g-api"}))[0] == 400
            assert (await h.post("/remove_player", {"userId": "u2"}))[0] == 400
            status, reply = await h.post("/remove_player", {"gameId": "nope", "userId": "u2"})
            assert status == 400
            status, reply = await h.post("/remove_player", {"gameId": "g-api", "userId": "zz"})
            assert status == 404 and reply["message"]
            async with h.session.get(h.control_url + "/nowhere") as r:
                assert r.status in (401, 404) and "message" in await r.json()
            status, text = await h.get("/healthz")
            assert status == 200 and '"redis": true' in text
            status, text = await h.get("/metrics")
            assert status == 200
            for name in (
                "game_rps_active_games 2.0",
                "game_rps_connections 0.0",
                "game_rps_events_buffered",
                "game_rps_events_dropped_total 0.0",
                "game_rps_messages_received_total",
            ):
                assert name in text, name
            assert await h.post("/remove_game", {"gameId": "g-api"}) == (
                200,
                {"gameId": "g-api", "gameRemoved": True},
            )
            await h.flush()
        assert entries(stream, "g-api") == [{**HEAD, "game_id": "g-api", "type": "game_removed"}]

    run(body())


def test_control_api_refuses_ids_the_stream_cannot_carry(
    stream_url: str, stream: redis.Redis
) -> None:
    """gameId and userId must keep the stream's id bounds (events.check_id), a username must be
    short encodable text: else 400 {"message"} naming the field, and nothing is created."""

    def raw(game_id: str = '"g"', user_id: str = '"u"', username: str = '"n"') -> bytes:
        # Raw JSON text: Python's json would escape a lone surrogate rather than send one.
        text = f'{{"gameId": {game_id}, "userId": {user_id}, "username": {username}}}'
        return text.encode()

    huge = '"' + "g" * (4 * 1024 * 1024) + '"'  # a 4 MiB id
    refused = [
        (raw(game_id='"\\ud800"'), "gameId is not valid Unicode text"),
        (raw(game_id='"ok\\udfff"'), "gameId is not valid Unicode text"),
        (raw(user_id='"\\ud800"'), "userId is not valid Unicode text"),
        (raw(username='"\\ud800"'), "username is not valid Unicode text"),
        (raw(game_id=huge), "too large"),
        (raw(game_id=f'"{"g" * 129}"'), "gameId is too long (129 bytes, at most 128)"),
        (raw(user_id=f'"{"é" * 65}"'), "userId is too long (130 bytes, at most 128)"),
        (raw(username=f'"{"n" * 65}"'), "username is too long (65 characters, at most 64)"),
        (raw(game_id='"g\\u0000"'), "gameId contains control characters"),
        (raw(game_id='"g\\n1"'), "gameId contains control characters"),
        (raw(user_id='"u\\u007f"'), "userId contains control characters"),
        (raw(user_id='"u\\u0085"'), "userId contains control characters"),
        (raw(username='"a\\tb"'), "username contains control characters"),
        # checked in the spec's order: the first bad field is the one named
        (raw(game_id='"\\ud800"', user_id="5"), "gameId is not valid Unicode text"),
        (raw(game_id='"g"', user_id="5", username='"\\ud800"'), "Invalid userId format."),
    ]

    async def body() -> None:
        async with running_server(stream_url) as h:
            for path in ("/create_game", "/join_game"):
                for data, message in refused:
                    status, reply = await h.post(path, data=data)
                    assert status == 400 and message in reply["message"], (path, data[:80])
                    assert list(reply) == ["message"] and len(reply["message"]) < 200
            for path, data in [
                ("/remove_game", b'{"gameId": "\\ud800"}'),
                ("/remove_game", b'{"gameId": "g\\u0001"}'),
                ("/remove_player", b'{"gameId": "g", "userId": "\\ud800"}'),
                ("/remove_player", ('{"gameId": "%s", "userId": "u"}' % ("g" * 200)).encode()),
            ]:
                status, reply = await h.post(path, data=data)
                assert status == 400 and reply["message"], path
            assert len(h.server.registry) == 0  # nothing was created
            # the bounds themselves are accepted: 128 bytes of id, 64 characters of name
            longest = {"gameId": "g" * 128, "userId": "é" * 64, "username": "ñ" * 64}
            status, reply = await h.post("/create_game", longest)
            assert status == 200, reply
            status, _ = await h.post("/remove_game", {"gameId": "g" * 128})
            assert status == 200
            await h.flush()
        assert entries(stream, "g" * 128) == [
            {**HEAD, "game_id": "g" * 128, "type": "game_removed"}
        ]
        assert stream.xlen("game_event_stream") == 1

    run(body())


BAD_SOCKET_IDS = ("host\x01", "host\nfake=1", "h" * 129)


def test_a_socket_user_id_the_stream_cannot_carry_is_refused(
    stream_url: str, stream: redis.Redis, caplog: Any
) -> None:
    async def body() -> None:
        async with running_server(stream_url) as h:
            _, token = await h.new_game("host", "guest")
            for bad in BAD_SOCKET_IDS:
                async with h.bot(token, bad, seat_token=h.seat(token, "host")) as bot:
                    result = await bot.wait_closed()
                    assert (result.close_code, result.close_reason) == REFUSED
            async with h.bot(token, "host") as host:  # the real host is still welcome
                await host.wait_for(lambda m: m["type"] == "player_joined")

    with caplog.at_level("INFO", logger="game_rps.sockets"):
        run(body())
    refusals = [r for r in caplog.records if r.getMessage() == "socket refused: invalid user id"]
    assert len(refusals) == 3
    for record in refusals:  # the line names the problem, never the raw id
        assert "user_id" not in record.__dict__
        assert not any(bad in str(v) for bad in BAD_SOCKET_IDS for v in record.__dict__.values())


def test_healthz_is_503_while_events_cannot_be_written_and_livez_stays_200(
    stream_url: str, stream: redis.Redis, caplog: Any
) -> None:
    """Redis answers but refuses the writes (here the stream key holds a string: WRONGTYPE, as
    an out-of-memory or read-only Redis would refuse them): past EVENT_WRITE_UNHEALTHY_SECONDS
    /healthz says so with a reason; /livez does not care; both recover with the writes."""
    stream.set("game_event_stream", "not a stream")

    async def health(h: Any) -> tuple[int, dict[str, Any]]:
        status, text = await h.get("/healthz")
        return status, json.loads(text)

    async def body() -> None:
        async with running_server(stream_url, event_write_unhealthy_seconds=0.3) as h:
            assert await health(h) == (
                200,
                {"status": "ok", "redis": True, "games": 0, "events_buffered": 0,
                 "events_unwritten_seconds": 0.0, "events_rejected": 0},
            )  # fmt: skip
            game_id, token = await h.new_game("host", "guest")
            async with h.bot(token, "host") as host:
                await host.wait_for(lambda m: m["type"] == "player_joined")
                loop = asyncio.get_running_loop()
                started = loop.time()
                while (await health(h))[0] == 200:
                    assert loop.time() - started < 10, "never unhealthy"
                    await asyncio.sleep(0.05)
                assert loop.time() - started >= 0.25  # not before the threshold
                status, reply = await health(h)
                assert status == 503 and reply["status"] == "unavailable"
                assert re.fullmatch(
                    r"events cannot be written for \d+\.\d s \(1 buffered, limit 0\.3 s\)",
                    reply["reason"],
                ), reply
                assert reply["redis"] is True and reply["events_buffered"] == 1
                assert await h.get("/livez") == (200, '{"status": "alive"}')
                stream.delete("game_event_stream")  # the writes go through again
                await h.flush()
                assert (await health(h))[0] == 200
            await h.flush()
        assert entries(stream, game_id)[0] == state(game_id, "creator_joined")

    with caplog.at_level("INFO", logger="game_rps.event_log"):
        run(body())
    records = [r for r in caplog.records if r.name == "game_rps.event_log"]
    messages = [r.getMessage() for r in records]
    assert messages == [
        "event stream unavailable, buffering events",
        "event stream available again",
    ]
    assert "WRONGTYPE" in records[0].__dict__["error"] and not records[0].exc_info


def test_healthz_is_503_when_redis_is_unreachable(stream: redis.Redis) -> None:
    async def body() -> None:
        from varcade_workers.testing import free_port

        async with running_server(f"redis://127.0.0.1:{free_port()}/9") as h:
            status, text = await h.get("/healthz")
            assert status == 503 and '"redis": false' in text
            health = json.loads(text)
            assert health["status"] == "unavailable"
            assert health["reason"].startswith("the event stream's Redis is unreachable (")
            # liveness is not about Redis: the process answers, so it is alive
            assert await h.get("/livez") == (200, '{"status": "alive"}')
            probe = h.server._runners[0].app[REDIS_KEY]  # the control app's
            assert probe is not h.server.redis  # not the event log's client, with its retry
            kwargs = probe.connection_pool.connection_kwargs
            assert kwargs["retry"].get_retries() == 0
            assert kwargs["socket_connect_timeout"] == PROBE_TIMEOUT_SECONDS

    run(body())
