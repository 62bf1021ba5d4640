"""bump / pin / check-pins / tag against temporary copies of the repository."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from conftest import SERVICES, git

VERSION_LINE = re.compile(r'__version__ = "([^"]+)"')


def about_version(root: Path) -> str:
    text = (root / "varcade_workers/src/varcade_workers/__about__.py").read_text()
    match = VERSION_LINE.search(text)
    assert match
    return match.group(1)


def last_line(root: Path, service: str) -> str:
    return (root / service / "requirements.txt").read_text().splitlines()[-1]


def test_every_tool_has_help(bootstrap_repo, tool):
    for name in (
        "bump",
        "pin",
        "check_pins",
        "tag",
        "check_tag",
        "install_local",
        "local_wheels",
        "docker_requirements",
    ):
        result = tool(bootstrap_repo, name, "--help") if name != "docker_requirements" else None
        if result is None:
            import subprocess
            import sys

            result = subprocess.run(
                [
                    sys.executable,
                    str(bootstrap_repo / "tools/release/docker_requirements.py"),
                    "--help",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
        assert result.returncode == 0, name
        assert "usage:" in result.stdout


def test_bootstrap_warns_until_the_first_release_is_recorded(bootstrap_repo, tool):
    result = tool(bootstrap_repo, "check_pins")
    assert result.returncode == 0
    assert "make release-ledger" in result.stdout
    strict = tool(bootstrap_repo, "check_pins", "--require-release")
    assert strict.returncode == 1
    assert "make release-ledger" in strict.stderr


def test_first_release_records_current_version_and_pins_every_service(
    bootstrap_repo, tool, ledger_of
):
    before = {s: (bootstrap_repo / s / "requirements.txt").read_text() for s in SERVICES}
    result = tool(bootstrap_repo, "bump", "--current", "--date", "2026-11-25")
    assert result.returncode == 0, result.stderr
    assert about_version(bootstrap_repo) == "1.0.0"
    [entry] = ledger_of(bootstrap_repo)["releases"]
    assert entry["version"] == "1.0.0"
    assert entry["tag"] == "varcade-workers-v1.0.0"
    assert entry["wheel"] == "varcade_workers-1.0.0-py3-none-any.whl"
    assert "## 1.0.0 (2026-11-25)" in (bootstrap_repo / "varcade_workers/CHANGELOG.md").read_text()

    assert tool(bootstrap_repo, "pin").returncode == 0
    for service in SERVICES:
        text = (bootstrap_repo / service / "requirements.txt").read_text()
        assert text.startswith(before[service])  # third-party lines untouched
        assert last_line(bootstrap_repo, service) == (
            "varcade-workers @ https://github.com/varcade-games/varcade/releases/download/"
            f"varcade-workers-v1.0.0/varcade_workers-1.0.0-py3-none-any.whl#sha256={entry['sha256']}"
        )
    check = tool(bootstrap_repo, "check_pins", "--require-release")
    assert check.returncode == 0, check.stderr
    assert "agree" in check.stdout


def test_ledger_hash_is_the_wheel_the_build_script_makes(released_repo, ledger_of):
    import subprocess
    import sys

    out = released_repo / "out"
    subprocess.run(
        [sys.executable, str(released_repo / "tools/build_workers.py"), "--out", str(out)],
        cwd=released_repo,
        check=True,
        capture_output=True,
    )
    wheel = out / "varcade_workers-1.0.0-py3-none-any.whl"
    [entry] = ledger_of(released_repo)["releases"]
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == entry["sha256"]


def test_bump_patch_then_staged_rollout(released_repo, tool, ledger_of):
    first = ledger_of(released_repo)["releases"][0]
    result = tool(released_repo, "bump", "--part", "patch")
    assert result.returncode == 0, result.stderr
    assert about_version(released_repo) == "1.0.1"
    about = released_repo / "varcade_workers/src/varcade_workers/__about__.py"
    assert about.read_text() == '__version__ = "1.0.1"\n'  # the line ending survives (ruff W292)
    releases = ledger_of(released_repo)["releases"]
    assert [r["version"] for r in releases] == ["1.0.0", "1.0.1"]
    assert releases[0] == first  # an old entry never changes
    assert releases[1]["sha256"] != first["sha256"]
    # services still on 1.0.0: allowed (staged rollout), and said
    check = tool(released_repo, "check_pins")
    assert check.returncode == 0, check.stderr
    assert "staged rollout" in check.stdout
    assert tool(released_repo, "pin", "--services", "matchmaker").returncode == 0
    assert "v1.0.1/" in last_line(released_repo, "matchmaker")
    assert "v1.0.0/" in last_line(released_repo, "stats_tracker")
    assert tool(released_repo, "check_pins").returncode == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--part", "minor"), "1.1.0"),
        (("--part", "major"), "2.0.0"),
        (("--version", "1.4.2"), "1.4.2"),
    ],
)
def test_bump_parts(released_repo, tool, args, expected):
    result = tool(released_repo, "bump", *args)
    assert result.returncode == 0, result.stderr
    assert about_version(released_repo) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--version", "1.0.0"), "already released"),
        (("--version", "0.9.0"), "not above the latest release"),
        (("--version", "one"), "not a version"),
        ((), "exactly one of"),
    ],
)
def test_bump_refusals_leave_the_tree_unchanged(released_repo, tool, ledger_of, args, message):
    ledger = ledger_of(released_repo)
    result = tool(released_repo, "bump", *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert ledger_of(released_repo) == ledger
    assert about_version(released_repo) == "1.0.0"


def test_pin_refuses_an_unreleased_version(released_repo, tool):
    result = tool(released_repo, "pin", "--version", "1.2.3")
    assert result.returncode == 1
    assert "1.2.3 is not released" in result.stderr
    assert "make bump-workers" in result.stderr
    unknown = tool(released_repo, "pin", "--services", "nope")
    assert unknown.returncode == 1 and "unknown service" in unknown.stderr


def failing_check(root: Path, tool, *needles: str) -> str:
    result = tool(root, "check_pins")
    assert result.returncode == 1, result.stdout
    for needle in needles:
        assert needle in result.stderr, result.stderr
    return result.stderr


def set_last_line(root: Path, service: str, line: str | None) -> None:
    path = root / service / "requirements.txt"
    lines = path.read_text().splitlines()[:-1]
    path.write_text("\n".join([*lines, *([line] if line is not None else [])]) + "\n")


def test_pin_not_in_ledger_fails_with_fix(released_repo, tool):
    line = last_line(released_repo, "matchmaker")
    wrong = line[:-1] + ("0" if line[-1] != "0" else "1")
    set_last_line(released_repo, "matchmaker", wrong)
    failing_check(
        released_repo,
        tool,
        "matchmaker: pin (1.0.0",
        "is not a release in the ledger",
        "fix: make pin-workers SERVICES=matchmaker VERSION=1.0.0",
    )


def test_pin_to_an_unreleased_version_fails(released_repo, tool):
    line = last_line(released_repo, "stats_tracker").replace("1.0.0", "1.0.7")
    set_last_line(released_repo, "stats_tracker", line)
    failing_check(released_repo, tool, "stats_tracker: pin (1.0.7", "not a release")


def test_malformed_pin_fails(released_repo, tool):
    set_last_line(released_repo, "game_rps", "varcade-workers==1.0.0")
    failing_check(
        released_repo, tool, "game_rps: malformed pin", "make pin-workers SERVICES=game_rps"
    )


def test_service_without_pin_fails(released_repo, tool):
    set_last_line(released_repo, "stats_tracker", None)
    failing_check(
        released_repo,
        tool,
        "stats_tracker: no varcade-workers pin line",
        "make pin-workers SERVICES=stats_tracker",
    )


def test_source_changed_without_bump_fails(released_repo, tool):
    module = released_repo / "varcade_workers/src/varcade_workers/__init__.py"
    module.write_text(module.read_text() + "\n# a change nobody released\n")
    failing_check(
        released_repo,
        tool,
        "differs from released 1.0.0 without a new version",
        "fix: make bump-workers PART=patch",
    )


def test_rewritten_ledger_entry_fails_against_git(released_repo, tool):
    path = released_repo / "varcade_workers/RELEASES.json"
    path.write_text(path.read_text().replace('"date": "2026-11-25"', '"date": "2026-11-26"'))
    failing_check(released_repo, tool, "ledger entry 1.0.0 was rewritten", "immutable")


def test_rewritten_ledger_hash_fails_without_git(released_repo, tool, ledger_of):
    import shutil

    shutil.rmtree(released_repo / ".git")
    path = released_repo / "varcade_workers/RELEASES.json"
    sha = ledger_of(released_repo)["releases"][0]["sha256"]
    path.write_text(path.read_text().replace(sha, "ab" * 32))
    for service in SERVICES:  # the pins follow the forged entry, so only the rebuild can tell
        set_last_line(
            released_repo, service, last_line(released_repo, service).replace(sha, "ab" * 32)
        )
    failing_check(released_repo, tool, "does not match the wheel this source builds")


def test_version_edited_by_hand_fails(released_repo, tool):
    about = released_repo / "varcade_workers/src/varcade_workers/__about__.py"
    about.write_text('__version__ = "1.1.0"\n')
    failing_check(
        released_repo,
        tool,
        "1.1.0 (in __about__.py) is not in the ledger",
        "make bump-workers VERSION=1.1.0",
    )


def test_tag_creates_annotated_tag_and_prints_push(released_repo, tool):
    result = tool(released_repo, "tag")
    assert result.returncode == 0, result.stderr
    assert "git push origin varcade-workers-v1.0.0" in result.stdout
    assert git(released_repo, "cat-file", "-t", "varcade-workers-v1.0.0").stdout.strip() == "tag"
    again = tool(released_repo, "tag")
    assert again.returncode == 0 and "already points at HEAD" in again.stdout
    # the ledger at the tag now guards the entry
    path = released_repo / "varcade_workers/RELEASES.json"
    path.write_text(path.read_text().replace('"date": "2026-11-25"', '"date": "2027-01-01"'))
    git(released_repo, "commit", "-q", "-am", "rewrite history")
    failing_check(released_repo, tool, "differs from varcade-workers-v1.0.0")


def test_tag_refuses_uncommitted_release_and_failing_checks(released_repo, tool):
    assert tool(released_repo, "bump", "--part", "minor").returncode == 0
    dirty = tool(released_repo, "tag")
    assert dirty.returncode == 1 and "commit the release first" in dirty.stderr
    module = released_repo / "varcade_workers/src/varcade_workers/__init__.py"
    module.write_text(module.read_text() + "\n# unreleased\n")
    failing = tool(released_repo, "tag")
    assert failing.returncode == 1 and "check-pins failed" in failing.stderr
    assert git(released_repo, "tag", "--list").stdout == ""


def test_changelog_sections():
    from bump import changelog_with_release

    text = "# Changelog\n\n## Unreleased\n\n- a fix\n\n## 1.0.0 (2026-11-25)\n\n- first\n"
    bumped = changelog_with_release(text, "1.0.1", "2026-12-01")
    assert bumped.index("## Unreleased") < bumped.index("## 1.0.1 (2026-12-01)")
    assert bumped.index("## 1.0.1 (2026-12-01)") < bumped.index("- a fix")
    # Recording a version whose section exists (the first release) adds no second heading.
    assert changelog_with_release(text, "1.0.0", "2026-11-26") == text
