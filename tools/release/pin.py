#!/usr/bin/env python3
"""Pin services to a released version of varcade_workers.

Rewrites the library line (the last line) of each service's requirements.txt to
`varcade-workers @ https://github.com/<repo>/releases/download/<tag>/<wheel>#sha256=<hash>`, taken
from the ledger. Only released versions can be pinned; by default the latest. Naming a few
services pins only those (a staged rollout); the others keep their release.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from cli import parser, run, say
from ledger import ReleaseError, Repo, existing_extras, find_pin, replace_pin


def main(args: argparse.Namespace, repo: Repo) -> int:
    ledger = repo.load_ledger()
    if args.version:
        release = ledger.get(args.version)
        if release is None:
            released = ", ".join(r.version for r in ledger.releases) or "none"
            raise ReleaseError(
                f"{args.version} is not released (released: {released}); "
                f"record it first: make bump-workers VERSION={args.version}"
            )
    else:
        release = ledger.latest()
        if release is None:
            raise ReleaseError("no release in the ledger yet: run `make release-ledger` first")
    services = [s for s in re.split(r"[\s,]+", args.services or "") if s] or ledger.services
    unknown = [s for s in services if s not in ledger.services]
    if unknown:
        raise ReleaseError(
            f"unknown service(s) {', '.join(unknown)}; "
            f"the ledger lists {', '.join(ledger.services)}"
        )
    for service in services:
        path = repo.requirements(service)
        if not path.exists():
            raise ReleaseError(f"{path.relative_to(repo.root)} is missing")
        text = path.read_text(encoding="utf-8")
        try:
            before = find_pin(text).version or "?"
        except ReleaseError:
            before = "unpinned"
        line = ledger.pin_line(release, existing_extras(text))
        path.write_text(replace_pin(text, line), encoding="utf-8")
        say(f"==> pin-workers: {service}: {before} -> {release.version}")
    say("next: make check-pins, then commit the requirements files")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__ or "")
    p.add_argument("--services", help="services to pin, comma or space separated (default: all)")
    p.add_argument("--version", help="released version to pin (default: the latest release)")
    return p


def entry(argv: Sequence[str] | None = None) -> int:
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(entry())
