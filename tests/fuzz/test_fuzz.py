"""`make test-fuzz`: the fuzzer's model of the player protocol, its frames, and the short seeded run
of `make fuzz` (python -m tools.fuzz --size short: the same code, small sizes, a fixed seed)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tools.fuzz.ws import INVALID, MALFORMED, MAX_FRAME, Frames, SeatState, expected

ROOT = Path(__file__).resolve().parents[2]
SHORT_RUN_SECONDS = 150  # the whole short run, stack and poison step included (about 50 s)


@pytest.mark.parametrize(
    ("frame", "answer"),
    [
        ("{", [("error", MALFORMED)]),
        ("[" * 5000, [("error", MALFORMED)]),  # deeper than the parser goes
        ("1" * 4400, [("error", MALFORMED)]),  # more digits than Python converts
        (b"\x00\x01", [("error", MALFORMED)]),  # binary
        ("[]", [("error", MALFORMED)]),
        ('{"type": 5}', [("error", MALFORMED)]),
        ('{"type": "teleport"}', []),  # unknown types are ignored
        ('{"type": "select_weapon", "index": 1}', []),  # valid, but no battle
        ('{"type": "select_weapon", "index": 1.0}', [("error", INVALID)]),
        ('{"type": "select_weapon", "index": true}', [("error", INVALID)]),
        ('{"type": "select_weapon", "index": NaN}', [("error", INVALID)]),
        ('{"type": "select_fighter", "characterId": "nobody"}', [("error", INVALID)]),
        ('{"type": "start_battle"}', [("error", INVALID)]),  # no fighter yet
    ],
)
def test_the_protocol_model_answers_one_frame(frame: str | bytes, answer: list[object]) -> None:
    assert expected(frame, SeatState()) == answer


def test_the_protocol_model_follows_the_seat() -> None:
    state = SeatState()
    assert expected('{"type": "select_fighter", "characterId": "aru"}', state) == [
        ("fighter", "aru")
    ]
    assert expected('{"type": "start_battle"}', state) == []  # ready now
    assert state.ready
    assert expected('{"type": "select_fighter", "characterId": "mai"}', state) == []  # locked


def test_frames_are_seeded_and_within_the_size_limit() -> None:
    one, two = Frames(random.Random(3)), Frames(random.Random(3))
    again = [one.frame() for _ in range(400)]
    assert again == [two.frame() for _ in range(400)]  # the same seed, the same frames
    assert all(len(f if isinstance(f, bytes) else f.encode()) <= MAX_FRAME for f in again)
    texts = [f for f in again if isinstance(f, str)]
    assert any(isinstance(json.loads(t) if _json(t) else None, dict) for t in texts)
    assert any(not _json(t) for t in texts) and any(isinstance(f, bytes) for f in again)


def _json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def test_the_short_seeded_fuzz_run_passes(tmp_path: Path) -> None:
    """A private stack fuzzed over HTTP (every document) and the WebSocket, then the stream poison
    step; the summary is printed (pytest -s) and kept in the run directory."""
    argv = [sys.executable, "-m", "tools.fuzz", "--size", "short", "--seed", "1"]
    argv += ["--run-dir", str(tmp_path)]
    done = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=SHORT_RUN_SECONDS, check=False
    )
    output = done.stdout + done.stderr
    (tmp_path / "fuzz-output.txt").write_text(output, encoding="utf-8")
    summary = output[output.find("fuzz: summary") :]
    print(summary)
    assert done.returncode == 0, output[-8000:]
    assert "every checked figure is as it must be" in output
    for api in ("matchmaker", "stats_tracker", "game control API", "page (/dev/token)"):
        assert f"http {api}" in summary
