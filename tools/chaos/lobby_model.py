"""The matchmaker's lobby under chaos: game scripts, their in-order outcome, the comparison.

A game script is what a game server writes for one game, in order, each event with its per-game
`seq` (1, 2, ...): the host connects (`creator_joined`), the guest connects
(`all_players_joined`), gameplay, the battle (`in_progress`), sometimes the guest drops
(`player_disconnect`) and connects again (`all_players_joined` again ...), and an ending: the game
is over and removed, over and kept (`ended`), still playing, or the host leaves (`game_removed`).
No script ends in a state that expires within a chaos step (created or creator_joined), so
curation has no reason to touch a game whose events were applied in order.

`expected_game` applies a game's events in `seq` order with the matchmaker's own code: the change
rules of its events worker (`matchmaker.events_worker`) over the game model (`matchmaker.games`).
`compare` reads every game back from the matchmaker's repository and lists those whose state,
players or list differ from that in-order outcome.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import redis
from matchmaker.games import Game, GameList, Product
from matchmaker.repository import DELETE, GameRepository

from matchmaker import events_worker as rules
from varcade_workers import events

PRODUCT_ID = "exrps"
FIGHTERS = ("aru", "man", "hog", "rad", "mai")
ENDINGS = ("removed", "removed", "ended", "in_progress", "all_players_joined", "host_left")


@dataclass(frozen=True)
class GameScript:
    game_id: str
    host: str
    guest: str
    events: tuple[events.Event, ...]  # seq 1, 2, ... in order


def new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def game_script(
    rng: random.Random,
    product_id: str = PRODUCT_ID,
    *,
    rejoins: int | None = None,
    ending: str | None = None,
) -> GameScript:
    """One game's events as its game server writes them (seq set), with random detours:
    `rejoins` times the guest drops and connects again (random 0-2 when None), and one of
    `ENDINGS` (random when None)."""
    game_id = new_id(rng)
    host, guest = f"host-{game_id[:8]}", f"guest-{game_id[:8]}"
    script: list[events.Event] = []

    def add(cls: Callable[..., events.Event], *args: object) -> None:
        script.append(cls(product_id, game_id, *args, seq=len(script) + 1))

    def battle(exchanges: int) -> None:
        add(events.RoundStarted, host, guest)
        for _ in range(exchanges):
            add(events.WeaponSelected, host, rng.choice((*events.WEAPONS, None)))
            add(events.WeaponSelected, guest, rng.choice((*events.WEAPONS, None)))

    add(events.StateChange, events.CREATOR_JOINED)
    add(events.FighterSelected, host, rng.choice(FIGHTERS))
    add(events.StateChange, events.ALL_PLAYERS_JOINED)
    add(events.FighterSelected, guest, rng.choice(FIGHTERS))
    ending = ending or rng.choice(ENDINGS)
    if ending == "all_players_joined":
        return GameScript(game_id, host, guest, tuple(script))
    add(events.PlayerReady, host)
    add(events.PlayerReady, guest)
    add(events.StateChange, events.IN_PROGRESS)
    battle(rng.randint(0, 2))
    for _ in range(rng.choice((0, 1, 1, 2)) if rejoins is None else rejoins):
        add(events.PlayerDisconnect, guest)
        add(events.StateChange, events.ALL_PLAYERS_JOINED)
        add(events.PlayerReady, guest)
        add(events.StateChange, events.IN_PROGRESS)
        battle(rng.randint(0, 2))
    if ending in ("removed", "ended"):
        add(events.RoundFinished, host, guest, host, guest)
        add(events.GameOver, host, guest)
        add(events.StateChange, events.ENDED)
        if ending == "removed":
            add(events.GameRemoved)
    elif ending == "host_left":
        add(events.GameRemoved)
    return GameScript(game_id, host, guest, tuple(script))


def interleave(rng: random.Random, scripts: Sequence[GameScript]) -> list[events.Event]:
    """Every script's events in one stream order: each game keeps its own order, and its events
    are spread over a random part (30 to 90 %) of the whole run, overlapping the other games."""
    timed: list[tuple[float, int, int, events.Event]] = []
    for index, script in enumerate(scripts):
        span = rng.uniform(0.3, 0.9)
        start = rng.uniform(0.0, 1.0 - span)
        moments = sorted(rng.uniform(start, start + span) for _ in script.events)
        for moment, event in zip(moments, script.events, strict=True):
            timed.append((moment, index, event.seq or 0, event))
    timed.sort(key=lambda t: t[:3])
    return [t[3] for t in timed]


def initial_game(script: GameScript, product: Product, now: float) -> Game:
    """The game as the matchmaker holds it once the guest joined through it (state created)."""
    game = Game.new(
        product,
        creator_id=script.host,
        creator_name=script.host,
        token=script.game_id.replace("-", ""),
        now=now,
        game_id=script.game_id,
    )
    return dataclasses.replace(game, players=(script.host, script.guest))


def store_games(repository: GameRepository, games: Iterable[Game]) -> int:
    count = 0
    for game in games:
        repository.create(game)
        count += 1
    return count


def store_initial_games(
    repository: GameRepository, scripts: Iterable[GameScript], product: Product, now: float
) -> dict[str, Game]:
    """Each script's `initial_game` stored in `repository`; answers them by game id."""
    initial = {s.game_id: initial_game(s, product, now) for s in scripts}
    store_games(repository, initial.values())
    return initial


# -- in-order application ------------------------------------------------------------------------


def apply_event(game: Game | None, event: events.Event, now: float) -> Game | None:
    """One event through the events worker's own change rules; None: the game is gone."""
    notes: dict[str, str] = {}
    if isinstance(event, events.StateChange):
        change = rules._state_change(event.new_state, now, notes)
    elif isinstance(event, events.GameRemoved):
        change = rules._game_removed(notes)
    elif isinstance(event, events.PlayerDisconnect):
        change = rules._player_disconnect(event.player_id, now, notes)
    else:
        return game  # gameplay and game_over do not touch the lobby
    outcome = change(game)
    if outcome is None:
        return game
    if outcome is DELETE:
        return None
    assert isinstance(outcome, Game)
    return outcome


def expected_game(initial: Game, game_events: Iterable[events.Event], now: float) -> Game | None:
    """The game after its events in seq order (stream order for events without seq)."""
    ordered = sorted(game_events, key=lambda e: e.seq or 0)
    game: Game | None = initial
    for event in ordered:
        game = apply_event(game, event, now)
    return game


@dataclass(frozen=True)
class LobbyState:
    """What a player can see of a game in the lobby: its state, players and list."""

    state: str
    players: tuple[str, ...]
    lists: tuple[str, ...]

    @classmethod
    def of(cls, game: Game | None) -> LobbyState | None:
        if game is None:
            return None
        return cls(game.state, game.players, (game.list.value,))

    def describe(self) -> str:
        return f"{self.state} players={list(self.players)} lists={list(self.lists)}"


def stored_state(repository: GameRepository, product_id: str, game_id: str) -> LobbyState | None:
    """The game as stored, with the lists that really hold its id (not the ones it should be in)."""
    game = repository.get(product_id, game_id)
    pipe = repository.redis.pipeline(transaction=False)
    for which in GameList:
        pipe.zscore(repository.list_key(product_id, which), game_id)
    lists = tuple(w.value for w, s in zip(GameList, pipe.execute(), strict=True) if s is not None)
    if game is None:
        return None if not lists else LobbyState("(deleted)", (), lists)
    return LobbyState(game.state, game.players, lists)


@dataclass(frozen=True)
class WrongGame:
    game_id: str
    expected: LobbyState | None
    actual: LobbyState | None

    def describe(self) -> str:
        want = self.expected.describe() if self.expected else "deleted"
        got = self.actual.describe() if self.actual else "deleted"
        return f"{self.game_id}: expected {want}; found {got}"


def compare(
    repository: GameRepository,
    initial: Mapping[str, Game],
    stream_events: Iterable[events.Event],
    now: float,
) -> list[WrongGame]:
    """Every game of `initial` whose stored lobby state differs from its in-order outcome."""
    by_game: dict[str, list[events.Event]] = {game_id: [] for game_id in initial}
    for event in stream_events:
        if event.game_id in by_game:
            by_game[event.game_id].append(event)
    wrong: list[WrongGame] = []
    for game_id, game in initial.items():
        expected = LobbyState.of(expected_game(game, by_game[game_id], now))
        actual = stored_state(repository, game.product_id, game_id)
        if expected != actual:
            wrong.append(WrongGame(game_id, expected, actual))
    return wrong


def repository_for(client: redis.Redis) -> GameRepository:
    return GameRepository(client)
