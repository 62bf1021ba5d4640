#!/usr/bin/env python3
"""The release workflow's gate: the pushed tag, the library version and the ledger must agree.

Without --dist: the tag is varcade-workers-v<version>, <version> is the one in __about__.py, and the
ledger has that version under that tag. With --dist DIR (after the build): the wheel in DIR has the
ledger's file name and sha256 (otherwise nothing is published), and --sums writes SHA256SUMS of
every file in DIR. The tag defaults to $GITHUB_REF_NAME; the version goes to $GITHUB_OUTPUT
if set.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cli import parser, run, say
from ledger import ReleaseError, Repo
from wheelbuild import file_sha256


def check_tag(repo: Repo, tag: str) -> str:
    """The released version the tag stands for, or ReleaseError."""
    ledger = repo.load_ledger()
    if not tag:
        raise ReleaseError("no tag given (--tag or GITHUB_REF_NAME)")
    if not tag.startswith(ledger.tag_prefix):
        raise ReleaseError(f"tag {tag!r} does not start with {ledger.tag_prefix!r}")
    version = tag[len(ledger.tag_prefix) :]
    source_version = repo.library_version()
    if version != source_version:
        raise ReleaseError(
            f"tag {tag} says {version} but the library at this commit is {source_version}: "
            "tag the commit that bumped the version (make tag-workers)"
        )
    release = ledger.get(version)
    if release is None:
        raise ReleaseError(
            f"{version} is not in the ledger at this commit: nothing is published. Record it "
            f"(make bump-workers VERSION={version}), commit, and tag that commit"
        )
    if release.tag != tag:
        raise ReleaseError(f"the ledger records {version} under tag {release.tag}, not {tag}")
    return version


def check_dist(repo: Repo, version: str, dist: Path) -> None:
    release = repo.load_ledger().get(version)
    assert release is not None
    wheels = sorted(p.name for p in dist.glob("*.whl"))
    if wheels != [release.wheel]:
        raise ReleaseError(f"{dist} holds wheels {wheels}, expected exactly [{release.wheel}]")
    actual = file_sha256(dist / release.wheel)
    if actual != release.sha256:
        raise ReleaseError(
            f"refusing to publish: built {release.wheel} has sha256 {actual}, the ledger records "
            f"{release.sha256} (the build is not reproducible or the source differs from the "
            "release)"
        )


def write_sums(dist: Path, sums: Path) -> None:
    lines = [
        f"{file_sha256(path)}  {path.name}\n"
        for path in sorted(dist.iterdir())
        if path.is_file() and path.resolve() != sums.resolve()
    ]
    sums.write_text("".join(lines), encoding="utf-8")


def main(args: argparse.Namespace, repo: Repo) -> int:
    tag = args.tag if args.tag is not None else os.environ.get("GITHUB_REF_NAME", "")
    version = check_tag(repo, tag)
    say(f"==> check-tag: {tag} = library {version} = ledger entry")
    if args.dist:
        check_dist(repo, version, args.dist)
        say(f"==> check-tag: the built wheel's sha256 equals the ledger's for {version}")
        if args.sums:
            write_sums(args.dist, args.sums)
            say(f"==> check-tag: wrote {args.sums}")
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a", encoding="utf-8") as handle:
            handle.write(f"version={version}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__ or "")
    p.add_argument("--tag", default=None, help="the pushed tag (default: $GITHUB_REF_NAME)")
    p.add_argument("--dist", type=Path, help="folder with the built wheel and sdist to verify")
    p.add_argument("--sums", type=Path, help="write SHA256SUMS of --dist's files here")
    return p


def entry(argv: Sequence[str] | None = None) -> int:
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(entry())
