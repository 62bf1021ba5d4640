"""The WebSocket fuzzer: hostile frames on seated sockets of live games, each answer compared with
what the player protocol says (game_rps/README.md, "Player protocol" and "Floods").

Every fuzzed socket holds a real seat: its player signs in (`/dev/token`), creates a game through
the matchmaker (the host's `seat_token`) or joins one whose host is connected (the second seat's);
half the games fuzz the host's socket, half the second player's. A socket gets `batches` batches of
frames; each batch ends with a probe (`}`, malformed: answered with error 4400), so the answers to
the batch are exactly the messages before the probe's. What each frame must get comes from a model
of the protocol (`expected`): malformed JSON, a non-object or a non-string type -> error 4400;
a bad fighter, a bad weapon index, start_battle without a fighter -> error 4401; a valid fighter
-> the player's own select_fighter; an unknown type or a valid pick outside a battle -> nothing;
a binary frame -> error 4400. Pings (not rate-limited: control frames) go between batches.

Each socket then ends one way (in turn): a text or binary frame over WS_MAX_MESSAGE_BYTES (close
1009), a text frame that is not UTF-8 (close 1007), a flood past WS_MESSAGE_BURST (error "too many
messages" 1008, then close 1008), or the player leaving (1000). Connect lines that must be refused
(no token, a wrong seat token, someone else's user id, an id outside the stream's bounds; close
1000 with the one refusal reason) and a plain HTTP request (400 JSON) are tried too.

Meanwhile `quiet_games` games play to the end (two scripted players through the matchmaker), and
at the end a quiet game's round trip is measured while `flooders` sockets flood, with
game_rps/tests/flood.py (its median and p95 are printed; the goal is a median under 50 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import random
import string
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from game_rps.engine import REFUSED_REASON
from game_rps.fighters import FIGHTERS

from tools.chaos import ROOT
from tools.run.arcade_api import Arcade, Player, socket_base
from tools.run.scripted import open_match, poll, random_strategy

MAX_FRAME = 4096  # WS_MAX_MESSAGE_BYTES (kept at its default for the run)
MALFORMED, INVALID = 4400, 4401
PROBE = "}"
Message = dict[str, Any]
_T = TypeVar("_T")
Expected = tuple[str, Any]  # ("error", code) or ("fighter", character id)
ENDINGS = ("oversize_text", "oversize_binary", "not_utf8", "flood", "leave")
ROUND_TRIP_GOAL_MS = 50.0


def _flood_module() -> Any:
    """game_rps/tests/flood.py, the flood-and-measure helper of the game's tests (not a package)."""
    path = ROOT / "game_rps" / "tests" / "flood.py"
    spec = importlib.util.spec_from_file_location("game_rps_flood", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


# -- the protocol's model -------------------------------------------------------------------------


@dataclass
class SeatState:
    """What the server knows of the fuzzed player (no battle ever starts: the opponent never
    picks a fighter)."""

    fighter: str | None = None
    ready: bool = False


def expected(frame: str | bytes, state: SeatState) -> list[Expected]:
    """What the server answers one frame, as the protocol says (and updates `state`)."""
    if isinstance(frame, bytes):
        return [("error", MALFORMED)]
    try:
        message = json.loads(frame)
    except (ValueError, RecursionError):
        return [("error", MALFORMED)]
    kind = message.get("type") if isinstance(message, dict) else None
    if not isinstance(kind, str):
        return [("error", MALFORMED)]
    if kind == "select_fighter":
        character = message.get("characterId")
        if not isinstance(character, str) or character not in FIGHTERS:
            return [("error", INVALID)]
        if state.ready:
            return []
        state.fighter = character
        return [("fighter", character)]
    if kind == "start_battle":
        if state.fighter is None:
            return [("error", INVALID)]
        state.ready = True
        return []
    if kind == "select_weapon":
        index = message.get("index")
        if type(index) is not int or index not in (0, 1, 2):
            return [("error", INVALID)]
        return []
    return []  # an unknown type is ignored


def _not_json_text(frame: str | bytes) -> bool:
    """A frame the server answers "Malformed message: expected JSON text." (binary included)."""
    if isinstance(frame, bytes):
        return True
    try:
        json.loads(frame)
    except (ValueError, RecursionError):
        return True
    return False


def _is_not_json_error(message: Message) -> bool:
    return (
        message.get("type") == "error"
        and message.get("code") == MALFORMED
        and "expected JSON text" in str(message.get("message"))
    )


def observed(message: Message, user_id: str) -> Expected | None:
    """A received message as an `Expected`; None when it is not one a frame can cause."""
    if message.get("type") == "error":
        return ("error", message.get("code"))
    if message.get("type") == "select_fighter":
        data = message.get("gameData") or {}
        if data.get("playerId") == user_id:
            return ("fighter", data.get("selectedCharacterId"))
    return None


# -- frames ---------------------------------------------------------------------------------------

KNOWN_TYPES = ("select_fighter", "start_battle", "select_weapon")
ODD_STRINGS = (
    "", " ", "aru ", "ARU", "\u202earu", "a\u0000ru", "\ud800", "\U0001f600", "null", "0",
    "x" * 300,
    "select_weapon", "<script>", "../../etc/passwd", "%00", "\\", '"', "é" * 50,
)  # fmt: skip


class Frames:
    """Seeded hostile frames (text or binary), each at most MAX_FRAME bytes."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def value(self, depth: int = 0) -> Any:
        """A random JSON value (Python's json accepts NaN and Infinity: so does the server)."""
        r = self.rng
        choice = r.randrange(11 if depth < 3 else 7)
        if choice == 0:
            return None
        if choice == 1:
            return r.choice((True, False))
        if choice == 2:
            return r.choice((0, 1, 2, 3, -1, 7, 2**31, 2**64, -(2**70)))
        if choice == 3:
            return r.choice((1.0, 0.5, -0.0, 1e308, 2.0000001, float("nan"), float("inf")))
        if choice in (4, 5):
            return r.choice(ODD_STRINGS)
        if choice == 6:
            return r.choice(list(FIGHTERS))
        if choice in (7, 8):
            return [self.value(depth + 1) for _ in range(r.randrange(4))]
        keys = [*KNOWN_TYPES, "type", "index", "characterId", r.choice(ODD_STRINGS)]
        return {r.choice(keys): self.value(depth + 1) for _ in range(r.randrange(4))}

    def message(self) -> str:
        r = self.rng
        kind = r.randrange(12)
        if kind == 0:  # broken JSON
            good = json.dumps({"type": r.choice(KNOWN_TYPES), "index": 1})
            return r.choice(
                (
                    good[: r.randrange(len(good))],
                    good.replace('"', "'"),
                    good[:-1] + ",}",
                    "".join(r.choice(string.printable) for _ in range(r.randrange(1, 60))),
                    "[" * r.randrange(900, 2000),  # deeper than the parser's recursion limit
                    "1" * 4090,  # an integer of more digits than Python converts
                    '{"type": "select_weapon", "index": 1',
                    "",
                    "nul",
                )
            )
        if kind == 1:  # not an object, or a type that is not a string
            return json.dumps(r.choice((self.value(), {"type": self.value()})))
        if kind == 2:  # an unknown type
            return json.dumps({"type": r.choice((*ODD_STRINGS, "teleport", "SELECT_WEAPON"))})
        if kind in (3, 4):  # a fighter, right or wrong
            return json.dumps({"type": "select_fighter", "characterId": self.value()})
        if kind in (5, 6):  # a weapon, right or wrong
            return json.dumps({"type": "select_weapon", "index": self.value()})
        if kind == 7:
            return json.dumps(
                {"type": "start_battle", **({"x": self.value()} if r.random() < 0.5 else {})}
            )
        if kind == 8:  # a message as big as a frame may be (answered like any other)
            pad = MAX_FRAME - len('{"type":"select_weapon","index":9,"p":""}')
            return json.dumps(
                {"type": "select_weapon", "index": 9, "p": "x" * pad}, separators=(",", ":")
            )
        return json.dumps(self.value())

    def frame(self) -> str | bytes:
        if self.rng.random() < 0.1:
            return bytes(self.rng.getrandbits(8) for _ in range(self.rng.randrange(1, 64)))
        text = self.message()
        if len(text.encode("utf-8")) > MAX_FRAME:
            return PROBE  # (never: kept within the limit)
        return text


# -- a raw seat -----------------------------------------------------------------------------------


class Seat:
    """One player's socket, read by its own task; frames sent as they are given."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, user_id: str) -> None:
        self.ws = ws
        self.user_id = user_id
        self.messages: list[Message] = []
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                msg = await self.ws.receive()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self.messages.append(json.loads(msg.data))
                    self._changed.set()
                elif msg.type == aiohttp.WSMsgType.CLOSE:
                    self.close_code, self.close_reason = msg.data, msg.extra or ""
                    break
                elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break
        finally:
            if self.close_code is None:
                self.close_code = self.ws.close_code
            self.closed.set()
            self._changed.set()

    async def wait_for(
        self, predicate: Callable[[Message], bool], start: int, timeout: float
    ) -> int:
        """The index of the first message from `start` matching `predicate` (waiting)."""

        def first() -> int | None:
            for index in range(start, len(self.messages)):
                if predicate(self.messages[index]):
                    return index
            return None

        return await self._wait_until(first, timeout)

    async def wait_count(
        self, predicate: Callable[[Message], bool], start: int, count: int, timeout: float
    ) -> None:
        """Wait until `count` messages from `start` match `predicate`."""

        def enough() -> bool | None:
            return sum(1 for m in self.messages[start:] if predicate(m)) >= count or None

        await self._wait_until(enough, timeout)

    async def _wait_until(self, found: Callable[[], _T | None], timeout: float) -> _T:
        """`found()` once it is not None, checked at each new message; ConnectionError if the
        socket closes first, TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while (result := found()) is None:
            if self.closed.is_set():
                raise ConnectionError(f"closed ({self.close_code} {self.close_reason!r})")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer")
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return result

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.close_code

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


# -- the report -----------------------------------------------------------------------------------


@dataclass
class WsReport:
    games: int = 0
    frames: int = 0  # frames sent on fuzzed sockets (probes included, pings not)
    pings: int = 0
    answers_checked: int = 0  # frames whose answer was compared with the protocol's
    mismatches: Counter[str] = field(default_factory=Counter)  # what differed -> times
    internal_errors: int = 0  # `error` messages with code 1011 (a bug handling a message)
    endings: Counter[str] = field(default_factory=Counter)  # "<ending> -> close <code>"
    refusals: int = 0  # connect lines that had to be refused
    quiet_done: int = 0  # quiet games played to "Game over."
    quiet_total: int = 0
    round_trip_median_ms: float | None = None
    round_trip_p95_ms: float | None = None
    flood_summary: str = ""
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def protocol_breaks(self) -> int:
        return sum(self.mismatches.values())

    def note(self, what: str) -> None:
        self.mismatches[what[:300]] += 1


# -- the fuzzer -----------------------------------------------------------------------------------


@dataclass
class WsFuzz:
    arcade: Arcade
    control_url: str
    ws_url: str
    service_token: str
    run_seed: int
    games: int
    batches: int
    batch_frames: int
    quiet_games: int
    flooders: int
    probes: int
    say: Callable[[str], None] = print
    report: WsReport = field(default_factory=WsReport)

    async def run(self) -> WsReport:
        started = time.monotonic()
        rng = random.Random(f"{self.run_seed}:ws")
        async with aiohttp.ClientSession() as session:
            players = [await self._sign_in(f"ws fuzz {n}") for n in range(4)]
            quiet_arcade = Arcade(
                self.arcade.page_url, self.arcade.matchmaker_url, self.arcade.stats_url
            )  # its own HTTP session: the quiet games call from other threads
            quiet = asyncio.get_running_loop().create_task(self._quiet_games(session, quiet_arcade))
            try:
                await self._refusals(session, players)
                for n in range(self.games):
                    ending = ENDINGS[n % len(ENDINGS)]
                    as_guest = n % 2 == 1
                    try:
                        await self._fuzz_game(session, players, rng, ending, as_guest)
                    except Exception as exc:
                        self.report.errors.append(f"game {n}: {type(exc).__name__}: {exc}")
                    if n % 10 == 9:
                        self.say(
                            f"ws: {n + 1}/{self.games} games fuzzed, {self.report.frames} frames"
                        )
            finally:
                await quiet
                quiet_arcade.http.close()
            await self._measure()
        self.report.seconds = time.monotonic() - started
        return self.report

    async def _sign_in(self, name: str) -> Player:
        return await asyncio.to_thread(self.arcade.sign_in, name)

    async def _connect(
        self, session: aiohttp.ClientSession, base: str, query: dict[str, str], user_id: str
    ) -> Seat:
        url = f"{base}/?" + "&".join(f"{k}={_quote(v)}" for k, v in query.items())
        ws = await session.ws_connect(url, autoclose=True, autoping=True, max_msg_size=0)
        return Seat(ws, user_id)

    async def _host_seat(
        self, session: aiohttp.ClientSession, host: Player
    ) -> tuple[dict[str, Any], Seat]:
        game = await asyncio.to_thread(self.arcade.create_game, host)
        query = {
            "game_token": game["token"],
            "user_id": host.user_id,
            "seat_token": game["seat_token"],
        }
        seat = await self._connect(session, socket_base(game), query, host.user_id)
        await seat.wait_for(lambda m: m.get("type") == "player_joined", 0, 10)
        return game, seat

    async def _fuzz_game(
        self,
        session: aiohttp.ClientSession,
        players: list[Player],
        rng: random.Random,
        ending: str,
        as_guest: bool,
    ) -> None:
        host, guest = rng.sample(players, 2)
        game, host_seat = await self._host_seat(session, host)
        seats = [host_seat]
        fuzzed = host_seat
        try:
            if as_guest:
                game_id = game["game_id"]
                await poll(lambda: self.arcade.listed(game_id), "the game listed", timeout=20)
                joined = await asyncio.to_thread(self.arcade.join_game, guest, game_id)
                query = {"game_token": joined["token"], "user_id": guest.user_id,
                         "seat_token": joined["seat_token"]}  # fmt: skip
                fuzzed = await self._connect(session, socket_base(joined), query, guest.user_id)
                seats.append(fuzzed)
                await fuzzed.wait_for(lambda m: m.get("type") == "player_joined", 0, 10)
            self.report.games += 1
            state = SeatState()
            frames = Frames(rng)
            for _ in range(self.batches):
                await self._batch(fuzzed, [frames.frame() for _ in range(self.batch_frames)], state)
                await self._pings(fuzzed, rng.randrange(20, 200))
            await self._end(fuzzed, ending, rng)
        finally:
            for seat in seats:
                await seat.aclose()

    async def _batch(self, seat: Seat, frames: list[str | bytes], state: SeatState) -> None:
        start = len(seat.messages)
        want: list[Expected] = []
        try:
            for frame in frames:
                want += expected(frame, state)
                if isinstance(frame, bytes):
                    await seat.ws.send_bytes(frame)
                else:
                    await seat.ws.send_str(frame)
            await seat.ws.send_str(PROBE)
        except (ConnectionError, RuntimeError, aiohttp.ClientError) as exc:
            self.report.note(f"socket closed during a batch ({seat.close_code}): {exc}")
            return
        want.append(("error", MALFORMED))  # the probe's
        self.report.frames += len(frames) + 1
        # Frames that are not JSON text get the probe's very answer: the batch is answered once
        # that many (and the probe's) have come; the socket answers in order.
        not_json = 1 + sum(1 for frame in frames if _not_json_text(frame))
        try:
            await seat.wait_count(_is_not_json_error, start, not_json, 15)
        except (ConnectionError, TimeoutError) as exc:
            self.report.note(f"batch not answered: {exc}")
            return
        got: list[Expected] = []
        for message in seat.messages[start:]:
            if message.get("type") == "error" and message.get("code") == 1011:
                self.report.internal_errors += 1
            item = observed(message, seat.user_id)
            if item is not None:
                got.append(item)
        self.report.answers_checked += len(frames)
        if got != want:
            self.report.note(f"answers {got[:12]} where the protocol says {want[:12]}")

    async def _pings(self, seat: Seat, count: int) -> None:
        for _ in range(count):
            await seat.ws.ping()
        self.report.pings += count

    async def _end(self, seat: Seat, ending: str, rng: random.Random) -> None:
        start = len(seat.messages)
        # An oversized frame: the server refuses it at its header (close 1009) and closes the
        # connection while the rest is still coming, so TCP may reset it before the client reads
        # the close frame (1006): either way the socket is gone and nothing was read.
        wanted: tuple[int | None, ...]
        if ending == "oversize_text":
            await seat.ws.send_str("x" * rng.randrange(MAX_FRAME + 1, 256 * 1024))
            wanted = (1009, 1006)
        elif ending == "oversize_binary":
            await seat.ws.send_bytes(b"\0" * rng.randrange(MAX_FRAME + 1, 256 * 1024))
            wanted = (1009, 1006)
        elif ending == "not_utf8":
            await seat.ws.send_frame(b'{"type": "\xff\xfe"}', aiohttp.WSMsgType.TEXT)
            wanted = (1007,)
        elif ending == "flood":
            frame = '{"type":"select_weapon","index":1}'
            for _ in range(2000):
                if seat.closed.is_set():
                    break
                try:
                    await seat.ws.send_str(frame)
                except (ConnectionError, RuntimeError, aiohttp.ClientError):
                    break
                self.report.frames += 1
            wanted = (1008,)
        else:
            await seat.ws.close()
            wanted = (1000,)
        try:
            code = await seat.wait_closed(15)
        except asyncio.TimeoutError:
            code = None
        self.report.endings[f"{ending} -> close {code}"] += 1
        if code not in wanted:
            self.report.note(f"{ending}: closed with {code} ({seat.close_reason!r}), not {wanted}")
        if ending == "flood":
            last = seat.messages[-1] if len(seat.messages) > start else {}
            if (last.get("message"), last.get("code")) != ("too many messages", 1008):
                self.report.note(f"flood: last message {last!r}, not the 'too many messages' error")

    async def _refusals(self, session: aiohttp.ClientSession, players: list[Player]) -> None:
        host = players[0]
        game, seat = await self._host_seat(session, host)
        base = socket_base(game)
        token, own_seat = game["token"], game["seat_token"]

        def line(game_token: str, user_id: str, seat_token: str | None) -> dict[str, str]:
            out = {"game_token": game_token, "user_id": user_id}
            return out if seat_token is None else {**out, "seat_token": seat_token}

        lines = {
            "nothing": {},
            "unknown game token": line("0" * 32, host.user_id, own_seat),
            "no seat token": line(token, host.user_id, None),
            "a wrong seat token": line(token, host.user_id, "f" * 32),
            "someone else's user id": line(token, players[1].user_id, own_seat),
            "an id over 128 bytes": line(token, "u" * 129, own_seat),
            "an id with a control character": line(token, "a\nb", own_seat),
        }
        try:
            for what, query in lines.items():
                refused = await self._connect(session, base, query, query.get("user_id", ""))
                try:
                    code = await refused.wait_closed(10)
                except asyncio.TimeoutError:
                    code = None
                self.report.refusals += 1
                if (code, refused.close_reason) != (1000, REFUSED_REASON) or refused.messages:
                    self.report.note(f"connect with {what}: {code} {refused.close_reason!r}")
                await refused.aclose()
            async with session.get(base.replace("ws://", "http://") + "/") as plain:
                body = await plain.json(content_type=None)
                self.report.refusals += 1
                if plain.status != 400 or not isinstance(body, dict) or "message" not in body:
                    self.report.note(f"plain HTTP on the socket port: {plain.status} {body!r}")
            if seat.closed.is_set():
                self.report.note("the host's socket was closed by someone else's refused connect")
        finally:
            await seat.aclose()

    async def _quiet_games(self, session: aiohttp.ClientSession, arcade: Arcade) -> None:
        """Games played to the end through the matchmaker while the fuzzing goes on."""
        self.report.quiet_total = self.quiet_games
        for n in range(self.quiet_games):
            host = await asyncio.to_thread(arcade.sign_in, f"quiet host {n}")
            guest = await asyncio.to_thread(arcade.sign_in, f"quiet guest {n}")
            try:
                match = await open_match(
                    arcade, session, host, guest,
                    strategies=(random_strategy(self.run_seed + n), random_strategy(n)),
                )  # fmt: skip
                results = await asyncio.gather(match.host.play(120), match.guest.play(120))
                await match.host.aclose()
                await match.guest.aclose()
            except Exception as exc:
                self.report.note(f"quiet game {n}: {type(exc).__name__}: {exc}")
                continue
            over = all((r.close_code, r.close_reason) == (1000, "Game over.") for r in results)
            if over and results[0].winner_id:
                self.report.quiet_done += 1
            else:
                self.report.note(
                    f"quiet game {n} ended {[(r.close_code, r.close_reason) for r in results]}"
                )

    async def _measure(self) -> None:
        try:
            flood = _flood_module()
            report = await flood.flood_and_measure(
                self.control_url, self.ws_url, self.service_token,
                flooders=self.flooders, probes=self.probes, interval=0.05,
            )  # fmt: skip
        except Exception as exc:
            self.report.errors.append(f"round trip under flood: {type(exc).__name__}: {exc}")
            return
        self.report.round_trip_median_ms = report.median_ms
        self.report.round_trip_p95_ms = report.p95_ms
        self.report.flood_summary = report.summary()


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
