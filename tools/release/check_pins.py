#!/usr/bin/env python3
"""Check that the library source, its release ledger and every service's pin agree.

Fails (exit 1), printing the command that fixes each problem, when: a pin's (version, sha256) is not
in the ledger; a pin line is malformed or missing; the library source differs from its ledger entry
without a new version; the ledger entry for the current version does not match the wheel the source
builds; a committed ledger entry was rewritten. Before any release is recorded it only warns
(unless --require-release).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import checks
from cli import parser, run, say
from ledger import LIB_LINE_RE, Repo
from wheelbuild import build_in_temp


def check(args: argparse.Namespace, repo: Repo) -> checks.Report:
    report = checks.Report()
    say("==> check-pins: reading the ledger")
    ledger = repo.load_ledger()
    version = repo.library_version()
    checks.check_ledger_shape(ledger, report)
    checks.check_immutable(repo, ledger, report)
    if not ledger.releases:
        report.bootstrap = True
        for service in ledger.services:
            path = repo.requirements(service)
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            if any(LIB_LINE_RE.match(line) for line in text.splitlines()):
                report.fail(
                    f"{service}: pins varcade-workers but the ledger has no release",
                    "make release-ledger  (records the current version and pins every service)",
                )
        return report
    built = None
    if ledger.get(version) is not None:
        say(f"==> check-pins: building the wheel of {version} to compare with the ledger")
        built, tmp = build_in_temp(repo)
        tmp.cleanup()
    checks.check_current_version(version, ledger, built, report)
    say("==> check-pins: reading the services' pins")
    checks.check_service_pins(repo, ledger, report)
    note = checks.editable_note(args.venv) if args.venv else None
    if note:
        report.notes.append(note)
    return report


def main(args: argparse.Namespace, repo: Repo) -> int:
    report = check(args, repo)
    for note in report.notes:
        say(f"    ok: {note}")
    if report.bootstrap and not report.problems:
        message = (
            "no release of varcade_workers is recorded yet: services are not pinned. "
            "Record the first release with `make release-ledger`."
        )
        if args.require_release:
            print(f"FAILED: {message}", file=sys.stderr)
            return 1
        say(f"WARNING: {message}")
        return 0
    if report.problems:
        print(f"check-pins FAILED ({len(report.problems)} problem(s)):", file=sys.stderr)
        for problem in report.problems:
            print(f"  - {problem.message}\n    fix: {problem.fix}", file=sys.stderr)
        return 1
    say("==> check-pins: ledger, library source and pins agree")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__ or "")
    p.add_argument(
        "--require-release",
        action="store_true",
        help="fail (instead of warning) when the ledger has no release yet",
    )
    p.add_argument(
        "--venv", type=Path, default=None, help="virtualenv to inspect for an editable install"
    )
    return p


def entry(argv: Sequence[str] | None = None) -> int:
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(entry())
