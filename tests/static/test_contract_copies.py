"""The repository's copies of the shared contract documents only ADD to the originals beside it.

A copy may carry additions (new lines anywhere: a field, a bound, a probe this repository added to
the contract), but every line of the original must still be in the copy, unchanged and in the same
order: the original's lines are a subsequence of the copy's. The only exceptions are the lines
named in ALLOWED_CHANGES.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from conftest import CONTRACT_COPIES, ROOT

DOCUMENTS = ("VARCADE_SPEC.md", "CONVENTIONS.md", "ACTION_PINS.md")

# Lines of an original that a copy may change or leave out, per document: {original line: reason}.
# Each entry must name the issue that decided it (e.g. "issue #123: the port moved to 8081"); an
# entry without one is not a reason. Empty: the copies only add.
ALLOWED_CHANGES: dict[str, dict[str, str]] = {
    "VARCADE_SPEC.md": {
        "Connect to `ws://<host>:8085/?game_token=<token>&user_id=<id>`. Refused connections are "
        "closed with: 1000 when": (
            "issue 13: seat credential: the connect line gains seat_token (the player's own, from "
            "the matchmaker's seat_token answer), without which a game token holder could sit in "
            "either seat; game_token and user_id are kept"
        ),
        "token or user id is missing or unknown; 4000 when the second player connects before the "
        "host; 4001 when a player": (
            "issue 13: seat credential: a missing, unknown or wrong seat token is refused like an "
            "unknown token (1000, the same reason), and 4000/4001 go only to the holder of the "
            "right seat token, so that close codes tell nothing about who is seated"
        ),
    },
}

REFRESH = (
    "bring the copy up to date with ../shared/{name} without losing the repository's additions "
    "(diff ../shared/{name} docs/contract/{name} must show only added lines), or name the change "
    "in ALLOWED_CHANGES with its issue"
)


def missing_lines(
    original: str, copy: str, allowed: Iterable[str] = ()
) -> list[tuple[int, str, int]]:
    """The original's lines that are not in the copy in the original's order, as
    ``(original line number, line, copy line number after which it was looked for)``; lines in
    ``allowed`` may be missing. Empty when the copy only adds lines."""
    allowed = set(allowed)
    copy_lines = copy.splitlines()
    missing = []
    position = 0  # the next copy line that can match (greedy matching finds a subsequence if any)
    for number, line in enumerate(original.splitlines(), 1):
        try:
            found = copy_lines.index(line, position)
        except ValueError:
            if line not in allowed:
                missing.append((number, line, position))
            continue
        position = found + 1
    return missing


def describe(name: str, missing: list[tuple[int, str, int]], limit: int = 10) -> str:
    lines = [
        f"docs/contract/{name} drops or changes {len(missing)} line(s) of ../shared/{name} "
        "(a copy may only add lines):"
    ]
    for number, line, after in missing[:limit]:
        lines.append(f"  original line {number} (not found after copy line {after}): {line!r}")
    if len(missing) > limit:
        lines.append(f"  ... and {len(missing) - limit} more")
    lines.append(REFRESH.format(name=name))
    return "\n".join(lines)


def check_copy(name: str, original: Path, copy: Path, allowed: Mapping[str, str]) -> None:
    missing = missing_lines(
        original.read_text(encoding="utf-8"), copy.read_text(encoding="utf-8"), allowed
    )
    assert not missing, describe(name, missing)


@pytest.mark.parametrize("name", DOCUMENTS)
def test_copy_only_adds_to_shared(name: str) -> None:
    original = ROOT.parent / "shared" / name
    copy = CONTRACT_COPIES / name
    assert copy.is_file(), f"{copy} is missing: cp ../shared/{name} docs/contract/"
    if not original.is_file():
        # Only a checkout without ../shared (GitHub Actions) gets here; the copy is all there is.
        assert copy.read_text(encoding="utf-8").strip()
        return
    check_copy(name, original, copy, ALLOWED_CHANGES.get(name, {}))


def test_allowed_changes_name_their_issue() -> None:
    for name, changes in ALLOWED_CHANGES.items():
        assert name in DOCUMENTS, name
        for line, reason in changes.items():
            assert "issue" in reason.lower() and reason.strip() != line.strip(), (name, line)


# -- the check itself, on temporary copies -------------------------------------------------------

ORIGINAL = "# Title\n\nline one\nline two\n\n## Section\nline three\n"


def _files(tmp_path: Path, copy: str) -> tuple[Path, Path]:
    original_path, copy_path = tmp_path / "original.md", tmp_path / "copy.md"
    original_path.write_text(ORIGINAL, encoding="utf-8")
    copy_path.write_text(copy, encoding="utf-8")
    return original_path, copy_path


def test_additions_anywhere_pass(tmp_path: Path) -> None:
    added = "# Title\nadded first\n\nline one\nadded\n\nline two\n\n## Section\nline three\nend\n"
    check_copy("X.md", *_files(tmp_path, added), {})


def test_a_removed_original_line_fails_and_is_named(tmp_path: Path) -> None:
    removed = ORIGINAL.replace("line two\n", "")
    with pytest.raises(AssertionError) as failure:
        check_copy("X.md", *_files(tmp_path, removed), {})
    message = str(failure.value)
    assert "original line 4 (not found after copy line 3): 'line two'" in message
    assert "diff ../shared/X.md docs/contract/X.md" in message


def test_a_changed_or_moved_original_line_fails(tmp_path: Path) -> None:
    changed = ORIGINAL.replace("line two", "line 2")
    assert missing_lines(ORIGINAL, changed) == [(4, "line two", 3)]
    moved = "# Title\n\nline two\nline one\n\n## Section\nline three\n"
    assert [number for number, _, _ in missing_lines(ORIGINAL, moved)] == [4]


def test_a_change_named_in_allowed_changes_passes(tmp_path: Path) -> None:
    changed = ORIGINAL.replace("line two\n", "line 2\n")
    check_copy("X.md", *_files(tmp_path, changed), {"line two": "issue #1: renamed"})


def test_the_real_copies_fail_when_an_original_line_is_removed(tmp_path: Path) -> None:
    """The check on a temporary copy of each real document, one original line removed."""
    for name in DOCUMENTS:
        source = CONTRACT_COPIES / name
        original = ROOT.parent / "shared" / name
        if not original.is_file():
            original = source  # a checkout without ../shared: the copy stands in for it
        lines = original.read_text(encoding="utf-8").splitlines(keepends=True)
        victim = next(i for i, line in enumerate(lines) if len(line.strip()) > 20)
        copy_lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
        del copy_lines[copy_lines.index(lines[victim])]
        copy = tmp_path / name
        copy.write_text("".join(copy_lines), encoding="utf-8")
        with pytest.raises(AssertionError, match=f"original line {victim + 1} "):
            check_copy(name, original, copy, {})
