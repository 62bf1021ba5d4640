"""The fuzz tests: the fuzzer's own pieces, and its short seeded run against a private stack."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import tools.fuzz  # noqa: E402,F401  (puts the services' folders on sys.path)
