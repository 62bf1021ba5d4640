"""The page's protocol handling (client/js/battle.js), run by Node's own test runner: the page has
no build step, so its logic is tested as the browser loads it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CLIENT_TESTS = Path(__file__).resolve().parent.parent / "client" / "tests"


def test_battle_module_under_node() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed; the browser tests cover the page instead")
    result = subprocess.run(
        [node, "--test", str(CLIENT_TESTS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout
