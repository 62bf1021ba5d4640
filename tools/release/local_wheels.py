#!/usr/bin/env python3
"""Supply the wheel of this commit to image builds whose pinned release is not published yet.

Builds the wheel with tools/build_workers.py; for every service whose pin has exactly that sha256
and whose release URL does not answer yet (--only-unreleased), copies the wheel into --out, which CI
passes to `docker build --build-context local-wheels=<out>`. The pin's hash still decides: a service
pinning a release this commit does not build pulls it from GitHub as usual.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from cli import parser, run, say
from ledger import ReleaseError, Repo, find_pin
from wheelbuild import build_wheel


def published(url: str) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=30):
            return True
    except (urllib.error.URLError, TimeoutError):
        return False


def main(args: argparse.Namespace, repo: Repo) -> int:
    ledger = repo.load_ledger()
    args.out.mkdir(parents=True, exist_ok=True)
    built = build_wheel(repo, args.out / ".build")
    for service in ledger.services:
        pin = find_pin(repo.requirements(service).read_text(encoding="utf-8"))
        release = ledger.get(pin.version or "")
        if release is None:
            raise ReleaseError(
                f"{service}: pinned {pin.wheel} is not in the ledger (make check-pins)"
            )
        if pin.sha256 != built.sha256:
            say(
                f"==> {service}: pins {release.version}, not this commit's wheel: "
                "pulled from GitHub"
            )
            continue
        if args.only_unreleased and published(ledger.url_for(release)):
            say(f"==> {service}: {release.tag} is published: pulled from GitHub")
            continue
        shutil.copy2(built.path, args.out / built.path.name)
        say(f"==> {service}: supplying {built.path.name} built from this commit (= its pin)")
    shutil.rmtree(args.out / ".build")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__ or "")
    p.add_argument("--out", type=Path, required=True, help="folder for the local-wheels context")
    p.add_argument(
        "--only-unreleased", action="store_true", help="skip services whose release is published"
    )
    return p


def entry(argv: Sequence[str] | None = None) -> int:
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(entry())
