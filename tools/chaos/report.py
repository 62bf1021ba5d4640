"""Figures of a chaos run: each step's, checked or only shown, and the summary table; what the
chaos and fuzz commands share around them (a step whose error is a failed figure, the closing
summary and exit status, SIGTERM as an interrupt)."""

from __future__ import annotations

import signal
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    expected: str = ""  # "" : shown, not checked
    ok: bool | None = None  # None: not checked

    @property
    def status(self) -> str:
        if self.ok is None:
            return ""
        return "ok" if self.ok else "FAIL"


def must_be(label: str, value: int | float, expected: int | float = 0, fmt: str = "{}") -> Figure:
    """A checked figure: `value` must equal `expected`."""
    return Figure(label, fmt.format(value), fmt.format(expected), value == expected)


def must(label: str, value: str, ok: bool, expected: str) -> Figure:
    return Figure(label, value, expected, ok)


def shown(label: str, value: str) -> Figure:
    return Figure(label, value)


@dataclass
class StepResult:
    step: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    error: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error) or any(f.ok is False for f in self.figures)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure


def summary_table(results: Sequence[StepResult]) -> str:
    """One row per figure: step, figure, value, expected, ok/FAIL."""
    rows: list[tuple[str, str, str, str, str]] = []
    for result in results:
        first = True
        for figure in result.figures:
            step = result.step if first else ""
            rows.append((step, figure.label, figure.value, figure.expected, figure.status))
            first = False
        if result.error:
            rows.append((result.step if first else "", "step error", result.error, "", "FAIL"))
    header = ("step", "figure", "value", "must be", "")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(5)]
    widths[2] = min(widths[2], 60)

    def line(row: tuple[str, ...]) -> str:
        cells = [row[i][: widths[i]].ljust(widths[i]) for i in range(5)]
        return " | ".join(cells).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def guarded(step: str, title: str, body: Callable[[], StepResult]) -> StepResult:
    """`body()`; an exception (its traceback printed) becomes the step's error (a failure)."""
    try:
        return body()
    except Exception as exc:
        traceback.print_exc()
        return StepResult(step, title, error=f"{type(exc).__name__}: {exc}")


def print_summary(tool: str, results: Sequence[StepResult], started: float, run_dir: Path) -> int:
    """Print the summary table of `tool`'s run (started at time.monotonic() `started`) and the
    verdict; answers the exit status: 1 when a figure failed, else 0."""
    print()
    print(f"{tool}: summary ({time.monotonic() - started:.0f}s, run directory {run_dir})")
    print(summary_table(results))
    failed = [r.step for r in results if r.failed]
    if failed:
        print(f"\n{tool}: FAILED: {', '.join(failed)}")
        return 1
    print(f"\n{tool}: every checked figure is as it must be")
    return 0


def interrupt_on_sigterm() -> None:
    """SIGTERM raises KeyboardInterrupt, which unwinds every `with` and `finally`: processes and
    Redis stopped."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
