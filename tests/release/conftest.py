"""Temporary copies of the repository for the release tooling: tests never touch the real ledger."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools" / "release"
SERVICES = ("matchmaker", "stats_tracker", "game_rps")
sys.path.insert(0, str(TOOLS))

GIT_ENV = {
    "GIT_AUTHOR_NAME": "release test",
    "GIT_AUTHOR_EMAIL": "release@test.invalid",
    "GIT_COMMITTER_NAME": "release test",
    "GIT_COMMITTER_EMAIL": "release@test.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_ENV},
    )


def copy_repository(target: Path) -> Path:
    """The files the release tooling reads, in their bootstrap state (no release, no pins)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    lib = target / "varcade_workers"
    lib.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "CHANGELOG.md"):
        if (ROOT / "varcade_workers" / name).exists():
            shutil.copy2(ROOT / "varcade_workers" / name, lib / name)
    shutil.copytree(ROOT / "varcade_workers" / "src", lib / "src", ignore=ignore)
    ledger = json.loads((ROOT / "varcade_workers" / "RELEASES.json").read_text())
    ledger["releases"] = []
    (lib / "RELEASES.json").write_text(json.dumps(ledger, indent=2) + "\n")
    (lib / "src/varcade_workers/__about__.py").write_text('__version__ = "1.0.0"\n')
    shutil.copytree(TOOLS, target / "tools" / "release", ignore=ignore)
    shutil.copy2(ROOT / "tools" / "build_workers.py", target / "tools" / "build_workers.py")
    for service in SERVICES:
        (target / service).mkdir()
        lines = (ROOT / service / "requirements.txt").read_text().splitlines()
        kept = [line for line in lines if not line.lower().startswith("varcade")]
        (target / service / "requirements.txt").write_text("\n".join(kept) + "\n")
    shutil.copy2(ROOT / ".gitignore", target / ".gitignore")
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "copy")
    return target


def run_tool(
    root: Path, tool: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(root / "tools" / "release" / f"{tool}.py"),
            "--root",
            str(root),
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **GIT_ENV, **(env or {})},
        timeout=120,
    )


@pytest.fixture(scope="session")
def released_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy with 1.0.0 recorded (make release-ledger) and every service pinned, committed."""
    root = copy_repository(tmp_path_factory.mktemp("released") / "repo")
    for tool, args in (("bump", ("--current", "--date", "2026-11-25")), ("pin", ())):
        result = run_tool(root, tool, *args)
        assert result.returncode == 0, result.stdout + result.stderr
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "varcade_workers 1.0.0")
    return root


@pytest.fixture
def bootstrap_repo(tmp_path: Path) -> Path:
    return copy_repository(tmp_path / "repo")


@pytest.fixture
def released_repo(released_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "repo"
    shutil.copytree(released_template, target, symlinks=True)
    return target


@pytest.fixture
def tool() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_tool


@pytest.fixture
def ledger_of() -> Callable[[Path], dict]:
    def read(root: Path) -> dict:
        return json.loads((root / "varcade_workers" / "RELEASES.json").read_text())

    return read


@pytest.fixture(autouse=True)
def _no_github_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("GITHUB_OUTPUT", "GITHUB_REF_NAME"):
        monkeypatch.delenv(name, raising=False)
    yield
