"""Wheel and sdist are reproducible (same bytes from two copies of the source); twine --strict."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
BUILD = PROJECT.parent / "tools" / "build_workers.py"
# The version of the source under test (the one place it lives), not of whatever is installed.
VERSION = re.search(
    r'__version__ = "([^"]+)"',
    (PROJECT / "src" / "varcade_workers" / "__about__.py").read_text(encoding="utf-8"),
).group(1)  # type: ignore[union-attr]


def build(project: Path, out: Path, *extra: str) -> list[Path]:
    subprocess.run(
        [sys.executable, str(BUILD), "--project", str(project), "--out", str(out), *extra],
        check=True,
        capture_output=True,
        env=dict(os.environ, BUILD_QUIET="1"),
    )
    return sorted(out.iterdir())


def copy_project(target: Path) -> Path:
    shutil.copytree(
        PROJECT, target, ignore=shutil.ignore_patterns("__pycache__", "dist", "build", ".*cache")
    )
    return target


def test_wheel_and_sdist_from_two_copies_in_different_directories_is_identical(
    tmp_path: Path,
) -> None:
    first = copy_project(tmp_path / "one" / "varcade_workers")
    second = copy_project(tmp_path / "elsewhere" / "deeper" / "copy")
    os.utime(second / "README.md", (1_900_000_000, 1_900_000_000))  # a different mtime
    [wheel_a, sdist_a] = build(first, tmp_path / "out-a", "--sdist")
    [wheel_b, sdist_b] = build(second, tmp_path / "out-b", "--sdist")
    assert wheel_a.name == wheel_b.name == f"varcade_workers-{VERSION}-py3-none-any.whl"
    assert wheel_a.read_bytes() == wheel_b.read_bytes()
    assert sdist_a.name == sdist_b.name == f"varcade_workers-{VERSION}.tar.gz"
    assert sdist_a.read_bytes() == sdist_b.read_bytes()
    names = zipfile.ZipFile(wheel_a).namelist()
    assert "varcade_workers/py.typed" in names
    assert "varcade_workers/stream_worker.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_twine_check_strict_passes_on_wheel_and_sdist(tmp_path: Path) -> None:
    artifacts = build(PROJECT, tmp_path / "dist", "--sdist")
    assert sorted(p.suffix for p in artifacts) == [".gz", ".whl"]
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, artifacts)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2
