"""The five fighters of Rock Paper Scissors Apocalypse: one table shared by the engine and the page.

The page server hands `fighters_json()` to the browser, so the numbers a player reads are the
numbers the engine fights with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WEAPON_NAMES: tuple[str, str, str] = ("rock", "paper", "scissors")


@dataclass(frozen=True)
class WeaponStats:
    """One weapon of one fighter: what it deals, its bonus when it wins, what it absorbs."""

    base: float
    modifier: float
    mitigation: float


@dataclass(frozen=True)
class Fighter:
    """A playable character; `weapons` is indexed by weapon (0 rock, 1 paper, 2 scissors)."""

    id: str
    name: str
    health: float
    weapons: tuple[WeaponStats, WeaponStats, WeaponStats]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "health": self.health,
            "weapons": [
                {
                    "id": index,
                    "name": WEAPON_NAMES[index],
                    "base": stats.base,
                    "modifier": stats.modifier,
                    "mitigation": stats.mitigation,
                }
                for index, stats in enumerate(self.weapons)
            ],
        }


def _fighter(
    fighter_id: str, name: str, health: float, *stats: tuple[float, float, float]
) -> Fighter:
    rock, paper, scissors = (WeaponStats(*s) for s in stats)
    return Fighter(fighter_id, name, health, (rock, paper, scissors))


# The spec's table: health; base/modifier/mitigation for rock, paper, scissors.
FIGHTERS: dict[str, Fighter] = {
    f.id: f
    for f in (
        _fighter("aru", "Aru", 100, (25, 0, 0.2), (25, 0.3, 0), (25, 0, 0)),
        _fighter("man", "Man", 100, (25, 0, 0), (25, 0, 0.1), (25, 0.4, 0)),
        _fighter("hog", "Hog", 100, (25, 0.1, 0), (25, 0.1, 0.1), (25, 0, 0.2)),
        _fighter("rad", "Rad", 120, (20, 0.1, 0), (20, 0, 0), (20, 0, 0.4)),
        _fighter("mai", "Mai", 120, (20, 0, 0.1), (20, 0, 0.2), (20, 0, 0.2)),
    )
}


def fighters_json() -> list[dict[str, Any]]:
    """The fighter table for the browser, in the spec's order."""
    return [f.to_json() for f in FIGHTERS.values()]
