"""How much each part of a fuzz run does: the full run (`make fuzz`) and the short seeded one that
`make test` runs (`make test-fuzz`, at most 2 minutes on the project's 2-core machine)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    examples: int  # schemathesis examples per operation and generation mode (positive, negative)
    stateful_examples: int  # stateful scenarios per document with links
    stateful_steps: int  # at most this many calls per scenario
    ws_games: int  # fuzzed games (each: a seated socket fed frames until it is closed)
    ws_batches: int  # batches of frames per fuzzed socket
    ws_batch_frames: int  # frames per batch
    quiet_games: int  # games played to the end while the fuzzing goes on
    flooders: int  # sockets flooding while the round trip is measured
    probes: int  # round trips measured
    poison: bool  # run the stream poison step of make chaos
    check_round_trip: bool  # the round-trip goal is checked (full run) or only shown (short run)


FULL = Sizes(
    examples=150,
    stateful_examples=60,
    stateful_steps=6,
    ws_games=120,
    ws_batches=6,
    ws_batch_frames=12,
    quiet_games=4,
    flooders=4,
    probes=200,
    poison=True,
    check_round_trip=True,
)
SHORT = Sizes(
    examples=6,
    stateful_examples=4,
    stateful_steps=4,
    ws_games=8,
    ws_batches=2,
    ws_batch_frames=8,
    quiet_games=1,
    flooders=4,
    probes=40,
    poison=True,
    check_round_trip=False,  # make test may run on a loaded machine: shown, not checked
)
SIZES = {"full": FULL, "short": SHORT}
