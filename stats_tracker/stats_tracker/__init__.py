"""Varcade Games stats tracker: leaderboards and player stats built from the game event stream."""
