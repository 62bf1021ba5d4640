"""The stream fuzzer: poison entries for `game_event_stream`, the same ones for the same seed.

Every entry is what a broken or hostile producer could XADD: field names and values are bytes
(Redis streams carry any bytes), so an entry need not be UTF-8 at all. Each comes with what a
correct consumer does with it (`Expect`):

- `MALFORMED`: not a valid event (undecodable bytes, a missing, empty or oversized field, a bad
  weapon, state, seq or id, too many fields): every consumer that parses it with
  `varcade_workers.events.parse_event` must dead-letter it, and nothing behind it may wait.
- `STATS_REJECTS`: a well-formed event the stats tracker refuses (winner = loser, a product it
  does not know); the matchmaker has nothing to do with it.
- `IGNORED`: a type no consumer knows: acknowledged, no effect (the spec: ignore unknown types).
- `FORGED`: a valid event carrying the dead-letter replay's delivery fields (`_replay_of`,
  `_replay_group`) or the reserved `dl_*` fields, written by a producer: it must not pass for a
  replay (nor make a consumer skip or double-count another event).

Use::

    for entry in poison_entries(seed=7, count=60):
        raw_client.xadd("game_event_stream", entry.fields)

`poison_entries` cycles through `KINDS` in an order shuffled per cycle, each kind drawing its
variant from the seeded random source; the first `huge_field` entry has a `big_field_bytes` value
(4 MiB by default), later ones are smaller. `entry.text_fields()` gives the fields as text when they
are UTF-8 (None otherwise); `classify(fields)` says what `parse_event` makes of any entry.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum

from varcade_workers import events

MiB = 1024 * 1024
REPLAY_OF = "_replay_of"
REPLAY_GROUP = "_replay_group"
GROUPS = ("matchmaker", "stats_tracker")


class Expect(str, Enum):
    MALFORMED = "malformed"
    STATS_REJECTS = "stats_rejects"
    IGNORED = "ignored"
    FORGED = "forged"


@dataclass(frozen=True)
class PoisonEntry:
    kind: str
    fields: dict[bytes, bytes]
    expect: Expect
    note: str

    def text_fields(self) -> dict[str, str] | None:
        """The fields as text, or None when a name or value is not UTF-8."""
        try:
            return {k.decode(): v.decode() for k, v in self.fields.items()}
        except UnicodeDecodeError:
            return None

    @property
    def size(self) -> int:
        return sum(len(k) + len(v) for k, v in self.fields.items())


def classify(fields: Mapping[bytes, bytes]) -> str:
    """What `parse_event` makes of raw fields: 'event', 'unknown', 'malformed' or 'undecodable'."""
    try:
        text = {k.decode(): v.decode() for k, v in fields.items()}
    except UnicodeDecodeError:
        return "undecodable"
    try:
        event = events.parse_event(text)
    except events.MalformedEvent:
        return "malformed"
    return "unknown" if isinstance(event, events.UnknownEvent) else "event"


# -- building blocks -------------------------------------------------------------------------------


def _b(fields: Mapping[str, str]) -> dict[bytes, bytes]:
    return {k.encode(): v.encode() for k, v in fields.items()}


class _Maker:
    """Valid events to spoil, with ids that cannot collide with any real game or player."""

    def __init__(self, rng: random.Random, product_id: str) -> None:
        self.rng = rng
        self.product_id = product_id
        self.serial = 0

    def ident(self, what: str) -> str:
        self.serial += 1
        return f"poison-{what}-{self.serial}-{self.rng.getrandbits(32):08x}"

    def game_over(self) -> dict[str, str]:
        event = events.GameOver(
            self.product_id, self.ident("game"), self.ident("w"), self.ident("l"), seq=9
        )
        return event.to_fields()

    def any_event(self) -> dict[str, str]:
        game = self.ident("game")
        player = self.ident("p")
        choices: list[events.Event] = [
            events.GameOver(self.product_id, game, player, self.ident("l"), seq=7),
            events.StateChange(self.product_id, game, events.ALL_PLAYERS_JOINED, seq=2),
            events.WeaponSelected(self.product_id, game, player, events.ROCK, seq=5),
            events.FighterSelected(self.product_id, game, player, "aru", seq=2),
            events.PlayerDisconnect(self.product_id, game, player, seq=4),
            events.RoundFinished(self.product_id, game, player, "p2", player, "p2", seq=6),
            events.GameRemoved(self.product_id, game, seq=8),
        ]
        return self.rng.choice(choices).to_fields()


_BAD_UTF8 = (
    b"\xff\xfe",  # never valid
    b"\xc0\xaf",  # overlong '/'
    b"\xed\xa0\x80",  # a UTF-16 surrogate encoded as UTF-8
    b"\x80",  # a lone continuation byte
    b"caf\xe9",  # Latin-1
    b"\xf4\x90\x80\x80",  # above U+10FFFF
)


def _bad_bytes(rng: random.Random) -> bytes:
    prefix = bytes(rng.choice(b"abcxyz0123") for _ in range(rng.randint(0, 4)))
    return prefix + rng.choice(_BAD_UTF8) + bytes(rng.getrandbits(8) for _ in range(3))


# -- the kinds -------------------------------------------------------------------------------------

Build = Callable[[_Maker, "_State"], PoisonEntry]


@dataclass
class _State:
    big_field_bytes: int
    big_done: bool = False


def _non_utf8_value(m: _Maker, _: _State) -> PoisonEntry:
    fields = _b(m.any_event())
    name = m.rng.choice([k for k in fields if k not in (b"type",)])
    fields[name] = _bad_bytes(m.rng)
    return PoisonEntry("non_utf8_value", fields, Expect.MALFORMED, f"{name.decode()} not UTF-8")


def _non_utf8_name(m: _Maker, _: _State) -> PoisonEntry:
    fields = _b(m.any_event())
    fields[_bad_bytes(m.rng)] = b"x"
    return PoisonEntry("non_utf8_name", fields, Expect.MALFORMED, "a field name not UTF-8")


def _non_utf8_everything(m: _Maker, _: _State) -> PoisonEntry:
    fields = {_bad_bytes(m.rng): _bad_bytes(m.rng) for _ in range(m.rng.randint(1, 4))}
    return PoisonEntry("binary_junk", fields, Expect.MALFORMED, "random bytes only")


def _huge_field(m: _Maker, state: _State) -> PoisonEntry:
    fields = _b(m.any_event())
    if not state.big_done:
        size, state.big_done = state.big_field_bytes, True
    else:
        size = m.rng.randint(events.MAX_FIELD_BYTES + 1, 64 * 1024)
    name = m.rng.choice([b"event_data", b"padding", b"new_state", b"winner_id"])
    fields[name] = b"x" * size
    return PoisonEntry("huge_field", fields, Expect.MALFORMED, f"{name.decode()} of {size} bytes")


def _missing_field(m: _Maker, _: _State) -> PoisonEntry:
    fields = m.any_event()
    name = m.rng.choice([k for k in fields if k not in ("event_data", "seq")])
    del fields[name]
    return PoisonEntry("missing_field", _b(fields), Expect.MALFORMED, f"without {name}")


def _empty_field(m: _Maker, _: _State) -> PoisonEntry:
    fields = m.any_event()
    name = m.rng.choice([k for k in fields if k not in ("event_data",)])
    fields[name] = ""
    return PoisonEntry("empty_field", _b(fields), Expect.MALFORMED, f"{name} empty")


def _bad_weapon(m: _Maker, _: _State) -> PoisonEntry:
    event = events.WeaponSelected(m.product_id, m.ident("game"), m.ident("p"), events.PAPER)
    fields = event.to_fields()
    bad = ("7", "-1", "undefined", "1.0", " 1", "3", "None", "\uff11")  # \uff11: a wide 1
    fields["event_data"] = m.rng.choice(bad)
    note = f"event_data {fields['event_data']!r}"
    return PoisonEntry("bad_weapon", _b(fields), Expect.MALFORMED, note)


def _bad_state(m: _Maker, _: _State) -> PoisonEntry:
    fields = events.StateChange(m.product_id, m.ident("game"), events.ENDED).to_fields()
    fields["new_state"] = m.rng.choice(("finished", "CREATED", "in progress", "ended ", "null"))
    note = f"new_state {fields['new_state']!r}"
    return PoisonEntry("bad_state", _b(fields), Expect.MALFORMED, note)


def _bad_seq(m: _Maker, _: _State) -> PoisonEntry:
    fields = m.any_event()
    fields["seq"] = m.rng.choice(
        ("0", "-1", "1e3", "abc", " 1", "1 ", "99999999999999999999", "", "\uff11", "0x10", "+5")
    )
    return PoisonEntry("bad_seq", _b(fields), Expect.MALFORMED, f"seq {fields['seq']!r}")


def _bad_id(m: _Maker, _: _State) -> PoisonEntry:
    fields = m.any_event()
    name = m.rng.choice([k for k in fields if k.endswith("_id")])
    fields[name] = m.rng.choice(
        ("x" * (events.MAX_ID_BYTES + 1), "a\x00b", "line\nbreak", "tab\there", "\x7fdel", "é" * 65)
    )
    return PoisonEntry("bad_id", _b(fields), Expect.MALFORMED, f"{name} out of bounds")


def _too_many_fields(m: _Maker, _: _State) -> PoisonEntry:
    fields = m.any_event()
    for n in range(events.MAX_FIELDS + m.rng.randint(1, 20)):
        fields[f"extra{n}"] = "1"
    return PoisonEntry("too_many_fields", _b(fields), Expect.MALFORMED, f"{len(fields)} fields")


def _self_game_over(m: _Maker, _: _State) -> PoisonEntry:
    who = m.ident("p")
    fields = events.GameOver(m.product_id, m.ident("game"), who, who).to_fields()
    return PoisonEntry("self_game_over", _b(fields), Expect.STATS_REJECTS, "winner = loser")


def _unknown_product(m: _Maker, _: _State) -> PoisonEntry:
    fields = m.game_over()
    fields["product_id"] = m.ident("product")
    return PoisonEntry("unknown_product", _b(fields), Expect.STATS_REJECTS, "unknown product")


def _unknown_type(m: _Maker, _: _State) -> PoisonEntry:
    fields = {
        "product_id": m.product_id,
        "game_id": m.ident("game"),
        "type": m.rng.choice(("teleport", "chat", "GAME_OVER", "state_change_v2")),
        "payload": "{}",
    }
    return PoisonEntry("unknown_type", _b(fields), Expect.IGNORED, f"type {fields['type']}")


def _forged_replay(m: _Maker, _: _State) -> PoisonEntry:
    fields = m.game_over()
    fields[REPLAY_OF] = m.rng.choice(
        ("0-1", "1-0", "not-an-id", "", "9999999999999-0", "1-1" + "0" * 40)
    )
    fields[REPLAY_GROUP] = m.rng.choice((*GROUPS, "nobody", ""))
    note = f"{REPLAY_OF}={fields[REPLAY_OF][:20]!r} {REPLAY_GROUP}={fields[REPLAY_GROUP]!r}"
    return PoisonEntry("forged_replay", _b(fields), Expect.FORGED, note)


def _reserved_fields(m: _Maker, _: _State) -> PoisonEntry:
    fields = m.game_over()
    fields.update(dl_error="forged", dl_original_id="0-1", dl_group=m.rng.choice(GROUPS))
    return PoisonEntry("reserved_dl_fields", _b(fields), Expect.FORGED, "dl_* set by a producer")


KINDS: dict[str, Build] = {
    "non_utf8_value": _non_utf8_value,
    "non_utf8_name": _non_utf8_name,
    "binary_junk": _non_utf8_everything,
    "huge_field": _huge_field,
    "missing_field": _missing_field,
    "empty_field": _empty_field,
    "bad_weapon": _bad_weapon,
    "bad_state": _bad_state,
    "bad_seq": _bad_seq,
    "bad_id": _bad_id,
    "too_many_fields": _too_many_fields,
    "self_game_over": _self_game_over,
    "unknown_product": _unknown_product,
    "unknown_type": _unknown_type,
    "forged_replay": _forged_replay,
    "reserved_dl_fields": _reserved_fields,
}


def poison_entries(
    seed: int,
    count: int | None = None,
    *,
    product_id: str = "exrps",
    kinds: tuple[str, ...] | None = None,
    big_field_bytes: int = 4 * MiB,
) -> Iterator[PoisonEntry]:
    """Poison entries from `seed` (endless when `count` is None). Every kind appears once per
    len(kinds) entries, in a shuffled order."""
    rng = random.Random(seed)
    maker = _Maker(rng, product_id)
    state = _State(big_field_bytes)
    chosen = list(kinds or KINDS)
    unknown = [k for k in chosen if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown poison kinds {unknown}; known: {', '.join(KINDS)}")
    made = 0
    while count is None or made < count:
        cycle = chosen[:]
        rng.shuffle(cycle)
        for kind in cycle:
            if count is not None and made >= count:
                return
            yield KINDS[kind](maker, state)
            made += 1
