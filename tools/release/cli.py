"""Shared command-line plumbing for the release tools: --root, messages and exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ledger import ReleaseError, Repo

DEFAULT_ROOT = Path(__file__).resolve().parents[2]


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--root",
        type=Path,
        default=DEFAULT_ROOT,
        help="repository root (default: the checkout this script is in)",
    )
    return p


def say(message: str) -> None:
    print(message, flush=True)


def run(
    main: Callable[[argparse.Namespace, Repo], int],
    p: argparse.ArgumentParser,
    argv: Sequence[str] | None = None,
) -> int:
    args = p.parse_args(argv)
    try:
        return main(args, Repo(args.root))
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
