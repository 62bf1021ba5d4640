"""Step 6, poison: the fuzzer's entries among valid events, then the dead-letters CLI on them.

Both workers run with their defaults. The stream gets, in one random order: valid `game_over`
events (each between two players of its own, on the wins and the Elo product), the lifecycle
events of some lobby games, the poison entries of `poison.poison_entries` (every kind, a 4 MiB
field among them), and one targeted forgery: a `game_over` of other players whose `_replay_of`
names a later valid entry, addressed to the stats tracker's group (entry ids are written
explicitly, so that later id is known).

Checked: every valid event applied once (stats counters, lobby states), every malformed entry
dead-lettered by each group, nothing left pending, and the dead-letters CLI (`list --fields`,
`replay --ids`, `purge --all`) exits 0. Shown: what the forged entries did.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import redis
from matchmaker.events_worker import GROUP as MATCHMAKER_GROUP
from stats_tracker.events_worker import GROUP as STATS_GROUP

from tools.chaos import ROOT, lobby_model
from tools.chaos.context import (
    ELO_PRODUCT,
    MATCHMAKER_WORKER,
    STATS_WORKER,
    WINS_PRODUCT,
    Arcade,
    ChaosRun,
)
from tools.chaos.groups import DEAD_STREAM, STREAM, wait_consumed
from tools.chaos.poison import REPLAY_GROUP, REPLAY_OF, Expect, poison_entries
from tools.chaos.report import StepResult, must, must_be, shown
from tools.chaos.stream_io import raw_client
from varcade_workers import events

STEP = "6-poison"
TITLE = "poison entries and the dead-letters CLI"
VALID_GAME_OVERS = 200
LOBBY_GAMES = 30
POISON_ENTRIES = 64
CONSUME_TIMEOUT = 60.0
CLI_TIMEOUT = 120.0


@dataclass
class Planned:
    """One entry to write: its fields (bytes), what it is, and its id once chosen."""

    fields: dict[bytes, bytes]
    what: str  # "valid", "lobby", a poison kind, or "forged_target"
    expect: Expect | None = None
    entry_id: str = ""


def _b(fields: dict[str, str]) -> dict[bytes, bytes]:
    return {k.encode(): v.encode() for k, v in fields.items()}


def plan_stream(
    ctx: ChaosRun, scripts: list[lobby_model.GameScript]
) -> tuple[list[Planned], list[tuple[str, str]]]:
    """The entries in stream order, ids set; and the valid games' (winner, loser) pairs."""
    rng = ctx.step_rng(STEP)
    valid: list[Planned] = []
    pairs: list[tuple[str, str]] = []
    for n in range(VALID_GAME_OVERS):
        product = WINS_PRODUCT if n % 2 else ELO_PRODUCT
        winner, loser = f"valid-{n}-w", f"valid-{n}-l"
        event = events.GameOver(product, lobby_model.new_id(rng), winner, loser, seq=1)
        valid.append(Planned(_b(event.to_fields()), "valid"))
        pairs.append((winner, loser))
    poison = [
        Planned(entry.fields, entry.kind, entry.expect)
        for entry in poison_entries(ctx.options.seed, POISON_ENTRIES)
    ]
    lobby = [Planned(_b(e.to_fields()), "lobby") for e in lobby_model.interleave(rng, scripts)]
    # Valid and poison entries at random places; the lobby games keep their own order.
    loose = valid + poison
    rng.shuffle(loose)
    total = len(loose) + len(lobby)
    lobby_slots = set(rng.sample(range(total), len(lobby)))
    lobby_iter, loose_iter = iter(lobby), iter(loose)
    out = [next(lobby_iter) if i in lobby_slots else next(loose_iter) for i in range(total)]
    # The forgery: just before a valid entry of the second half, claiming to be its replay.
    at = next(i for i in range(len(out) // 2, len(out)) if out[i].what == "valid")
    target = out[at]
    forged = events.GameOver(WINS_PRODUCT, "forged-game", "forged-w", "forged-l").to_fields()
    forgery = Planned(_b(forged), "forged_target", Expect.FORGED)
    out.insert(at, forgery)
    base = int(time.time() * 1000)
    for n, entry in enumerate(out):
        entry.entry_id = f"{base}-{n + 1}"
    forgery.fields[REPLAY_OF.encode()] = target.entry_id.encode()
    forgery.fields[REPLAY_GROUP.encode()] = STATS_GROUP.encode()
    return out, pairs


def write(raw: redis.Redis, planned: list[Planned], chunk: int = 50) -> None:
    for start in range(0, len(planned), chunk):
        pipe = raw.pipeline(transaction=False)
        for entry in planned[start : start + chunk]:
            pipe.xadd(STREAM, entry.fields, id=entry.entry_id)  # type: ignore[arg-type]
        pipe.execute()
        time.sleep(0.05)


def dead_letters(raw: redis.Redis) -> list[tuple[str, dict[bytes, bytes]]]:
    entries: Any = raw.xrange(DEAD_STREAM)
    return [(i.decode(), f) for i, f in entries]


def run_cli(args: list[str], url: str, out_path: os.PathLike[str]) -> tuple[int, str]:
    """`python -m varcade_workers dead-letters ...`; (exit status, first output lines)."""
    argv = [sys.executable, "-m", "varcade_workers", "dead-letters", *args]
    argv += ["--stream", STREAM, "--redis", url]
    with open(out_path, "wb") as out:
        try:
            code = subprocess.run(
                argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, timeout=CLI_TIMEOUT
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
    with open(out_path, "rb") as produced:
        head = produced.read(600).decode(errors="replace").splitlines()[:3]
    return code, " / ".join(line[:150] for line in head)


def stats_of(data: redis.Redis, user: str) -> dict[str, int]:
    for product in (WINS_PRODUCT, ELO_PRODUCT):
        values: Any = data.hgetall(f"player_stats:{product}:{user}")
        if values:
            return {str(k): int(v) for k, v in values.items()}
    return {}


def check(ctx: ChaosRun, arcade: Arcade, result: StepResult) -> None:
    say = ctx.sayer(STEP)

    rng = ctx.step_rng(STEP + ":lobby")
    scripts = [lobby_model.game_script(rng) for _ in range(LOBBY_GAMES)]
    planned, pairs = plan_stream(ctx, scripts)
    kinds = Counter(p.what for p in planned)
    say(
        f"{len(planned)} entries: {kinds['valid']} valid game_over, {kinds['lobby']} lobby "
        f"events of {LOBBY_GAMES} games, {POISON_ENTRIES} poison ("
        + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()) if k not in ("valid", "lobby"))
        + ")"
    )
    repository, initial = arcade.store_lobby_games(scripts, time.time())
    stream = arcade.stream
    raw = raw_client(stream)
    try:
        write(raw, planned)
        say("written; waiting for both groups to consume the stream")
        done, waited, states = wait_consumed(
            stream,
            [MATCHMAKER_GROUP, STATS_GROUP],
            timeout=CONSUME_TIMEOUT,
            on_wait=lambda s: say("waiting: " + "; ".join(p.describe() for p in s)),
            check=arcade.fleet.check_running,
        )
        say(f"consumed: {done} after {waited:.1f}s ({'; '.join(s.describe() for s in states)})")

        data = arcade.stats_data
        applied = doubled = 0
        for winner, loser in pairs:
            w, lo = stats_of(data, winner), stats_of(data, loser)
            if w.get("games") == 1 and w.get("wins") == 1 and lo.get("games") == 1:
                applied += 1
            if w.get("games", 0) > 1 or lo.get("games", 0) > 1:
                doubled += 1
        forged_counted = stats_of(data, "forged-w").get("games", 0)
        poison_counted = sum(1 for _ in data.scan_iter("player_stats:*:poison-*"))
        wrong = lobby_model.compare(
            repository,
            initial,
            [events.parse_event({k.decode(): v.decode() for k, v in p.fields.items()})
             for p in planned if p.what == "lobby"],
            time.time(),
        )  # fmt: skip
        dead = dead_letters(raw)
        by_group: dict[str, set[str]] = {MATCHMAKER_GROUP: set(), STATS_GROUP: set()}
        for _, fields in dead:
            group = fields.get(b"dl_group", b"").decode(errors="replace")
            original = fields.get(b"dl_original_id", b"").decode(errors="replace")
            by_group.setdefault(group, set()).add(original)
        malformed = [p.entry_id for p in planned if p.expect is Expect.MALFORMED]
        rejected = [p.entry_id for p in planned if p.expect is Expect.STATS_REJECTS]
        missed = {
            MATCHMAKER_GROUP: [i for i in malformed if i not in by_group[MATCHMAKER_GROUP]],
            STATS_GROUP: [i for i in malformed + rejected if i not in by_group[STATS_GROUP]],
        }
        pending = sum(s.pending for s in states)
        say(
            f"valid game_over applied {applied}/{len(pairs)} (double {doubled}); wrong lobby "
            f"games {len(wrong)}/{len(initial)}; dead-lettered: matchmaker "
            f"{len(by_group[MATCHMAKER_GROUP])}, stats_tracker {len(by_group[STATS_GROUP])}; "
            f"malformed not dead-lettered: matchmaker {len(missed[MATCHMAKER_GROUP])}, "
            f"stats_tracker {len(missed[STATS_GROUP])}; pending {pending}"
        )
        say(
            f"forged replay of a later valid entry counted: {forged_counted}; players of "
            f"other poison entries in the stats: {poison_counted}"
        )
        for game in wrong[:3]:
            say(f"wrong game {game.describe()}")
        result.add(must_be("valid game_over applied", applied, len(pairs)))
        result.add(must_be("valid game_over double-counted", doubled))
        result.add(must_be("wrong lobby games", len(wrong)))
        result.add(must_be("entries left pending", pending))
        result.add(
            shown(
                "entries dead-lettered",
                f"matchmaker {len(by_group[MATCHMAKER_GROUP])}, "
                f"stats_tracker {len(by_group[STATS_GROUP])}",
            )
        )
        result.add(
            must_be("malformed entries not dead-lettered", sum(len(m) for m in missed.values()))
        )
        result.add(shown("forged replay (of a later entry) counted", str(forged_counted)))

        # The dead-letters CLI on what the workers dead-lettered.
        url = arcade.config.redis_db(arcade.config.stream_db)
        out_dir = ctx.run_dir / STEP
        codes: list[str] = []
        ok = True
        list_code, head = run_cli(["list", "--fields"], url, out_dir / "dead-letters-list.txt")
        say(f"dead-letters list --fields: exit {list_code}: {head}")
        codes.append(f"list {list_code}")
        ok &= list_code == 0
        stats_dead = [i for i, f in dead if f.get(b"dl_group") == STATS_GROUP.encode()][:2]
        if stats_dead:
            code, head = run_cli(
                ["replay", "--ids", *stats_dead], url, out_dir / "dead-letters-replay.txt"
            )
            say(f"dead-letters replay --ids {' '.join(stats_dead)}: exit {code}: {head}")
            codes.append(f"replay {code}")
            ok &= code == 0
            again, waited, states = wait_consumed(
                stream, [MATCHMAKER_GROUP, STATS_GROUP], timeout=20
            )
            say(f"replayed entries consumed: {again} after {waited:.1f}s")
        code, head = run_cli(["purge", "--all"], url, out_dir / "dead-letters-purge.txt")
        say(f"dead-letters purge --all: exit {code}: {head}")
        codes.append(f"purge {code}")
        ok &= code == 0
        left = raw.xlen(DEAD_STREAM)
        code, head = run_cli(["list"], url, out_dir / "dead-letters-list-after.txt")
        codes.append(f"list {code}")
        ok &= code == 0
        say(f"dead letters left after purge: {left}; list: exit {code}: {head}")
        result.add(must("dead-letters CLI exit codes", ", ".join(codes), ok, "all 0"))
        result.add(must_be("dead letters left after purge --all", int(left)))
    finally:
        raw.close()


def run(ctx: ChaosRun) -> StepResult:
    result = StepResult(STEP, TITLE)
    with ctx.arcade(STEP, [MATCHMAKER_WORKER, STATS_WORKER]) as arcade:
        check(ctx, arcade, result)
    return result
