"""The consistency rules between library source, ledger and pins (what `make check-pins` enforces).

Each rule yields a Problem carrying the command that fixes it, so a failing `make test` tells the
developer what to run rather than what went wrong in the abstract.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ledger import LEDGER_PATH, Ledger, Release, ReleaseError, Repo, find_pin, wheel_name
from wheelbuild import BuiltWheel


@dataclass(frozen=True)
class Problem:
    message: str
    fix: str


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    bootstrap: bool = False

    def fail(self, message: str, fix: str) -> None:
        self.problems.append(Problem(message, fix))


def check_ledger_shape(ledger: Ledger, report: Report) -> None:
    for release in ledger.releases:
        if release.tag != ledger.tag_for(release.version):
            report.fail(
                f"ledger entry {release.version} has tag {release.tag!r}, "
                f"expected {ledger.tag_for(release.version)!r}",
                f"git checkout HEAD -- {LEDGER_PATH}  (entries are never edited)",
            )
        if release.wheel != wheel_name(release.version):
            report.fail(
                f"ledger entry {release.version} names wheel {release.wheel!r}, "
                f"expected {wheel_name(release.version)!r}",
                f"git checkout HEAD -- {LEDGER_PATH}  (entries are never edited)",
            )


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )


def recorded_ledgers(root: Path, tag_prefix: str) -> list[tuple[str, str]]:
    """(where, ledger text) of the committed ledger at HEAD and at every local release tag."""
    if _git(root, "rev-parse", "--is-inside-work-tree").returncode != 0:
        return []
    found: list[tuple[str, str]] = []
    refs = ["HEAD"]
    tags = _git(root, "tag", "--list", f"{tag_prefix}*").stdout.split()
    refs.extend(tags)
    for ref in refs:
        shown = _git(root, "show", f"{ref}:{LEDGER_PATH}")
        if shown.returncode == 0:
            found.append((ref, shown.stdout))
    return found


def check_immutable(repo: Repo, ledger: Ledger, report: Report) -> None:
    """Entries already committed (at HEAD or at a release tag) must be unchanged in the tree."""
    current = {r.version: r for r in ledger.releases}
    for where, text in recorded_ledgers(repo.root, ledger.tag_prefix):
        try:
            old = Ledger.from_json(text, where=f"{where}:{LEDGER_PATH}")
        except ReleaseError:
            continue
        if old.repository != ledger.repository:
            report.notes.append(
                f"repository changed from {old.repository} (at {where}) to {ledger.repository}"
            )
        for release in old.releases:
            now = current.get(release.version)
            if now != release:
                state = "removed" if now is None else "rewritten"
                report.fail(
                    f"ledger entry {release.version} was {state} (it differs from {where}); "
                    "released versions are immutable",
                    f"git show {where}:{LEDGER_PATH} > {LEDGER_PATH}  (then bump to a new version)",
                )


def check_current_version(
    version: str, ledger: Ledger, built: BuiltWheel | None, report: Report
) -> Release | None:
    entry = ledger.get(version)
    if entry is None:
        latest = ledger.latest()
        report.fail(
            f"library version {version} (in __about__.py) is not in the ledger"
            + (f" (latest release: {latest.version})" if latest else ""),
            f"make bump-workers VERSION={version}  (records it; or PART=patch|minor|major)",
        )
        return None
    if built is None:
        return entry
    if built.content_sha256 != entry.content_sha256:
        report.fail(
            f"the library source differs from released {version} without a new version "
            f"(wheel content {built.content_sha256[:12]}..., "
            f"ledger {entry.content_sha256[:12]}...)",
            "make bump-workers PART=patch  (or minor/major; then make pin-workers)",
        )
    elif built.sha256 != entry.sha256:
        report.fail(
            f"the ledger entry for {version} does not match the wheel this source builds "
            f"(built sha256 {built.sha256}, ledger {entry.sha256}): the entry was edited or the "
            "build is not reproducible",
            f"git checkout HEAD -- {LEDGER_PATH}  (or restore it from tag {entry.tag}); "
            "never edit a recorded entry",
        )
    else:
        report.notes.append(f"wheel built from source matches ledger entry {version}")
    return entry


def check_service_pins(repo: Repo, ledger: Ledger, report: Report) -> None:
    latest = ledger.latest()
    latest_version = latest.version if latest else "<version>"
    for service in ledger.services:
        path = repo.requirements(service)
        fix = f"make pin-workers SERVICES={service} VERSION={latest_version}"
        if not path.exists():
            report.fail(f"{service}: {path.relative_to(repo.root)} is missing", fix)
            continue
        try:
            pin = find_pin(path.read_text(encoding="utf-8"))
        except ReleaseError as exc:
            report.fail(f"{service}: {exc}", fix)
            continue
        released = ledger.get(pin.version) if pin.version else None
        if pin.repository != ledger.repository:
            report.fail(
                f"{service}: pin points at repository {pin.repository}, the ledger says "
                f"{ledger.repository}",
                fix,
            )
        elif (
            released is None
            or released.sha256 != pin.sha256
            or released.tag != pin.tag
            or released.wheel != pin.wheel
        ):
            report.fail(
                f"{service}: pin ({pin.version or pin.wheel}, sha256 {pin.sha256[:12]}...) "
                "is not a release in the ledger",
                fix,
            )
        elif latest is not None and released.version != latest.version:
            report.notes.append(
                f"{service} pins {released.version} "
                f"(latest release {latest.version}; staged rollout)"
            )
        else:
            report.notes.append(f"{service} pins {released.version}")


def editable_note(venv: Path) -> str | None:
    """A note when the library in the venv is an editable install (`make dev`)."""
    for direct_url in venv.glob(
        "lib/python*/site-packages/varcade_workers-*.dist-info/direct_url.json"
    ):
        try:
            data = json.loads(direct_url.read_text(encoding="utf-8"))
        except ValueError:
            return None
        if data.get("dir_info", {}).get("editable"):
            return "the library is installed editable in .venv (make dev): work in progress"
    return None
