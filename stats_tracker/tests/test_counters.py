"""Per-product counters and what a batch of events changes, without Redis."""

import pytest
from stats_tracker.player_stats import BASE_COUNTERS, EXRPS_COUNTERS, counters_for
from stats_tracker.products import build_products
from stats_tracker.scoring import elo_update
from stats_tracker.updates import BatchUpdate, has_effect, players_to_load

from varcade_workers import events

PRODUCTS = build_products({"exrps": "wins", "rated": "elo"})


def test_every_product_counts_games_wins_losses_and_exrps_its_weapons():
    assert counters_for("anything").names == ("games", "wins", "losses")
    assert EXRPS_COUNTERS.names == (
        *BASE_COUNTERS,
        "rock_selection_count",
        "paper_selection_count",
        "scissors_selection_count",
        "botch_selection_count",
    )


@pytest.mark.parametrize(
    ("weapon", "counter"),
    [
        (events.ROCK, "rock_selection_count"),
        (events.PAPER, "paper_selection_count"),
        (events.SCISSORS, "scissors_selection_count"),
        (None, "botch_selection_count"),
        (7, None),
    ],
)
def test_exrps_weapon_counters(weapon, counter):
    assert EXRPS_COUNTERS.weapon_counter(weapon) == counter


def test_only_game_over_and_counted_weapons_have_an_effect():
    exrps, rated = PRODUCTS["exrps"], PRODUCTS["rated"]
    assert has_effect(events.GameOver("exrps", "g", "a", "b"), exrps)
    assert has_effect(events.WeaponSelected("exrps", "g", "a", None), exrps)
    assert not has_effect(events.WeaponSelected("rated", "g", "a", 1), rated)
    for ignored in (
        events.StateChange("exrps", "g", events.CREATOR_JOINED),
        events.FighterSelected("exrps", "g", "a", "aru"),
        events.PlayerReady("exrps", "g", "a"),
        events.RoundStarted("exrps", "g", "a", "b"),
        events.RoundFinished("exrps", "g", "a", "b", "a", "b"),
        events.PlayerDisconnect("exrps", "g", "b"),
        events.GameRemoved("exrps", "g"),
        events.UnknownEvent("exrps", "g", "tournament_started", {}),
    ):
        assert not has_effect(ignored, exrps)


def test_players_to_load_lists_only_read_modify_write_products():
    batch = [
        events.GameOver("exrps", "g1", "a", "b"),
        events.GameOver("rated", "g2", "c", "d"),
        events.GameOver("rated", "g3", "c", "e"),
    ]
    assert players_to_load(batch, PRODUCTS) == {"rated": {"c", "d", "e"}}


def test_batch_update_tallies_counters_and_scores():
    update = BatchUpdate({"rated": {"c": 1000.0, "d": None}})
    for event in [
        events.WeaponSelected("exrps", "g1", "a", events.ROCK),
        events.WeaponSelected("exrps", "g1", "b", None),
        events.WeaponSelected("exrps", "g1", "a", events.ROCK),
        events.GameOver("exrps", "g1", "a", "b"),
        events.GameOver("rated", "g2", "c", "d"),
    ]:
        update.apply(event, PRODUCTS[event.product_id])
    assert update.counters["exrps", "a"] == {"rock_selection_count": 2, "games": 1, "wins": 1}
    assert update.counters["exrps", "b"] == {"botch_selection_count": 1, "games": 1, "losses": 1}
    assert update.counters["rated", "c"] == {"games": 1, "wins": 1}
    assert update.boards["exrps"].increments == {"a": 1.0, "b": 0.0}
    assert update.boards["rated"].assignments == pytest.approx(
        dict(zip(("c", "d"), elo_update(1000, 1000), strict=True))
    )
