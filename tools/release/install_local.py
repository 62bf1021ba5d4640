#!/usr/bin/env python3
"""Install the services' requirements into a virtualenv the way Docker will (used by `make`).

When the wheel built here from the repository is byte for byte the release the services pin (same
sha256 as the ledger entry), the services' requirements are installed with the pin line pointing at
that local file (hash still checked by pip): what the tests exercise is what Docker pulls. Otherwise
(no release recorded yet, or the library source changed since its release) the library is installed
editable from source, and this is said loudly; `make check-pins` then asks for a bump.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cli import parser, run, say
from ledger import LIB_LINE_RE, PACKAGE, ReleaseError, Repo, find_pin
from wheelbuild import BuiltWheel, build_wheel


def requirement_lines(repo: Repo, services: Sequence[str]) -> list[str]:
    """Every service's requirement lines except the library's."""
    lines: list[str] = []
    for service in services:
        path = repo.requirements(service)
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not LIB_LINE_RE.match(line) and line not in lines:
                lines.append(line)
    return lines


def choose_wheel(repo: Repo, build_dir: Path) -> tuple[BuiltWheel | None, str]:
    """The built wheel when it is the pinned release, else None and the reason."""
    ledger = repo.load_ledger()
    version = repo.library_version()
    release = ledger.get(version)
    if release is None:
        return None, f"no release of varcade_workers {version} is recorded in the ledger yet"
    try:
        built = build_wheel(repo, build_dir)
    except ReleaseError as exc:
        return None, f"the wheel could not be built ({exc})"
    if built.sha256 != release.sha256:
        return None, (
            f"the library source differs from released {version} (built sha256 "
            f"{built.sha256[:12]}..., ledger {release.sha256[:12]}...)"
        )
    pinned = {}
    for service in ledger.services:
        try:
            pinned[service] = find_pin(repo.requirements(service).read_text("utf-8")).sha256
        except (ReleaseError, OSError):
            pinned[service] = None
    if release.sha256 not in pinned.values():
        return None, f"no service pins released {version} yet (run make pin-workers)"
    for service, sha in pinned.items():
        if sha != release.sha256:
            say(
                f"    note: {service} pins another release; the shared venv gets {version}, "
                "its Docker image gets its own pin"
            )
    return built, ""


def pip(venv: Path, *args: str) -> None:
    command = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", *args]
    subprocess.run(command, check=True)


def main(args: argparse.Namespace, repo: Repo) -> int:
    ledger = repo.load_ledger()
    with tempfile.TemporaryDirectory(prefix="varcade-install-") as tmp:
        built, reason = choose_wheel(repo, Path(tmp) / "dist")
        lines = requirement_lines(repo, ledger.services)
        if built is not None:
            lines.append(f"{PACKAGE}[web] @ {built.path.as_uri()}#sha256={built.sha256}")
            say(
                f"==> installing the services' requirements with the release wheel built here "
                f"({built.path.name}, sha256 {built.sha256[:12]}... = the pinned ledger entry)"
            )
        else:
            lines.append(f"-e {repo.lib_dir}[web]")
            bar = "!" * 78
            say(
                f"{bar}\n!!! {reason}:\n!!! installing varcade_workers EDITABLE FROM SOURCE, "
                f"not the pinned release wheel.\n{bar}"
            )
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text("\n".join(lines) + "\n", encoding="utf-8")
        if built is not None:
            pip(args.venv, "uninstall", "-q", "-y", PACKAGE)
        pip(args.venv, "install", "-q", "-r", str(requirements))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = parser(__doc__ or "")
    p.add_argument("--venv", type=Path, required=True, help="the virtualenv to install into")
    return p


def entry(argv: Sequence[str] | None = None) -> int:
    return run(main, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(entry())
