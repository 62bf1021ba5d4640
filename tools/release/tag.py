#!/usr/bin/env python3
"""Create the annotated release tag varcade-workers-v<version> locally, after every check passes.

Requires: check-pins clean, the current version in the ledger, the library, ledger and requirement
files committed (the tag must point at a commit that holds the ledger entry). Prints the push
command: a developer pushes the tag, because a tag pushed with a workflow's own token starts
no workflow.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence

import check_pins
from cli import parser, run, say
from ledger import LIB_DIR, ReleaseError, Repo


def git(repo: Repo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repo.root), *args], capture_output=True, text=True, check=False
    )


def main(args: argparse.Namespace, repo: Repo) -> int:
    if git(repo, "rev-parse", "--is-inside-work-tree").returncode != 0:
        raise ReleaseError(f"{repo.root} is not a git checkout")
    check_args = argparse.Namespace(require_release=True, venv=None, root=repo.root)
    if check_pins.main(check_args, repo) != 0:
        raise ReleaseError("check-pins failed: fix the problems above before tagging")
    ledger = repo.load_ledger()
    version = repo.library_version()
    release = ledger.get(version)
    if release is None:  # check_pins already refused this; kept for clarity
        raise ReleaseError(f"{version} is not in the ledger")
    paths = [LIB_DIR, *(f"{s}/requirements.txt" for s in ledger.services)]
    dirty = git(repo, "status", "--porcelain", "--", *paths).stdout.strip()
    if dirty:
        raise ReleaseError(
            "commit the release first (the tag must point at a commit holding the ledger entry):\n"
            f"{dirty}\n  fix: git add {' '.join(paths)} && "
            f"git commit -m 'varcade_workers {version}'"
        )
    head = git(repo, "rev-parse", "HEAD").stdout.strip()
    existing = git(repo, "rev-parse", "-q", "--verify", f"refs/tags/{release.tag}^{{commit}}")
    if existing.returncode == 0:
        if existing.stdout.strip() == head:
            say(f"==> tag-workers: {release.tag} already points at HEAD")
        else:
            raise ReleaseError(
                f"tag {release.tag} already exists at {existing.stdout.strip()[:12]}, not HEAD; "
                "a released version is never re-tagged: make bump-workers PART=patch"
            )
    else:
        message = f"varcade-workers {version}\n\nwheel: {release.wheel}\nsha256: {release.sha256}\n"
        created = git(repo, "tag", "-a", release.tag, "-m", message)
        if created.returncode != 0:
            raise ReleaseError(f"git tag failed: {created.stderr.strip()}")
        say(f"==> tag-workers: created annotated tag {release.tag} at {head[:12]}")
    say("push it (this starts the release workflow):")
    say(f"    git push origin {release.tag}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    return parser(__doc__ or "")


def entry(argv: Sequence[str] | None = None) -> int:
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(entry())
