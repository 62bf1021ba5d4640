"""Scoring rules and the Elo math, without Redis."""

import pytest
from stats_tracker.scoring import (
    ELO_INITIAL_RATING,
    Board,
    EloScoring,
    WinsScoring,
    elo_update,
    expected_score,
    make_scoring,
)


def test_expected_score_is_a_half_between_equals_and_sums_to_one():
    assert expected_score(1200, 1200) == pytest.approx(0.5)
    assert expected_score(1500, 1100) + expected_score(1100, 1500) == pytest.approx(1.0)


def test_expected_score_of_400_points_stronger_is_ten_to_one():
    assert expected_score(1400, 1000) == pytest.approx(10 / 11)


def test_elo_update_between_equals_moves_half_the_k_factor():
    assert elo_update(1000, 1000, 32) == pytest.approx((1016, 984))


def test_elo_update_is_zero_sum_and_rewards_the_underdog_more():
    upset = elo_update(1000, 1400, 32)
    expected = elo_update(1400, 1000, 32)
    assert sum(upset) == pytest.approx(2400)
    assert sum(expected) == pytest.approx(2400)
    assert upset[0] - 1000 == pytest.approx(32 * 10 / 11)
    assert expected[0] - 1400 == pytest.approx(32 * 1 / 11)


def test_elo_update_uses_the_k_factor():
    assert elo_update(1000, 1000, 10) == pytest.approx((1005, 995))


def test_wins_scoring_gives_the_winner_one_and_lists_the_loser():
    board = Board()
    WinsScoring().score_game(board, "alice", "bob")
    WinsScoring().score_game(board, "alice", "carol")
    assert board.increments == {"alice": 2.0, "bob": 0.0, "carol": 0.0}
    assert board.assignments == {}


def test_elo_scoring_starts_new_players_at_the_initial_rating():
    board = Board({"alice": None, "bob": None})
    EloScoring().score_game(board, "alice", "bob")
    assert board.assignments == pytest.approx(
        {"alice": ELO_INITIAL_RATING + 16, "bob": ELO_INITIAL_RATING - 16}
    )


def test_elo_scoring_chains_games_of_one_batch():
    board = Board({"alice": 1000.0, "bob": 1000.0})
    scoring = EloScoring(k_factor=32)
    scoring.score_game(board, "alice", "bob")
    scoring.score_game(board, "alice", "bob")
    first = elo_update(1000, 1000)
    second = elo_update(*first)
    assert board.score("alice") == pytest.approx(second[0])
    assert board.score("bob") == pytest.approx(second[1])


def test_board_refuses_to_guess_a_score_it_did_not_load():
    with pytest.raises(KeyError):
        Board().score("alice")


def test_board_adds_to_an_assigned_score_and_set_replaces_an_increment():
    board = Board({"alice": 5.0})
    board.add("alice", 1)
    assert board.score("alice") == 6.0
    board.set("alice", 10)
    board.add("alice", 2)
    assert board.increments == {}
    assert board.assignments == {"alice": 12}


def test_make_scoring_knows_wins_and_elo_only():
    assert isinstance(make_scoring("wins"), WinsScoring)
    assert isinstance(make_scoring("elo"), EloScoring)
    with pytest.raises(ValueError, match="glicko"):
        make_scoring("glicko")
