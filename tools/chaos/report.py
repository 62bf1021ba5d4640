"""Figures of a chaos run: each step's, checked or only shown, and the summary table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


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
