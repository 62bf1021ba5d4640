"""The game event stream's entries as code: the one place where field names and encodings are
spelled.

The game server builds events and publishes them with :class:`EventProducer` (or, being asyncio,
with :meth:`EventProducer.xadd_args` and its own client); consumers call :func:`parse_event` on an
entry's fields and get a typed, validated event back, or :class:`MalformedEvent` (a
:class:`~varcade_workers.DeadLetter`: retrying a malformed entry cannot help). Types and gameplay
event names this version does not know come back as :class:`UnknownEvent`, which consumers ignore
(the spec requires it, so that producers can evolve first).

Example::

    producer = EventProducer(redis.Redis.from_url(url))
    producer.publish(GameOver("exrps", game_id, winner_id="u1", loser_id="u2"))

    event = parse_event(fields)            # fields: dict[str, str] read from the stream
    if isinstance(event, GameOver):
        ...
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeAlias, TypeVar, overload

from varcade_workers.errors import DeadLetter

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = [
    "ALL_PLAYERS_JOINED",
    "CREATED",
    "CREATOR_JOINED",
    "DEFAULT_MAXLEN",
    "ENDED",
    "EVENT_TYPES",
    "GAMEPLAY",
    "GAME_OVER",
    "GAME_REMOVED",
    "GAME_STATES",
    "IN_PROGRESS",
    "MAX_FIELDS",
    "MAX_FIELD_BYTES",
    "MAX_ID_BYTES",
    "PAPER",
    "PLAYER_DISCONNECT",
    "PROGRESSION",
    "REPLAY_FIELDS",
    "REPLAY_GROUP",
    "REPLAY_OF",
    "REPLAY_TOKEN",
    "ROCK",
    "ROUND_FINISHED",
    "ROUND_STARTED",
    "SCISSORS",
    "SELECT_FIGHTER",
    "SELECT_WEAPON",
    "SEQ",
    "SET_READY",
    "STATE_CHANGE",
    "STREAM",
    "WEAPONS",
    "Event",
    "EventProducer",
    "FighterSelected",
    "GameOver",
    "GameRemoved",
    "MalformedEvent",
    "PlayerDisconnect",
    "PlayerReady",
    "RoundFinished",
    "RoundStarted",
    "StateChange",
    "UnknownEvent",
    "WeaponSelected",
    "check_fields",
    "check_id",
    "decode_weapon",
    "encode_weapon",
    "parse_event",
    "xadd_args",
]

STREAM: Final = "game_event_stream"
DEFAULT_MAXLEN: Final = 1_000_000

# Entry types (the `type` field).
STATE_CHANGE: Final = "state_change"
GAMEPLAY: Final = "gameplay"
GAME_OVER: Final = "game_over"
PLAYER_DISCONNECT: Final = "player_disconnect"
GAME_REMOVED: Final = "game_removed"
EVENT_TYPES: Final = (STATE_CHANGE, GAMEPLAY, GAME_OVER, PLAYER_DISCONNECT, GAME_REMOVED)

# Game states (the `new_state` field), in lifecycle order.
CREATED: Final = "created"
CREATOR_JOINED: Final = "creator_joined"
ALL_PLAYERS_JOINED: Final = "all_players_joined"
IN_PROGRESS: Final = "in_progress"
ENDED: Final = "ended"
GAME_STATES: Final = (CREATED, CREATOR_JOINED, ALL_PLAYERS_JOINED, IN_PROGRESS, ENDED)

# Gameplay event names (the `event_name` field) and progression events (`progress_event`).
SELECT_FIGHTER: Final = "select_fighter"
SET_READY: Final = "set_ready"
SELECT_WEAPON: Final = "select_weapon"
PROGRESSION: Final = "progression"
ROUND_STARTED: Final = "round_started"
ROUND_FINISHED: Final = "round_finished"

# Delivery metadata a dead-letter replay (`python -m varcade_workers dead-letters replay`) appends
# to an entry: its original id and the consumer group it is meant for. Not event fields: the stream
# worker strips them (and skips a replay meant for another group), parse_event ignores them.
REPLAY_OF: Final = "_replay_of"
REPLAY_GROUP: Final = "_replay_group"
REPLAY_FIELDS: Final = (REPLAY_OF, REPLAY_GROUP)
#: The proof that the dead-letters tool made a replay (`varcade_workers.replays`, which also lists
#: every reserved replay field). Never an event field either.
REPLAY_TOKEN: Final = "_replay_token"

#: The per-game sequence number (additive field of the contract): 1 for a game's first event on its
#: game server, one more for each following event of that game, whatever its type. Consumers that
#: care about a game's order compare it with the last one they applied; entries without it (older
#: producers) carry no order information beyond their stream position.
SEQ: Final = "seq"
_MAX_SEQ: Final = 2**53  # exact in JSON numbers and Lua doubles

_NOT_EXTRA_FIELDS: Final = frozenset(
    ("product_id", "game_id", "type", SEQ, *REPLAY_FIELDS, REPLAY_TOKEN)
)

# Size bounds of an entry, checked where events are produced (ValueError) and where they are
# parsed (MalformedEvent): an id travels into Redis keys, sorted-set members, logs and pages, so it
# is short text without control characters; other values stay small; an entry has few fields.
#: Longest id (``product_id``, ``game_id`` and every field named ``*_id``), in UTF-8 bytes.
MAX_ID_BYTES: Final = 128
#: Longest value of any other field, and of a field name, in UTF-8 bytes.
MAX_FIELD_BYTES: Final = 1024
#: Most fields in one entry.
MAX_FIELDS: Final = 32
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# Weapons (the `event_data` of select_weapon); a botch (no valid pick) is None, written "null".
ROCK: Final = 0
PAPER: Final = 1
SCISSORS: Final = 2
WEAPONS: Final = (ROCK, PAPER, SCISSORS)
_BOTCH: Final = "null"
_WEAPON_TEXT: Final[dict[int | None, str]] = {ROCK: "0", PAPER: "1", SCISSORS: "2", None: _BOTCH}
_TEXT_WEAPON: Final[dict[str, int | None]] = {text: w for w, text in _WEAPON_TEXT.items()}


class MalformedEvent(DeadLetter, ValueError):
    """A missing or malformed field: retrying cannot fix the entry, so it is dead-lettered."""


def _is_id_field(name: str) -> bool:
    return name.endswith("_id")


def _utf8_size(value: str, what: str) -> int:
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode text (lone surrogate)") from None


def check_id(value: object, what: str = "id") -> str:
    """``value`` if it is an id the stream can carry, else ValueError naming ``what``.

    An id is non-empty text of at most :data:`MAX_ID_BYTES` UTF-8 bytes, encodable (no lone
    surrogates) and without control characters. Producers call it on what they accept from
    clients (the game server's control API answers 400 with the message).
    """
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be non-empty text")
    size = _utf8_size(value, what)
    if size > MAX_ID_BYTES:
        raise ValueError(f"{what} is too long ({size} bytes, at most {MAX_ID_BYTES})")
    if _CONTROL.search(value):
        raise ValueError(f"{what} contains control characters")
    return value


def check_fields(fields: Mapping[str, str]) -> None:
    """Raise ValueError unless ``fields`` keep the entry bounds (count, sizes, ids)."""
    if len(fields) > MAX_FIELDS:
        raise ValueError(f"entry has {len(fields)} fields, at most {MAX_FIELDS}")
    for name, value in fields.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValueError(f"field {name!r} is not text")
        if _utf8_size(name, "a field name") > MAX_FIELD_BYTES:
            raise ValueError(f"field name is too long ({len(name)} characters)")
        if _is_id_field(name):
            if value:  # emptiness is the parser's business (its message names the type)
                check_id(value, f"field {name!r}")
        else:
            size = _utf8_size(value, f"field {name!r}")
            if size > MAX_FIELD_BYTES:
                raise ValueError(
                    f"field {name!r} is too long ({size} bytes, at most {MAX_FIELD_BYTES})"
                )


def encode_weapon(weapon: int | None) -> str:
    """The stream spelling of a weapon: ``"0"``, ``"1"``, ``"2"`` or ``"null"`` (a botch); nothing
    else."""
    # Exact types: True and 1.0 equal 1 and would otherwise be written as paper.
    if (weapon is not None and type(weapon) is not int) or weapon not in _WEAPON_TEXT:
        raise ValueError(f"invalid weapon {weapon!r}: expected 0, 1, 2 or None")
    return _WEAPON_TEXT[weapon]


def decode_weapon(text: str) -> int | None:
    """The weapon of a select_weapon entry; the old server's raw values (``7``, ``-1``,
    ``undefined``) are rejected."""
    try:
        return _TEXT_WEAPON[text]
    except (KeyError, TypeError):
        raise MalformedEvent(
            f"invalid weapon {text!r} in select_weapon: expected 0, 1, 2 or null"
        ) from None


# -- events -----


_E = TypeVar("_E", bound="_GameEvent")


_OWN_FIELDS: dict[type, tuple[str, ...]] = {}


def _own_fields(cls: type[_GameEvent]) -> tuple[str, ...]:
    """An event class's own fields (after product_id and game_id), in declaration order."""
    names = _OWN_FIELDS.get(cls)
    if names is None:
        positional = [f.name for f in dataclasses.fields(cls) if not f.kw_only]
        names = _OWN_FIELDS[cls] = tuple(positional[2:])
    return names


@dataclass(frozen=True)
class _GameEvent:
    """The common head. An event's own fields go on the wire under their own names, in declaration
    order, after ``type`` and the class's fixed ``_tags`` (a gameplay event's name)."""

    product_id: str
    game_id: str
    #: The per-game sequence number (:data:`SEQ`); None from producers that do not write it.
    seq: int | None = field(default=None, kw_only=True)

    event_type: ClassVar[str] = ""
    _tags: ClassVar[tuple[tuple[str, str], ...]] = ()

    def _head(self) -> dict[str, str]:
        head = {"product_id": self.product_id, "game_id": self.game_id, "type": self.event_type}
        head.update(self._tags)
        return head

    def _with_seq(self, fields: dict[str, str]) -> dict[str, str]:
        if self.seq is not None:
            fields[SEQ] = str(self.seq)
        return fields

    def to_fields(self) -> dict[str, str]:
        fields = self._head()
        for name in _own_fields(type(self)):
            fields[name] = getattr(self, name)
        return self._with_seq(fields)


@dataclass(frozen=True)
class StateChange(_GameEvent):
    """The game server saw the game reach ``new_state`` (one of :data:`GAME_STATES`)."""

    new_state: str
    event_type: ClassVar[str] = STATE_CHANGE

    def __post_init__(self) -> None:
        if self.new_state not in GAME_STATES:
            raise ValueError(f"unknown game state {self.new_state!r}")


@dataclass(frozen=True)
class _PlayerChoice(_GameEvent):
    """A gameplay event of one player: ``event_data`` (the choice) goes before ``user_id``."""

    user_id: str
    event_type: ClassVar[str] = GAMEPLAY

    def _event_data(self) -> str:
        return ""

    def to_fields(self) -> dict[str, str]:
        fields = self._head()
        fields["event_data"] = self._event_data()
        fields["user_id"] = self.user_id
        return self._with_seq(fields)


@dataclass(frozen=True)
class FighterSelected(_PlayerChoice):
    """A player's first valid fighter choice."""

    character_id: str
    _tags: ClassVar[tuple[tuple[str, str], ...]] = (("event_name", SELECT_FIGHTER),)

    def _event_data(self) -> str:
        return self.character_id


@dataclass(frozen=True)
class PlayerReady(_PlayerChoice):
    """A player sent start_battle before the battle."""

    _tags: ClassVar[tuple[tuple[str, str], ...]] = (("event_name", SET_READY),)


@dataclass(frozen=True)
class WeaponSelected(_PlayerChoice):
    """One player's side of a resolved exchange: ROCK, PAPER, SCISSORS or None (a botch)."""

    weapon: int | None
    _tags: ClassVar[tuple[tuple[str, str], ...]] = (("event_name", SELECT_WEAPON),)

    def __post_init__(self) -> None:
        encode_weapon(self.weapon)  # fail when built, not when published

    def _event_data(self) -> str:
        return encode_weapon(self.weapon)


@dataclass(frozen=True)
class RoundStarted(_GameEvent):
    """A round starts."""

    p1_id: str
    p2_id: str
    event_type: ClassVar[str] = GAMEPLAY
    _tags: ClassVar[tuple[tuple[str, str], ...]] = (
        ("event_name", PROGRESSION),
        ("progress_event", ROUND_STARTED),
    )


@dataclass(frozen=True)
class RoundFinished(_GameEvent):
    """A round ends."""

    p1_id: str
    p2_id: str
    round_winner_id: str
    round_loser_id: str
    event_type: ClassVar[str] = GAMEPLAY
    _tags: ClassVar[tuple[tuple[str, str], ...]] = (
        ("event_name", PROGRESSION),
        ("progress_event", ROUND_FINISHED),
    )


@dataclass(frozen=True)
class GameOver(_GameEvent):
    """The game is won."""

    winner_id: str
    loser_id: str
    event_type: ClassVar[str] = GAME_OVER


@dataclass(frozen=True)
class PlayerDisconnect(_GameEvent):
    """The second player's socket closed (or the matchmaker removed that player)."""

    player_id: str
    event_type: ClassVar[str] = PLAYER_DISCONNECT


@dataclass(frozen=True)
class GameRemoved(_GameEvent):
    """The game is gone from the game server (host left, removed, or finished)."""

    event_type: ClassVar[str] = GAME_REMOVED


@dataclass(frozen=True)
class UnknownEvent(_GameEvent):
    """An entry whose ``type`` (or gameplay ``event_name``) this version does not know; consumers
    ignore it.

    ``fields`` holds every field after ``product_id``, ``game_id`` and ``type``, so the entry
    survives a round trip (e.g. a dead-letter replay) unchanged.
    """

    type: str
    fields: Mapping[str, str] = field(default_factory=dict)

    def to_fields(self) -> dict[str, str]:
        out = {"product_id": self.product_id, "game_id": self.game_id, "type": self.type}
        out.update(self.fields)
        return self._with_seq(out)


Event: TypeAlias = (
    StateChange
    | FighterSelected
    | PlayerReady
    | WeaponSelected
    | RoundStarted
    | RoundFinished
    | GameOver
    | PlayerDisconnect
    | GameRemoved
    | UnknownEvent
)


# -- parsing -----


def _required(fields: Mapping[str, str], name: str, what: str) -> str:
    value = fields.get(name)
    if value is None:
        raise MalformedEvent(f"{what} entry without field {name!r}")
    if not isinstance(value, str):
        raise MalformedEvent(f"{what} entry with non-text field {name!r}: {value!r}")
    if not value:
        raise MalformedEvent(f"{what} entry with empty field {name!r}")
    return value


def _parse_state_change(fields: Mapping[str, str], pid: str, gid: str) -> Event:
    state = _required(fields, "new_state", STATE_CHANGE)
    if state not in GAME_STATES:
        raise MalformedEvent(f"state_change entry with unknown new_state {state!r}")
    return StateChange(pid, gid, state)


def _parse_gameplay(fields: Mapping[str, str], pid: str, gid: str) -> Event:
    name = _required(fields, "event_name", GAMEPLAY)
    what = f"gameplay {name}"
    if name == SELECT_WEAPON:
        user = _required(fields, "user_id", what)
        data = fields.get("event_data")
        if data is None:
            raise MalformedEvent(f"{what} entry without field 'event_data'")
        return WeaponSelected(pid, gid, user, decode_weapon(data))
    if name == SELECT_FIGHTER:
        user = _required(fields, "user_id", what)
        return FighterSelected(pid, gid, user, _required(fields, "event_data", what))
    if name == SET_READY:
        # event_data is always empty for set_ready and carries nothing: not required.
        return PlayerReady(pid, gid, _required(fields, "user_id", what))
    if name == PROGRESSION:
        progress = _required(fields, "progress_event", what)
        if progress == ROUND_STARTED:
            return _from_fields(RoundStarted, fields, pid, gid, f"gameplay {progress}")
        if progress == ROUND_FINISHED:
            return _from_fields(RoundFinished, fields, pid, gid, f"gameplay {progress}")
    return _unknown(fields, pid, gid, GAMEPLAY)


def _from_fields(
    cls: type[_E], fields: Mapping[str, str], pid: str, gid: str, what: str | None = None
) -> _E:
    """An event whose own fields are all required, non-empty text under their own names (errors
    name ``what``, by default the entry's type)."""
    what = what or cls.event_type
    return cls(pid, gid, *(_required(fields, name, what) for name in _own_fields(cls)))


def _unknown(fields: Mapping[str, str], pid: str, gid: str, type_: str) -> UnknownEvent:
    rest = {k: v for k, v in fields.items() if k not in _NOT_EXTRA_FIELDS}
    return UnknownEvent(pid, gid, type_, rest)


_PARSERS: Final[dict[str, Callable[[Mapping[str, str], str, str], Event]]] = {
    STATE_CHANGE: _parse_state_change,
    GAMEPLAY: _parse_gameplay,
    GAME_OVER: functools.partial(_from_fields, GameOver),
    PLAYER_DISCONNECT: functools.partial(_from_fields, PlayerDisconnect),
    GAME_REMOVED: functools.partial(_from_fields, GameRemoved),
}


def parse_event(fields: Mapping[str, str]) -> Event:
    """Validate a stream entry's fields and return its event.

    Raises :class:`MalformedEvent` for a missing, empty or malformed field (including a weapon other
    than ``0|1|2|null`` and a ``new_state`` outside :data:`GAME_STATES`). A type or gameplay event
    name this version does not know is not an error: it returns :class:`UnknownEvent`.
    """
    if not isinstance(fields, Mapping):
        raise MalformedEvent(f"entry is not a mapping of fields: {type(fields).__name__}")
    try:
        check_fields(fields)
    except ValueError as exc:
        raise MalformedEvent(str(exc)) from None
    type_ = _required(fields, "type", "stream")
    pid = _required(fields, "product_id", type_)
    gid = _required(fields, "game_id", type_)
    parser = _PARSERS.get(type_)
    event = _unknown(fields, pid, gid, type_) if parser is None else parser(fields, pid, gid)
    seq = fields.get(SEQ)
    if seq is None:
        return event
    return dataclasses.replace(event, seq=_parse_seq(seq, type_))


def _parse_seq(text: str, what: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 16:
        raise MalformedEvent(f"{what} entry with a malformed seq {text!r}")
    value = int(text)
    if not 1 <= value <= _MAX_SEQ:
        raise MalformedEvent(f"{what} entry with seq {value} out of range 1..{_MAX_SEQ}")
    return value


# -- producing -----


def xadd_args(
    event: Event, *, stream: str = STREAM, maxlen: int = DEFAULT_MAXLEN
) -> tuple[str, dict[str, str], int]:
    """``(stream, fields, maxlen)`` for an XADD of ``event`` by a client this module does not drive.

    Pass them by keyword, with approximate trimming::

        stream, fields, maxlen = xadd_args(event)
        await client.xadd(stream, fields, maxlen=maxlen, approximate=True)
    """
    return stream, _checked(event), maxlen


def _checked(event: Event) -> dict[str, str]:
    fields = event.to_fields()
    check_fields(fields)
    return fields


class _XaddArgs:
    """``EventProducer.xadd_args``: the producer's stream and cap, or the defaults when used on the
    class."""

    @overload
    def __get__(
        self, obj: None, owner: type[EventProducer]
    ) -> Callable[[Event], tuple[str, dict[str, str], int]]: ...

    @overload
    def __get__(
        self, obj: EventProducer, owner: type[EventProducer] | None = None
    ) -> Callable[[Event], tuple[str, dict[str, str], int]]: ...

    def __get__(
        self, obj: EventProducer | None, owner: type[EventProducer] | None = None
    ) -> Callable[[Event], tuple[str, dict[str, str], int]]:
        if obj is None:
            return xadd_args
        producer = obj

        def bound(event: Event) -> tuple[str, dict[str, str], int]:
            return xadd_args(event, stream=producer.stream, maxlen=producer.maxlen)

        return bound


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class EventProducer:
    """Appends events to the stream with ``XADD ... MAXLEN ~ maxlen``, so the stream cannot grow
    without bound.

    ``redis`` is a sync redis-py client (decoded or not). The cap is approximate: Redis trims whole
    macro nodes, so the stream may hold somewhat more than ``maxlen`` entries, never unboundedly
    more. An asyncio producer (the game server) uses ``producer.xadd_args(event)`` with its own
    client, or :meth:`apublish`.
    """

    xadd_args = _XaddArgs()

    def __init__(
        self,
        redis: redis.Redis | None,
        stream: str = STREAM,
        maxlen: int = DEFAULT_MAXLEN,
    ) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be positive, got {maxlen}")
        self.redis = redis
        self.stream = stream
        self.maxlen = maxlen

    def _client(self) -> redis.Redis:
        if self.redis is None:
            raise RuntimeError(
                "this EventProducer has no sync Redis client; use xadd_args/apublish"
            )
        return self.redis

    def publish(self, event: Event) -> str:
        """Append one event; returns its entry id."""
        fields: dict[Any, Any] = _checked(event)
        entry_id = self._client().xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)
        return _text(entry_id)

    def publish_many(self, events: Iterable[Event]) -> list[str]:
        """Append events in order, in one pipelined round trip; returns their entry ids."""
        pipe = self._client().pipeline(transaction=False)
        count = 0
        for event in events:
            fields: dict[Any, Any] = _checked(event)
            pipe.xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)
            count += 1
        if not count:
            return []
        return [_text(entry_id) for entry_id in pipe.execute()]

    async def apublish(self, client: redis.asyncio.Redis, event: Event) -> str:
        """Append one event with an asyncio client (the game server's); returns its entry id."""
        fields: dict[Any, Any] = _checked(event)
        entry_id = await client.xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)
        return _text(entry_id)
