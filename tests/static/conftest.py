"""Readers for what the static tests compare: CONVENTIONS.md, the spec, Dockerfiles, compose."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
# The workplace's shared documents beside the checkout; a checkout without them (GitHub Actions)
# reads the copies the repository carries, which test_contract_copies keeps to the originals plus
# additions.
CONTRACT_COPIES = ROOT / "docs" / "contract"
SHARED = ROOT.parent / "shared" if (ROOT.parent / "shared").is_dir() else CONTRACT_COPIES
SERVICES = ("matchmaker", "stats_tracker", "game_rps")


def section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}.*?$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no section {heading!r}"
    return match.group(1)


@dataclass(frozen=True)
class Conventions:
    commands: dict[str, list[str]]  # "matchmaker api" / "matchmaker worker" / "game_rps server"
    variables: set[str]


def read_conventions() -> Conventions:
    # The repository's copy: the original's every line plus this repository's additions (e.g.
    # BIND_HOST), which test_contract_copies keeps so; compose and the images may use those too.
    text = (CONTRACT_COPIES / "CONVENTIONS.md").read_text(encoding="utf-8")
    commands: dict[str, list[str]] = {}
    for snippet in re.findall(r"`([^`]+)`", section(text, "Start commands")):
        argv = shlex.split(snippet)
        if argv[0] == "gunicorn":
            commands[f"{argv[1].split('.')[0]} api"] = argv
        elif argv[:2] == ["python", "-m"]:
            package, _, kind = argv[2].partition(".")
            commands[f"{package} {kind}"] = argv
    variables = set()
    for row in section(text, "Environment").splitlines():
        if row.startswith("| `"):
            first = row.split("|")[1]
            variables.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", first))
    return Conventions(commands, variables)


@dataclass(frozen=True)
class SpecPorts:
    rows: list[tuple[str, str, int]]  # (component, what, port)

    def port(self, component: str, what: str = "") -> int:
        """The port of the row whose component is `component` and whose "what" mentions `what`."""
        found = [p for c, w, p in self.rows if c == component and what.lower() in w.lower()]
        assert len(found) == 1, (component, what, self.rows)
        return found[0]


def read_spec_ports() -> SpecPorts:
    """The spec's "Components and default ports" table."""
    text = (SHARED / "VARCADE_SPEC.md").read_text(encoding="utf-8")
    rows = []
    for row in section(text, "Components and default ports").splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) == 3 and re.search(r"\d", cells[2]):
            rows.append((cells[0], cells[1], int(re.findall(r"\d+", cells[2])[0])))
    return SpecPorts(rows)


@dataclass
class Dockerfile:
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, name: str) -> list[str]:
        return [args for instr, args in self.instructions if instr == name]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for token in shlex.split(args):
                key, _, value = token.partition("=")
                values[key] = value
        return values

    def exec_form(self, name: str) -> list[str]:
        [args] = self.all(name)
        return json.loads(args)


def read_dockerfile(path: Path) -> Dockerfile:
    logical: list[str] = []
    current = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.lstrip().startswith("#") and not current:
            continue
        if raw.endswith("\\"):
            current += raw[:-1] + " "
            continue
        current += raw
        if current.strip():
            logical.append(current.strip())
        current = ""
    parsed = Dockerfile()
    for line in logical:
        instr, _, args = line.partition(" ")
        parsed.instructions.append((instr.upper(), args.strip()))
    return parsed


@pytest.fixture(scope="session")
def conventions() -> Conventions:
    return read_conventions()


@pytest.fixture(scope="session")
def spec_ports() -> SpecPorts:
    return read_spec_ports()


@pytest.fixture(scope="session")
def compose() -> dict:
    return YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def dockerfiles() -> dict[str, Dockerfile]:
    return {service: read_dockerfile(ROOT / service / "Dockerfile") for service in SERVICES}
