"""The whole arcade, end to end, as a player and an operator see it.

Real processes (the `make run` code), a real Redis, short ticks. Players get tokens from the page's
server, create and join games through the matchmaker and play over the game server's WebSocket
with the scripted player of game_rps.bot. The test follows the game in the matchmaker's public
API (not listed while pending, listed, not listed while active, gone: unknown to join), reads the
event stream, and checks the leaderboard and both players' stats.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable
from typing import Any

import aiohttp
from e2e_support import RunningStack
from game_rps.bot import ROCK, SCISSORS, Bot, BotResult, always, is_game_complete, window_opened
from game_rps.engine import REFUSED_REASON

from tools.run.arcade_api import Arcade, ArcadeError, Player
from tools.run.scripted import open_match, poll, seat

TICK_SECONDS = "0.1"
REDIS_DB = 11
STREAM = "game_event_stream"
WEAPON_COUNTERS = {
    "0": "rock_selection_count",
    "1": "paper_selection_count",
    "2": "scissors_selection_count",
    "null": "botch_selection_count",
}


def join_status(arcade: Arcade, player: Player, game_id: str) -> int:
    """What the matchmaker answers to a join: 400 pending/active, 404 gone (only ask then)."""
    try:
        arcade.join_game(player, game_id)
    except ArcadeError as exc:
        return exc.status
    return 200


def gone(arcade: Arcade, stranger: Player, game_id: str) -> bool:
    return not arcade.listed(game_id) and join_status(arcade, stranger, game_id) == 404


def stream_entries(stack: RunningStack, game_id: str) -> list[dict[str, str]]:
    return [f for _, f in stack.redis.xrange(STREAM) if f.get("game_id") == game_id]


def caught_up(stack: RunningStack, group: str) -> bool:
    """The consumer group has been handed every entry and acknowledged them all."""
    last = stack.redis.xrevrange(STREAM, count=1)
    info = {g["name"]: g for g in stack.redis.xinfo_groups(STREAM)}
    return (
        bool(last)
        and group in info
        and (info[group]["last-delivered-id"] == last[0][0] and info[group]["pending"] == 0)
    )


def counters(stats: dict[str, Any]) -> dict[str, int]:
    """The service may answer numbers or (as the old one did) strings."""
    return {key: int(value) for key, value in stats.items()}


def players(arcade: Arcade, *names: str) -> list[Player]:
    suffix = secrets.token_hex(3)
    return [arcade.sign_in(f"{name}-{suffix}") for name in names]


def is_error(code: int) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("type") == "error" and m.get("code") == code


async def knock(
    game: dict[str, Any], user_id: str, seat_token: str | None, session: aiohttp.ClientSession
) -> BotResult:
    """A socket to the game's server as `user_id` with `seat_token`, until the server closes it."""
    target = str(game["target_game_server"])
    base = target if "://" in target else f"ws://{target}"
    async with Bot(base, game["token"], user_id, seat_token, session=session) as bot:
        return await bot.wait_closed()


def refused(result: BotResult) -> bool:
    """Refused like an unknown game token: close 1000 with the one reason, nothing seen."""
    return (result.close_code, result.close_reason, result.messages) == (1000, REFUSED_REASON, [])


def test_a_full_game_through_the_matchmaker(stack: RunningStack) -> None:
    arcade = stack.arcade
    host, guest, stranger = players(arcade, "alice", "bob", "eve")
    assert host.user_id != guest.user_id
    assert arcade.sign_in(host.username).user_id == host.user_id  # same name, same id

    game = arcade.create_game(host)
    game_id = game["game_id"]
    assert game["product_id"] == "exrps"
    assert game["creator_id"] == host.user_id and game["creator_name"] == host.username
    assert game["players"] == [host.user_id]
    assert game["state"] == "created"
    assert game["settings"] == {"num_players": 2}
    assert game["target_game_server"] == stack.config.game_socket_address
    # The host's own seat token (issue 13): its credential on the socket, apart from the game's.
    assert re.fullmatch(r"[0-9a-f]{32}", game["seat_token"]) and game["seat_token"] != game["token"]
    # Pending: not in the lobby, and nobody can join yet.
    assert not arcade.listed(game_id)
    assert join_status(arcade, guest, game_id) == 400

    async def play() -> tuple[Any, Any, dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            # The game token and the host's user id are not enough to take the host's seat.
            assert refused(await knock(game, host.user_id, None, session))
            host_bot = await seat(game, host, session, fighter="aru", strategy=always(ROCK))
            await host_bot.wait_for(lambda m: m.get("type") == "player_joined")
            # Listed once the game server reported the host's connection through the stream.
            await poll(lambda: arcade.listed(game_id), "game listed after the host joined")
            (entry,) = [g for g in arcade.open_games() if g["game_id"] == game_id]
            assert entry["creator_id"] == host.user_id
            assert not {"token", "seat_token", "state", "_last_updated"} & set(entry)

            joined = await asyncio.to_thread(arcade.join_game, guest, game_id)
            assert joined["players"] == [host.user_id, guest.user_id]
            assert joined["token"] == game["token"]
            assert joined["seat_token"] not in (game["seat_token"], None)  # the guest's own
            # Holding the game token (as both players do) seats nobody in the other's place, and
            # the close says nothing about who is seated (the host is: no 4001 for a stranger).
            assert refused(await knock(game, host.user_id, joined["seat_token"], session))
            assert refused(await knock(game, guest.user_id, game["seat_token"], session))
            # Active: out of the lobby, and full.
            assert not arcade.listed(game_id)
            assert join_status(arcade, stranger, game_id) == 400

            guest_bot = await seat(joined, guest, session, fighter="mai", strategy=always(SCISSORS))
            host_result, guest_result = await asyncio.gather(host_bot.play(), guest_bot.play())
            return host_result, guest_result, joined

    host_result, guest_result, _ = asyncio.run(play())
    winner, loser = host_result.winner_id, host_result.loser_id
    assert winner is not None, f"no game complete event; host saw {host_result.messages[-5:]}"
    assert (guest_result.winner_id, guest_result.loser_id) == (winner, loser)
    assert {winner, loser} == {host.user_id, guest.user_id}
    # The server ends a finished game: both sockets closed by it.
    assert host_result.close_code is not None and guest_result.close_code is not None

    # Gone from the matchmaker once the game server said it was removed.
    asyncio.run(poll(lambda: gone(arcade, stranger, game_id), "game gone after the end"))

    # The stream: what the game server wrote, in order, with the spec's fields.
    entries = stream_entries(stack, game_id)
    for fields in entries:
        assert list(fields)[:3] == ["product_id", "game_id", "type"]
        assert fields["product_id"] == "exrps"
    states = [f["new_state"] for f in entries if f["type"] == "state_change"]
    assert states[:2] == ["creator_joined", "all_players_joined"]
    assert set(states) <= {"creator_joined", "all_players_joined", "in_progress", "ended"}
    gameplay = [f for f in entries if f["type"] == "gameplay"]
    fighters = {
        f["user_id"]: f["event_data"] for f in gameplay if f["event_name"] == "select_fighter"
    }
    assert fighters == {host.user_id: "aru", guest.user_id: "mai"}
    ready = [f["user_id"] for f in gameplay if f["event_name"] == "set_ready"]
    assert sorted(ready) == sorted([host.user_id, guest.user_id])
    picks = [
        (f["user_id"], f["event_data"]) for f in gameplay if f["event_name"] == "select_weapon"
    ]
    assert picks and len(picks) % 2 == 0
    assert {u for u, _ in picks[0::2]} == {host.user_id}  # player 1 first in every exchange
    assert {u for u, _ in picks[1::2]} == {guest.user_id}
    assert {w for _, w in picks} <= set(WEAPON_COUNTERS)
    progress = [f for f in gameplay if f["event_name"] == "progression"]
    started = [f for f in progress if f["progress_event"] == "round_started"]
    finished = [f for f in progress if f["progress_event"] == "round_finished"]
    assert len(started) == len(finished) in (2, 3)
    assert [f["round_winner_id"] for f in finished].count(winner) == 2
    assert all((f["p1_id"], f["p2_id"]) == (host.user_id, guest.user_id) for f in progress)
    (over,) = [f for f in entries if f["type"] == "game_over"]
    assert (over["winner_id"], over["loser_id"]) == (winner, loser)
    assert entries[-1]["type"] == "game_removed"
    assert entries.index(over) < len(entries) - 1
    if {w for u, w in picks if u == host.user_id} == {"0"} and {
        w for u, w in picks if u == guest.user_id
    } == {"2"}:
        assert winner == host.user_id  # rock beats scissors, every exchange

    # Stats and leaderboard, from the stream through the stats worker.
    asyncio.run(
        poll(lambda: counters(arcade.stats(winner))["games"] == 1, "winner's stats updated")
    )
    asyncio.run(poll(lambda: counters(arcade.stats(loser))["games"] == 1, "loser's stats updated"))
    for user, wins in ((winner, 1), (loser, 0)):
        stats = counters(arcade.stats(user))
        assert (stats["games"], stats["wins"], stats["losses"]) == (1, wins, 1 - wins)
        thrown = [w for u, w in picks if u == user]
        for code, counter in WEAPON_COUNTERS.items():
            assert stats[counter] == thrown.count(code), counter
    top = arcade.top_ten()
    assert [e["user_id"] for e in top] == [winner, loser]
    assert [float(e["score"]) for e in top] == [1.0, 0.0]
    assert counters(arcade.stats(stranger.user_id))["games"] == 0


def test_second_player_leaves_a_third_joins_then_the_host_leaves(stack: RunningStack) -> None:
    arcade = stack.arcade
    host, guest, third, stranger = players(arcade, "carol", "dave", "frank", "mallory")

    async def scenario() -> str:
        async with aiohttp.ClientSession() as session:
            # Created, the host seated, listed in the lobby, the guest joined and seated.
            match = await open_match(
                arcade, session, host, guest, strategies=(always(ROCK), always(SCISSORS))
            )
            game_id, host_bot, guest_bot = match.game_id, match.host, match.guest
            for bot in (host_bot, guest_bot):
                await bot.select_fighter()
                await bot.start_battle()

            # Mid-game: the first weapon window is open. The second player leaves.
            await host_bot.wait_for(window_opened, timeout=30)
            await guest_bot.leave()
            left_seat = match.joined["seat_token"]
            mark = len(host_bot.messages)
            await host_bot.wait_for(is_error(4003), timeout=15)
            assert not host_bot.closed  # the host stays
            await poll(lambda: arcade.listed(game_id), "listed again after the guest left")
            disconnects = [
                f for f in stream_entries(stack, game_id) if f["type"] == "player_disconnect"
            ]
            assert [f["player_id"] for f in disconnects] == [guest.user_id]

            # A third player joins through the matchmaker; the battle restarts from round 1.
            rejoined = await asyncio.to_thread(arcade.join_game, third, game_id)
            assert rejoined["players"] == [host.user_id, third.user_id]
            assert not arcade.listed(game_id)
            assert rejoined["seat_token"] != left_seat
            # The player who left keeps the game token and their old seat token: neither seats
            # them again, as themselves or as the newcomer.
            for user_id in (guest.user_id, third.user_id):
                assert refused(await knock(rejoined, user_id, left_seat, session))
            third_bot = await seat(
                rejoined, third, session, fighter="hog", strategy=always(SCISSORS)
            )
            await third_bot.select_fighter()
            await third_bot.start_battle()
            joined_msg = await host_bot.wait_for(
                lambda m: (
                    m.get("type") == "player_joined" and m["gameData"].get("p2Id") == third.user_id
                ),
                start=mark,
            )
            assert joined_msg["gameData"]["p1Id"] == host.user_id
            restarted = await host_bot.wait_for(
                lambda m: m.get("type") == "RPSGameEvent" and m["eventData"]["type"] == 0,
                start=mark,
                timeout=15,
            )
            # (identity: the first battle's "game started" message is an equal dict)
            after = next(i for i, m in enumerate(host_bot.messages) if m is restarted)
            sync = await host_bot.wait_for(lambda m: m.get("type") == "sync", start=after)
            assert (sync["gameData"]["p1Health"], sync["gameData"]["p2Health"]) == (100, 100)
            await third_bot.wait_for(window_opened, timeout=30)
            states = [
                f["new_state"]
                for f in stream_entries(stack, game_id)
                if f["type"] == "state_change"
            ]
            assert states.count("all_players_joined") == 2  # again after the rejoin
            assert await asyncio.to_thread(join_status, arcade, stranger, game_id) == 400

            # The host leaves: the game is removed; the other player is told and closed.
            await host_bot.leave()
            result = await third_bot.wait_closed(timeout=15)
            assert any(is_error(4002)(m) for m in result.messages)
            assert result.close_code == 1000
            assert not any(is_game_complete(m) for m in result.messages)
            await poll(lambda: gone(arcade, stranger, game_id), "game gone after host left")
            return game_id

    game_id = asyncio.run(scenario())
    asyncio.run(poll(lambda: caught_up(stack, "stats_tracker"), "stats worker caught up"))
    entries = stream_entries(stack, game_id)
    assert entries[-1]["type"] == "game_removed"
    assert not [f for f in entries if f["type"] == "game_over"]
    # An abandoned game counts for nobody.
    for player in (host, guest, third):
        assert counters(arcade.stats(player.user_id))["games"] == 0
