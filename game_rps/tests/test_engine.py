"""The rules of the game, driven tick by tick with no server (spec "game_rps rules")."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from game_rps.engine import Close, Finished, Game, JoinRefused, Publish, RoundEvent, Send
from game_rps.fighters import FIGHTERS

from game_rps import engine
from varcade_workers import events

P1, P2 = "u-host", "u-guest"

# The spec's fighter table, typed again here as the test's oracle.
SPEC_TABLE = """
aru: 100; 25/0/0.2, 25/0.3/0, 25/0/0
man: 100; 25/0/0, 25/0/0.1, 25/0.4/0
hog: 100; 25/0.1/0, 25/0.1/0.1, 25/0/0.2
rad: 120; 20/0.1/0, 20/0/0, 20/0/0.4
mai: 120; 20/0/0.1, 20/0/0.2, 20/0/0.2
"""


def _spec() -> dict[str, tuple[Decimal, list[tuple[Decimal, Decimal, Decimal]]]]:
    table = {}
    for line in SPEC_TABLE.strip().splitlines():
        fid, rest = line.split(":")
        health, weapons = rest.split(";")
        stats = [tuple(Decimal(x) for x in w.strip().split("/")) for w in weapons.split(",")]
        table[fid] = (Decimal(health.strip()), stats)
    return table


SPEC = _spec()
BEATS = {(1, 0), (2, 1), (0, 2)}  # paper > rock, scissors > paper, rock > scissors


def expected_damage(att: str, w: int | None, dfn: str, dw: int | None) -> Decimal:
    if w is None:
        return Decimal(0)
    base, mod, _ = SPEC[att][1][w]
    if dw is None:
        return base * (1 + mod)
    if (w, dw) not in BEATS:
        return Decimal(0)
    return base * (1 + mod - SPEC[dfn][1][dw][2])


# -- helpers -------------------------------------------------------------------------------------


def sends(outputs: list[engine.Output], to: str | None = None) -> list[dict[str, Any]]:
    return [o.message for o in outputs if isinstance(o, Send) and (to is None or o.to == to)]


def published(outputs: list[engine.Output]) -> list[dict[str, str]]:
    return [o.event.to_fields() for o in outputs if isinstance(o, Publish)]


def round_events(outputs: list[engine.Output], to: str = P1) -> list[tuple[int, dict[str, Any]]]:
    return [
        (m["eventData"]["type"], m["eventData"]["data"])
        for m in sends(outputs, to)
        if m["type"] == "RPSRoundEvent"
    ]


class Driver:
    """A game with both players connected and ready, and a log of every output."""

    def __init__(
        self, f1: str = "aru", f2: str = "man", *, botch: float = 20, start: bool = True
    ) -> None:
        self.game = Game("g1", P1, "host", botch_damage=lambda: botch)
        self.log: list[engine.Output] = []
        self.game.join(P2, "guest")
        self.do(self.game.connect(P1))
        self.do(self.game.connect(P2))
        self.do(self.game.handle_message(P1, {"type": "select_fighter", "characterId": f1}))
        self.do(self.game.handle_message(P2, {"type": "select_fighter", "characterId": f2}))
        if start:
            self.do(self.game.handle_message(P1, {"type": "start_battle"}))
            self.do(self.game.handle_message(P2, {"type": "start_battle"}))

    def do(self, outputs: list[engine.Output]) -> list[engine.Output]:
        self.log.extend(outputs)
        return outputs

    def tick(self) -> list[engine.Output]:
        return self.do(self.game.tick())

    def tick_until(self, kind: RoundEvent, limit: int = 50) -> list[engine.Output]:
        seen: list[engine.Output] = []
        for _ in range(limit):
            out = self.tick()
            seen.extend(out)
            if any(k == kind for k, _ in round_events(out)):
                return seen
        raise AssertionError(f"no {kind!r} within {limit} ticks")

    def open_window(self) -> None:
        while True:
            out = self.tick()
            if (RoundEvent.STATE_CHANGE, {"newState": 2, "oldState": 1}) in round_events(out) or (
                RoundEvent.STATE_CHANGE,
                {"newState": 2, "oldState": 3},
            ) in round_events(out):
                return
            assert not self.game.over

    def pick(self, user: str, index: Any) -> list[engine.Output]:
        return self.do(self.game.handle_message(user, {"type": "select_weapon", "index": index}))

    def exchange(self, w1: int | None, w2: int | None) -> dict[str, Any]:
        """Open the window, pick, resolve; returns the attack summary."""
        self.open_window()
        if w1 is not None:
            self.pick(P1, w1)
        if w2 is not None:
            self.pick(P2, w2)
        out = self.tick_until(RoundEvent.WEAPONS_SELECTED)
        return next(d for k, d in round_events(out) if k == RoundEvent.WEAPONS_SELECTED)[
            "attackSummary"
        ]

    def health(self) -> tuple[float, float]:
        return self.game.host.health, self.game.guest.health  # type: ignore[union-attr]


# -- damage --------------------------------------------------------------------------------------


def test_fighters_match_the_spec_table() -> None:
    assert list(FIGHTERS) == list(SPEC)
    for fid, (health, weapons) in SPEC.items():
        fighter = FIGHTERS[fid]
        assert Decimal(str(fighter.health)) == health
        for stats, (base, mod, mit) in zip(fighter.weapons, weapons, strict=True):
            assert (Decimal(str(stats.base)), Decimal(str(stats.modifier))) == (base, mod)
            assert Decimal(str(stats.mitigation)) == mit


@pytest.mark.parametrize("att", list(SPEC))
@pytest.mark.parametrize("dfn", list(SPEC))
def test_damage_table_every_fighter_and_weapon_pair(att: str, dfn: str) -> None:
    for w in (0, 1, 2, None):
        for dw in (0, 1, 2, None):
            if w is None and dw is None:
                continue  # botch against botch: its own test
            got = engine.damage_dealt(FIGHTERS[att], w, FIGHTERS[dfn], dw, botch_damage=99)
            want = expected_damage(att, w, dfn, dw).quantize(Decimal("0.01"))
            assert Decimal(repr(got)) == want, (att, w, dfn, dw, got)


def test_winner_formula_uses_the_defenders_mitigation_for_the_weapon_it_threw() -> None:
    # aru paper (25, +0.3) against aru rock (mitigation 0.2): 25 * 1.1 = 27.5, no float noise
    assert engine.damage_dealt(FIGHTERS["aru"], 1, FIGHTERS["aru"], 0, 0) == 27.5
    # rad scissors (20) against mai paper (mitigation 0.2): 16
    assert engine.damage_dealt(FIGHTERS["rad"], 2, FIGHTERS["mai"], 1, 0) == 16.0


def test_draw_and_loss_deal_nothing() -> None:
    d = Driver("hog", "hog")
    summary = d.exchange(0, 0)
    assert summary == {
        "p1Selection": {"weaponId": "rock", "damageDealt": 0},
        "p2Selection": {"weaponId": "rock", "damageDealt": 0},
    }
    summary = d.exchange(0, 1)  # paper beats rock: hog paper 25*(1+0.1-0) = 27.5
    assert summary["p1Selection"] == {"weaponId": "rock", "damageDealt": 0}
    assert summary["p2Selection"] == {"weaponId": "paper", "damageDealt": 27.5}
    assert d.health() == (72.5, 100)


def test_any_weapon_beats_a_botch_which_mitigates_nothing() -> None:
    d = Driver("man", "aru")
    summary = d.exchange(None, 0)  # aru rock 25*(1+0) against a botch (no mitigation)
    assert summary["p1Selection"] == {"weaponId": "botch", "damageDealt": 0}
    assert summary["p2Selection"] == {"weaponId": "rock", "damageDealt": 25.0}
    assert d.health() == (75, 100)


def test_botch_against_botch_each_takes_about_20() -> None:
    d = Driver(botch=20)
    summary = d.exchange(None, None)
    assert summary["p1Selection"] == {"weaponId": "botch", "damageDealt": 20}
    assert summary["p2Selection"] == {"weaponId": "botch", "damageDealt": 20}
    assert d.health() == (80, 80)
    game = Game("g", P1, "a")  # the real default: a random amount about 20
    values = {game._botch_damage() for _ in range(200)}
    assert values <= set(range(19, 24)) and len(values) > 1


def test_health_is_rounded_without_float_noise() -> None:
    d = Driver("aru", "hog")
    for _ in range(3):  # aru paper against hog rock: 25 * (1 + 0.3 - 0) = 32.5
        d.exchange(1, 0)
    syncs = [m["gameData"] for m in sends(d.log, P1) if m["type"] == "sync"]
    assert syncs[-1] == {"p1Health": 100, "p2Health": 2.5}
    d2 = Driver("hog", "aru")  # hog rock 25*1.1 = 27.500000000000004 in floats
    d2.exchange(0, 2)
    d2.exchange(0, 2)
    assert d2.health() == (100, 45.0)
    for m in sends(d.log + d2.log):
        if m["type"] == "sync":
            for v in m["gameData"].values():
                assert round(v, 2) == v and len(repr(v)) <= 6


# -- the exchange ----------------------------------------------------------------------------------


def test_last_valid_pick_counts_and_invalid_picks_change_nothing() -> None:
    d = Driver("aru", "man")
    d.open_window()
    d.pick(P1, 0)
    d.pick(P1, 2)  # the last valid pick
    for bad in (7, -1, "1", None, True, 1.5, 1.0, 2.0, 0.0):
        out = d.pick(P1, bad)
        assert sends(out, P1) == [
            engine.error_message(
                "Invalid weapon index: expected 0, 1 or 2.", engine.INVALID_REQUEST
            )
        ]
    d.pick(P2, 1)
    out = d.tick_until(RoundEvent.WEAPONS_SELECTED)
    summary = next(x for k, x in round_events(out) if k == RoundEvent.WEAPONS_SELECTED)
    assert summary["attackSummary"]["p1Selection"]["weaponId"] == "scissors"
    data = [(f["user_id"], f["event_data"]) for f in published(out)]
    assert data == [(P1, "2"), (P2, "1")]


def test_picks_outside_the_window_are_ignored() -> None:
    d = Driver()
    d.pick(P1, 0)  # before the first round starts
    d.tick_until(RoundEvent.ROUND_COUNTDOWN)
    d.pick(P2, 0)  # during the round countdown
    summary = d.exchange(None, None)
    assert summary["p1Selection"]["weaponId"] == "botch"
    assert summary["p2Selection"]["weaponId"] == "botch"
    d.pick(P1, 1)  # during the hold after the result: late for this exchange, early for the next
    d.tick()
    summary = d.exchange(None, 0)
    assert summary["p1Selection"]["weaponId"] == "botch"


def test_tick_timeline_of_a_round() -> None:
    d = Driver("aru", "man")
    timeline = []
    for _ in range(13):
        timeline.append([(k, x) for k, x in round_events(d.tick())])
    sc = RoundEvent.STATE_CHANGE
    assert timeline[:9] == [
        [(RoundEvent.ROUND_STARTED, {}), (sc, {"newState": 1, "oldState": 0})],
        [(RoundEvent.ROUND_COUNTDOWN, {"value": 3})],
        [(RoundEvent.ROUND_COUNTDOWN, {"value": 2})],
        [(RoundEvent.ROUND_COUNTDOWN, {"value": 1})],
        [(sc, {"newState": 2, "oldState": 1})],
        [(RoundEvent.WEAPON_COUNTDOWN, {"value": 3})],
        [(RoundEvent.WEAPON_COUNTDOWN, {"value": 2})],
        [(RoundEvent.WEAPON_COUNTDOWN, {"value": 1})],
        [
            (RoundEvent.WEAPONS_SELECTED, timeline[8][0][1]),
            (sc, {"newState": 3, "oldState": 2}),
        ],
    ]
    assert timeline[9] == []  # the result holds two ticks
    assert timeline[10] == [(sc, {"newState": 2, "oldState": 3})]
    assert timeline[11] == [(RoundEvent.WEAPON_COUNTDOWN, {"value": 3})]
    # every round state change is followed by a sync, to both players
    msgs = sends(d.log, P2)
    for i, m in enumerate(msgs):
        if m["type"] == "RPSRoundEvent" and m["eventData"]["type"] == sc:
            assert msgs[i + 1]["type"] == "sync"


# -- rounds and the game -------------------------------------------------------------------------


def play_round(d: Driver, w1: int | None, w2: int | None) -> list[engine.Output]:
    start = len(d.log)
    while True:
        d.exchange(w1, w2)
        out = d.tick()
        if any(k == RoundEvent.ROUND_FINISHED for k, _ in round_events(out)):
            return d.log[start:]


def test_best_of_three_first_to_two_wins_and_health_resets_each_round() -> None:
    d = Driver("aru", "man")
    play_round(d, 2, 0)  # man rock beats aru scissors: p2 wins round 1
    assert d.health()[0] == 0
    d.tick()  # next round starts with full health
    assert d.health() == (100, 100)
    play_round(d, 0, 2)  # p1
    d.tick()
    play_round(d, 0, 2)  # p1 again: 2 rounds
    out = d.tick()
    assert d.game.over
    msgs = sends(out, P1)
    assert msgs[0] == {
        "type": "RPSGameEvent",
        "eventData": {
            "type": 1,
            "data": {"winnerId": P1, "loserId": P2},
            "classtype": "RPSGameEvent",
        },
    }
    assert [f["type"] for f in published(out)] == ["game_over", "state_change", "game_removed"]
    assert published(out)[0]["winner_id"] == P1 and published(out)[0]["loser_id"] == P2
    assert published(out)[1]["new_state"] == "ended"
    closes = [o for o in out if isinstance(o, Close)]
    assert {(c.to, c.code) for c in closes} == {(P1, 1000), (P2, 1000)}
    assert isinstance(out[-1], Finished)
    # a finished game does nothing more
    assert d.game.tick() == []
    assert d.game.handle_message(P1, {"type": "start_battle"}) == []
    assert d.game.remove() == []


def test_double_knock_out_goes_to_player_one() -> None:
    d = Driver("aru", "rad", botch=500)
    out = play_round(d, None, None)
    finished = [x for k, x in round_events(out) if k == RoundEvent.ROUND_FINISHED]
    assert finished == [{"roundWinnerId": P1, "roundLoserId": P2}]
    assert d.health() == (0, 0)


def test_stream_events_of_a_whole_game_in_the_spec_order() -> None:
    d = Driver("aru", "man")
    for _ in range(2):
        play_round(d, 0, 2)  # aru rock beats man scissors: 25 per exchange, 4 exchanges
        d.tick()
    assert d.game.over
    entries = published(d.log)
    head = {"product_id": "exrps", "game_id": "g1"}
    exp: list[dict[str, str]] = [
        {**head, "type": "state_change", "new_state": "creator_joined"},
        {**head, "type": "state_change", "new_state": "all_players_joined"},
        {**head, "type": "gameplay", "event_name": "select_fighter", "event_data": "aru",
         "user_id": P1},
        {**head, "type": "gameplay", "event_name": "select_fighter", "event_data": "man",
         "user_id": P2},
        {**head, "type": "gameplay", "event_name": "set_ready", "event_data": "", "user_id": P1},
        {**head, "type": "gameplay", "event_name": "set_ready", "event_data": "", "user_id": P2},
        {**head, "type": "state_change", "new_state": "in_progress"},
    ]  # fmt: skip
    prog = {**head, "type": "gameplay", "event_name": "progression"}
    ids = {"p1_id": P1, "p2_id": P2}
    for _ in range(2):
        exp.append({**prog, "progress_event": "round_started", **ids})
        for _ in range(4):
            for user, w in ((P1, "0"), (P2, "2")):
                exp.append(
                    {**head, "type": "gameplay", "event_name": "select_weapon",
                     "event_data": w, "user_id": user}
                )  # fmt: skip
        exp.append(
            {**prog, "progress_event": "round_finished", **ids, "round_winner_id": P1,
             "round_loser_id": P2}
        )  # fmt: skip
    exp += [
        {**head, "type": "game_over", "winner_id": P1, "loser_id": P2},
        {**head, "type": "state_change", "new_state": "ended"},
        {**head, "type": "game_removed"},
    ]
    # seq, the last field: 1 for the game's first event, one more for each following one
    exp = [{**fields, "seq": str(n)} for n, fields in enumerate(exp, 1)]
    assert entries == exp
    assert [list(e) for e in entries] == [list(e) for e in exp]  # field order too
    for fields in entries:
        events.parse_event(fields)


def test_seq_counts_every_event_of_a_game_whatever_its_type_and_per_game() -> None:
    d = Driver("aru", "man")
    other = Game("g2", "x1", "other")  # another game counts on its own
    other.join("x2", "other2")
    d.do(other.connect("x1"))
    d.exchange(0, 2)
    d.do(d.game.disconnect(P2))  # player_disconnect
    d.game.join(P2, "guest")
    d.do(d.game.connect(P2))  # all_players_joined again
    d.do(other.connect("x2"))
    d.do(other.remove())  # game_removed of g2
    d.do(d.game.remove())  # game_removed of g1
    assert d.game.over and other.over
    by_game: dict[str, list[events.Event]] = {}
    for output in d.log:
        if isinstance(output, Publish):
            by_game.setdefault(output.event.game_id, []).append(output.event)
    for game_id, published_events in by_game.items():
        seqs = [e.seq for e in published_events]
        assert seqs == list(range(1, len(seqs) + 1)), game_id
        for event in published_events:  # what consumers read back
            assert events.parse_event(event.to_fields()).seq == event.seq
    types = {e.event_type for e in by_game["g1"]}
    assert types == {"state_change", "gameplay", "player_disconnect", "game_removed"}
    assert [e.event_type for e in by_game["g2"]] == ["state_change"] * 2 + ["game_removed"]
    assert d.game.last_seq == len(by_game["g1"]) and other.last_seq == 3


# -- players -------------------------------------------------------------------------------------


def test_player_joined_goes_to_both_players_with_p2_null_until_there() -> None:
    game = Game("g1", P1, "host")
    game.join(P2, "guest")
    out = game.connect(P1)
    assert sends(out) == [
        {
            "type": "player_joined",
            "gameData": {"p1Id": P1, "p1Name": "host", "p2Id": None, "p2Name": None},
        }
    ]
    out = game.connect(P2)
    joined = {
        "type": "player_joined",
        "gameData": {"p1Id": P1, "p1Name": "host", "p2Id": P2, "p2Name": "guest"},
    }
    assert sends(out, P1) == [joined] and sends(out, P2) == [joined]


def test_connect_refusals() -> None:
    game = Game("g1", P1, "host")
    game.join(P2, "guest")
    assert game.connect_refusal("stranger") == (1000, engine.REFUSED_REASON)
    assert game.connect_refusal(P2)[0] == 4000  # type: ignore[index]
    assert game.connect_refusal(P1) is None
    game.connect(P1)
    assert game.connect_refusal(P1)[0] == 4001  # type: ignore[index]
    assert game.connect_refusal(P2) is None
    game.connect(P2)
    assert game.connect_refusal(P2)[0] == 4001  # type: ignore[index]


def test_join_rules() -> None:
    game = Game("g1", P1, "host")
    with pytest.raises(JoinRefused):
        game.join(P1, "host")
    game.join(P2, "guest")
    game.join(P2, "guest")  # asking again is fine
    with pytest.raises(JoinRefused, match="full"):
        game.join("u3", "third")


def test_fighter_choice_visibility_and_first_choice_event() -> None:
    d = Driver(start=False)
    game = Game("g1", P1, "host")
    game.join(P2, "guest")
    game.connect(P1)
    game.connect(P2)
    out = game.handle_message(P1, {"type": "select_fighter", "characterId": "aru"})
    own = {"type": "select_fighter", "gameData": {"playerId": P1, "selectedCharacterId": "aru"}}
    assert sends(out, P1) == [own] and sends(out, P2) == []
    out = game.handle_message(P1, {"type": "select_fighter", "characterId": "rad"})
    assert published(out) == []  # only the first valid choice is written
    out = game.handle_message(P2, {"type": "select_fighter", "characterId": "mai"})
    p2_own = {"type": "select_fighter", "gameData": {"playerId": P2, "selectedCharacterId": "mai"}}
    p1_now = {"type": "select_fighter", "gameData": {"playerId": P1, "selectedCharacterId": "rad"}}
    assert sends(out, P2) == [p2_own, p1_now]
    assert sends(out, P1) == [p2_own]
    out = game.handle_message(P2, {"type": "select_fighter", "characterId": "nobody"})
    assert sends(out, P2)[0]["type"] == "error" and published(out) == []
    assert d.game.battle is None


def test_start_battle_needs_a_fighter_and_counts_once() -> None:
    game = Game("g1", P1, "host")
    game.join(P2, "guest")
    game.connect(P1)
    game.connect(P2)
    out = game.handle_message(P1, {"type": "start_battle"})
    assert sends(out, P1)[0]["code"] == engine.INVALID_REQUEST and published(out) == []
    game.handle_message(P1, {"type": "select_fighter", "characterId": "aru"})
    game.handle_message(P2, {"type": "select_fighter", "characterId": "man"})
    out = game.handle_message(P1, {"type": "start_battle"})
    assert [f["event_name"] for f in published(out)] == ["set_ready"]
    assert game.handle_message(P1, {"type": "start_battle"}) == []
    out = game.handle_message(P2, {"type": "start_battle"})
    assert [f.get("event_name", f.get("new_state")) for f in published(out)] == [
        "set_ready",
        "in_progress",
    ]
    assert sends(out, P1)[0]["eventData"] == {"type": 0, "data": {}, "classtype": "RPSGameEvent"}
    assert game.needs_clock
    assert game.handle_message(P2, {"type": "start_battle"}) == []


def test_malformed_and_unknown_messages() -> None:
    d = Driver(start=False)
    for bad in ([], "x", 3, None, {"no": "type"}, {"type": 5}):
        out = d.game.handle_message(P1, bad)
        assert sends(out) == [
            {
                "type": "error",
                "message": "Malformed message: expected a JSON object with a string 'type'.",
                "code": engine.MALFORMED_MESSAGE,
            }
        ]
    assert d.game.handle_message(P1, {"type": "dance"}) == []
    assert d.game.handle_message("stranger", {"type": "start_battle"}) == []


def test_host_leaving_removes_the_game() -> None:
    d = Driver()
    d.tick()
    out = d.game.disconnect(P1)
    assert out == [
        Send(P2, {"type": "error", "message": "Host disconnected", "code": 4002}),
        Close(P2, 1000, "Host disconnected."),
        Publish(events.GameRemoved("exrps", "g1", seq=9)),  # after 7 + round_started
        Finished(),
    ]
    assert d.game.tick() == [] and not d.game.needs_clock


def test_opponent_leaving_then_rejoining_restarts_from_round_one() -> None:
    d = Driver("aru", "man")
    d.exchange(0, 2)
    assert d.health() == (100, 75)
    out = d.game.disconnect(P2)
    assert out == [
        Publish(events.PlayerDisconnect("exrps", "g1", P2, seq=11)),
        Send(P1, {"type": "error", "message": "Opponent disconnected", "code": 4003}),
    ]
    assert not d.game.needs_clock and d.game.guest is None and d.game.tick() == []
    assert d.game.connect_refusal(P2)[0] == 1000  # type: ignore[index]  # must join again
    d.game.join("u-new", "newbie")
    out = d.game.connect("u-new")
    assert [f["new_state"] for f in published(out)] == ["all_players_joined"]
    d.game.handle_message("u-new", {"type": "select_fighter", "characterId": "hog"})
    out = d.game.handle_message("u-new", {"type": "start_battle"})  # host's fighter kept, ready
    assert sends(out, P1)[0]["type"] == "RPSGameEvent"
    out = d.game.tick()
    assert published(out)[0]["progress_event"] == "round_started"
    assert published(out)[0]["p2_id"] == "u-new"
    assert d.game.battle is not None and d.game.battle.round_number == 1
    assert d.game.host.health == 100 and d.game.guest.health == 100  # type: ignore[union-attr]


def test_remove_player_of_a_connected_guest_and_of_a_joined_one() -> None:
    d = Driver()
    out, closed = d.game.remove_player(P2)
    assert closed
    assert out[0] == Close(P2, 1000, "You have been removed from the game.")
    assert published(out) == [events.PlayerDisconnect("exrps", "g1", P2, seq=8).to_fields()]
    game = Game("g2", P1, "host")
    game.join(P2, "guest")
    out, closed = game.remove_player(P2)
    assert not closed and [f["type"] for f in published(out)] == ["player_disconnect"]


def test_remove_during_battle_stops_everything() -> None:
    d = Driver()
    for _ in range(6):
        d.tick()
    out = d.game.remove()
    assert [o for o in out if isinstance(o, Close)] == [
        Close(P1, 1000, "This game has been removed."),
        Close(P2, 1000, "This game has been removed."),
    ]
    assert published(out)[-1]["type"] == "game_removed" and isinstance(out[-1], Finished)
    assert d.game.tick() == [] and d.game.disconnect(P2) == [] and d.game.disconnect(P1) == []
