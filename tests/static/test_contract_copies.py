"""The repository's copies of the shared contract documents equal the originals beside it."""

from __future__ import annotations

import pytest
from conftest import CONTRACT_COPIES, ROOT

DOCUMENTS = ("VARCADE_SPEC.md", "CONVENTIONS.md", "ACTION_PINS.md")


@pytest.mark.parametrize("name", DOCUMENTS)
def test_copy_matches_shared(name: str) -> None:
    original = ROOT.parent / "shared" / name
    copy = CONTRACT_COPIES / name
    assert copy.is_file(), f"{copy} is missing: cp ../shared/*.md docs/contract/"
    if not original.is_file():
        # Only a checkout without ../shared (GitHub Actions) gets here; the copy is all there is.
        assert copy.read_text(encoding="utf-8").strip()
        return
    assert copy.read_bytes() == original.read_bytes(), (
        f"docs/contract/{name} differs from ../shared/{name}: cp ../shared/*.md docs/contract/"
    )
