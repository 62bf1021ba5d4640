#!/usr/bin/env python3
"""Build the varcade_workers wheel (and sdist) reproducibly: same bytes on any machine, any day.

    python tools/build_workers.py [--out DIR] [--sdist] [--project DIR] [--check]

Why each step:
- SOURCE_DATE_EPOCH is fixed (315532800 = 1980-01-01T00:00:00Z, the oldest date a zip can hold), so
  file times inside the archives never depend on when or where the build ran.
- The project is copied to a fresh temporary directory first (no __pycache__, dist, build, ...),
  so stray local files never end up in an archive.
- `python -m build --no-isolation` uses the hatchling pinned in requirements-dev.txt (installed in
  the virtualenv) instead of downloading it for every build; the pin in pyproject's
  [build-system] is the same version.
Prints the sha256 of every artifact; `--check` also runs `twine check --strict` on them. The release
tools (tools/release/wheelbuild.py) run this script to build and import its `sha256`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE_DATE_EPOCH = "315532800"
ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "varcade_workers"
IGNORE = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "dist", "build", "*.egg-info", ".pytest_cache", ".mypy_cache",
    ".ruff_cache", "bench", "RELEASES.json",
)  # fmt: skip


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def build(project: Path, out: Path, *, sdist: bool) -> list[Path]:
    """Build into `out`; returns the artifacts (wheel first)."""
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH, PYTHONDONTWRITEBYTECODE="1")
    with tempfile.TemporaryDirectory(prefix="varcade-workers-build-") as tmp:
        source = Path(tmp) / "varcade_workers"
        print(f"==> copying {project} to a clean build tree", flush=True)
        shutil.copytree(project, source, ignore=IGNORE)
        staging = Path(tmp) / "dist"
        formats = ["--wheel", "--sdist"] if sdist else ["--wheel"]
        print(f"==> building {' and '.join(f[2:] for f in formats)} (SOURCE_DATE_EPOCH="
              f"{SOURCE_DATE_EPOCH})", flush=True)  # fmt: skip
        subprocess.run(
            [sys.executable, "-m", "build", "--no-isolation", *formats, "--outdir", str(staging),
             str(source)],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL if os.environ.get("BUILD_QUIET") else None,
        )  # fmt: skip
        artifacts = []
        for built in sorted(staging.iterdir(), key=lambda p: (p.suffix != ".whl", p.name)):
            target = out / built.name
            shutil.copyfile(built, target)
            artifacts.append(target)
    return artifacts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the varcade_workers wheel reproducibly.")
    parser.add_argument("--out", type=Path, default=PROJECT / "dist", help="output directory")
    parser.add_argument("--sdist", action="store_true", help="also build the sdist")
    parser.add_argument("--project", type=Path, default=PROJECT, help="the project to build")
    parser.add_argument("--check", action="store_true", help="run twine check --strict")
    args = parser.parse_args(argv)
    artifacts = build(args.project.resolve(), args.out.resolve(), sdist=args.sdist)
    for artifact in artifacts:
        print(f"sha256 {sha256(artifact)}  {artifact}")
    if args.check:
        subprocess.run(
            [sys.executable, "-m", "twine", "check", "--strict", *map(str, artifacts)], check=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
