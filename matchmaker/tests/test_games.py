"""The game model, its state machine, expiry and list membership (no Redis)."""

import pytest
from matchmaker.games import (
    EXPIRY_SECONDS,
    CurationAction,
    Game,
    GameList,
    InvalidTransition,
    JoinRefused,
    Product,
    check_can_join,
    curation_action,
    is_valid_transition,
)

from varcade_workers import events

PRODUCT = Product("exrps", "http://gs:8080", "gs:8085", {"num_players": 2})
T0 = 1_000_000.0


def new_game(**kw) -> Game:
    return Game.new(PRODUCT, creator_id="c1", creator_name="Carol", token="t" * 32, now=T0, **kw)


def test_new_game_is_created_pending_with_its_creator():
    game = new_game(game_id="g1")
    assert game.state == events.CREATED
    assert game.players == ("c1",)
    assert game.list is GameList.PENDING
    assert game.target_game_server == "gs:8085"
    assert game.settings == {"num_players": 2}


def test_api_dict_has_the_spec_fields_and_public_dict_hides_private_ones():
    data = new_game(game_id="g1").to_dict()
    assert set(data) == {
        "game_id", "product_id", "game_server_url", "creator_id", "creator_name", "players",
        "settings", "token", "state", "_last_updated", "target_game_server",
    }  # fmt: skip
    public = new_game(game_id="g1").to_public_dict()
    assert not {"token", "state", "_last_updated"} & set(public)
    assert public["creator_name"] == "Carol"


def test_json_round_trip():
    game = new_game().with_state(events.CREATOR_JOINED, T0 + 1).with_player("u2", T0 + 2)
    assert Game.from_json(game.to_json()) == game


@pytest.mark.parametrize(
    ("old", "new", "valid"),
    [
        (events.CREATED, events.CREATOR_JOINED, True),
        (events.CREATOR_JOINED, events.ALL_PLAYERS_JOINED, True),
        (events.ALL_PLAYERS_JOINED, events.IN_PROGRESS, True),
        (events.IN_PROGRESS, events.ENDED, True),
        (events.CREATED, events.ALL_PLAYERS_JOINED, False),  # skipping a state
        (events.CREATOR_JOINED, events.CREATED, False),  # backwards
        (events.ENDED, events.ENDED, False),  # same state
        (events.ENDED, events.CREATED, False),
        (events.CREATED, "bogus", False),
    ],
)
def test_only_single_forward_steps_are_valid(old, new, valid):
    assert is_valid_transition(old, new) is valid


def test_state_change_refreshes_last_updated_and_invalid_raises():
    game = new_game().with_state(events.CREATOR_JOINED, T0 + 5)
    assert game.last_updated == T0 + 5
    with pytest.raises(InvalidTransition):
        game.with_state(events.ENDED, T0 + 6)


def test_lists_follow_state_and_fullness():
    game = new_game().with_state(events.CREATOR_JOINED, T0)
    assert game.list is GameList.LOBBY
    full = game.with_player("u2", T0)
    assert full.list is GameList.ACTIVE
    assert full.with_state(events.ALL_PLAYERS_JOINED, T0).list is GameList.ACTIVE
    back = full.without_player("u2", T0 + 9)
    assert back.list is GameList.LOBBY
    assert back.players == ("c1",)
    assert back.last_updated == T0 + 9


@pytest.mark.parametrize(
    ("state", "seconds"),
    [
        (events.CREATED, 60),
        (events.CREATOR_JOINED, 60),
        (events.ALL_PLAYERS_JOINED, 600),
        (events.IN_PROGRESS, 1200),
        (events.ENDED, 300),
    ],
)
def test_expiry_times_of_the_spec(state, seconds):
    assert EXPIRY_SECONDS[state] == seconds
    game = Game.from_dict({**new_game().to_dict(), "state": state})
    assert not game.is_expired(T0 + seconds - 0.001)
    assert game.is_expired(T0 + seconds)


def test_join_rules():
    created = new_game()
    lobby = created.with_state(events.CREATOR_JOINED, T0)
    with pytest.raises(JoinRefused, match="own game"):
        check_can_join(lobby, "c1")
    with pytest.raises(JoinRefused, match="not open"):
        check_can_join(created, "u2")
    full = lobby.with_player("u2", T0)
    with pytest.raises(JoinRefused, match="already joined"):
        check_can_join(full, "u2")
    with pytest.raises(JoinRefused, match="full"):
        check_can_join(full, "u3")
    check_can_join(lobby, "u2")


def test_num_players_from_settings():
    three = Product("big", "http://gs", "gs:1", {"num_players": 3})
    game = Game.new(three, creator_id="c", creator_name="C", token="t", now=T0)
    game = game.with_state(events.CREATOR_JOINED, T0).with_player("u2", T0)
    assert not game.is_full and game.list is GameList.LOBBY
    assert game.with_player("u3", T0).is_full


def test_curation_action():
    lobby = new_game().with_state(events.CREATOR_JOINED, T0)
    assert curation_action(lobby, T0 + 59) is None
    assert curation_action(lobby, T0 + 60) is CurationAction.PURGE  # nobody came
    full = lobby.with_player("u2", T0)
    assert curation_action(full, T0 + 60) is CurationAction.RESET  # joined, never connected
    playing = full.with_state(events.ALL_PLAYERS_JOINED, T0)
    assert curation_action(playing, T0 + 60) is None
    assert curation_action(playing, T0 + 600) is CurationAction.PURGE
    assert curation_action(new_game(), T0 + 60) is CurationAction.PURGE


def test_reset_keeps_only_the_creator():
    full = new_game().with_state(events.CREATOR_JOINED, T0).with_player("u2", T0)
    reset = full.reset(T0 + 70)
    assert reset.players == ("c1",)
    assert reset.state == events.CREATOR_JOINED
    assert reset.list is GameList.LOBBY
    assert not reset.is_expired(T0 + 70)
