#!/usr/bin/env python3
"""Release a new version of varcade_workers into the ledger.

Sets the version in __about__.py, turns the CHANGELOG's "Unreleased" section into the new version's,
builds the wheel reproducibly with tools/build_workers.py and records (version, tag, wheel,
sha256, content digest) in varcade_workers/RELEASES.json. --current (or --version equal to the
current version) records it without a bump: the first release. Then pin the services
(make pin-workers), commit, and tag (make tag-workers).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from collections.abc import Sequence

from cli import parser, run, say
from ledger import CHANGELOG_PATH, Release, ReleaseError, Repo, bump_version, parse_version
from wheelbuild import build_in_temp


def changelog_with_release(text: str, version: str, date: str) -> str:
    """Rename "## Unreleased" to the version (keeping a fresh Unreleased), or add a section."""
    heading = f"## {version} ({date})"
    lines = text.splitlines()
    if any(re.match(rf"## \[?{re.escape(version)}\]?(\s|$)", line) for line in lines):
        return text  # the version has its section already (recording the first release)
    for index, line in enumerate(lines):
        if line.strip().lower() in ("## unreleased", "## [unreleased]"):
            lines[index : index + 1] = ["## Unreleased", "", heading]
            return "\n".join(lines) + "\n"
    if not lines:
        lines = ["# Changelog", ""]
    insert_at = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    block = [heading, "", "- (describe the changes of this release)", ""]
    if insert_at == len(lines) and lines and lines[-1].strip():
        block.insert(0, "")
    lines[insert_at:insert_at] = block
    return "\n".join(lines).rstrip("\n") + "\n"


def target_version(args: argparse.Namespace, current: str) -> str:
    if sum(map(bool, (args.part, args.version, args.current))) != 1:
        raise ReleaseError("give exactly one of PART=major|minor|patch or VERSION=X.Y.Z")
    if args.current:
        return current
    if args.part:
        return bump_version(current, args.part)
    parse_version(args.version)
    return str(args.version)


def main(args: argparse.Namespace, repo: Repo) -> int:
    ledger = repo.load_ledger()
    current = repo.library_version()
    new = target_version(args, current)
    if ledger.get(new) is not None:
        raise ReleaseError(
            f"{new} is already released (ledger entry {ledger.tag_for(new)}); released versions "
            "are immutable: choose a new version, e.g. `make bump-workers PART=patch`"
        )
    latest = ledger.latest()
    if latest is not None and parse_version(new) <= parse_version(latest.version):
        raise ReleaseError(f"{new} is not above the latest release {latest.version}")
    if new != current and parse_version(new) < parse_version(current):
        raise ReleaseError(f"{new} is below the version in the source ({current})")
    date = args.date or dt.datetime.now(dt.timezone.utc).date().isoformat()

    about = repo.root / "varcade_workers/src/varcade_workers/__about__.py"
    changelog = repo.root / CHANGELOG_PATH
    saved = {
        path: path.read_text(encoding="utf-8") if path.exists() else None
        for path in (about, changelog)
    }
    try:
        if new != current:
            say(f"==> bump-workers: {current} -> {new}")
            repo.set_library_version(new)
        else:
            say(f"==> bump-workers: recording {new} (the version already in __about__.py)")
        changelog.write_text(
            changelog_with_release(saved[changelog] or "", new, date), encoding="utf-8"
        )
        say("==> bump-workers: building the wheel (tools/build_workers.py)")
        built, tmp = build_in_temp(repo)
        with tmp:
            release = Release(
                version=new,
                tag=ledger.tag_for(new),
                wheel=built.path.name,
                sha256=built.sha256,
                content_sha256=built.content_sha256,
                date=date,
            )
            ledger.add(release)
            repo.save_ledger(ledger)
    except BaseException:
        for path, text in saved.items():
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text, encoding="utf-8")
        raise
    say(f"    recorded {release.tag}: {release.wheel} sha256={release.sha256}")
    say("next: make pin-workers [SERVICES=...]   # move services to it (staged rollout: a few)")
    say("      make check-pins && git commit ...  # commit ledger, version, CHANGELOG and pins")
    say("      make tag-workers                   # then push the tag it prints")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__ or "")
    p.add_argument("--part", choices=["major", "minor", "patch"], help="which part to bump")
    p.add_argument("--version", help="explicit new version X.Y.Z (or the current one to record it)")
    p.add_argument(
        "--current",
        action="store_true",
        help="record the version already in __about__.py without a bump (the first release)",
    )
    p.add_argument("--date", help="release date for the ledger and CHANGELOG (default: today, UTC)")
    return p


def entry(argv: Sequence[str] | None = None) -> int:
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(entry())
