"""Building the library's wheel with tools/build_workers.py and fingerprinting it.

The build script is the one the release workflow uses, so a wheel built here is byte for byte the
one published; its `sha256` is the one hash every tool prints. `content_sha256` fingerprints what
goes into the wheel (its files, RECORD excluded), so "the source changed" and "the build is not
reproducible" are told apart.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ledger import ReleaseError, Repo, wheel_name

# tools/: the build script is a module too, so its hashing is not written twice.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from build_workers import sha256 as file_sha256

BUILD_SCRIPT = "tools/build_workers.py"


@dataclass(frozen=True)
class BuiltWheel:
    path: Path
    sha256: str
    content_sha256: str


def content_sha256(wheel: Path) -> str:
    """sha256 over the sorted file names and contents of a wheel, its RECORD left out."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            if name.endswith(".dist-info/RECORD") or name.endswith("/"):
                continue
            digest.update(name.encode() + b"\0")
            digest.update(hashlib.sha256(archive.read(name)).hexdigest().encode() + b"\n")
    return digest.hexdigest()


def build_wheel(
    repo: Repo, out_dir: Path, *, sdist: bool = False, quiet: bool = True
) -> BuiltWheel:
    """Build with the shared build script into out_dir and fingerprint the wheel."""
    script = repo.root / BUILD_SCRIPT
    if not script.exists():
        raise ReleaseError(f"{BUILD_SCRIPT} is missing: it is the one way the wheel is built")
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(script), "--out", str(out_dir)]
    if sdist:
        command.append("--sdist")
    result = subprocess.run(command, cwd=repo.root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ReleaseError(
            f"building the wheel failed ({' '.join(command[1:])}):\n{result.stdout}{result.stderr}"
        )
    if not quiet:
        sys.stdout.write(result.stdout)
    wheel = out_dir / wheel_name(repo.library_version())
    if not wheel.exists():
        raise ReleaseError(f"{BUILD_SCRIPT} did not produce {wheel.name} in {out_dir}")
    return BuiltWheel(path=wheel, sha256=file_sha256(wheel), content_sha256=content_sha256(wheel))


def build_in_temp(repo: Repo) -> tuple[BuiltWheel, tempfile.TemporaryDirectory[str]]:
    """Build into a fresh temporary folder; the caller keeps the folder alive while it needs it."""
    tmp = tempfile.TemporaryDirectory(prefix="varcade-wheel-")
    return build_wheel(repo, Path(tmp.name)), tmp
