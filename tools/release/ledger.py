"""The release ledger (varcade_workers/RELEASES.json) and the services' pin lines.

Kept free of I/O beyond reading and writing the repository's files, so the rules (what a valid pin
is, which version comes next, which entries are immutable) are testable on their own.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

PACKAGE = "varcade-workers"
LIB_DIR = "varcade_workers"
LEDGER_PATH = f"{LIB_DIR}/RELEASES.json"
ABOUT_PATH = f"{LIB_DIR}/src/varcade_workers/__about__.py"
CHANGELOG_PATH = f"{LIB_DIR}/CHANGELOG.md"

_VERSION_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_ABOUT_RE = re.compile(r'^__version__[ \t]*=[ \t]*["\']([^"\']+)["\'][ \t]*$', re.MULTILINE)
# The one accepted shape of a pin line (extras allowed, e.g. varcade-workers[web]).
_PIN_RE = re.compile(
    r"^varcade-workers(?P<extras>\[[a-z0-9,_-]+\])? @ "
    r"https://github\.com/(?P<repository>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)"
    r"/releases/download/(?P<tag>[^/\s#]+)/(?P<wheel>[^/\s#]+\.whl)"
    r"#sha256=(?P<sha256>[0-9a-f]{64})$"
)
# Any line that looks like it means the library, however badly written.
LIB_LINE_RE = re.compile(r"^\s*varcade[-_.]workers\b", re.IGNORECASE)


class ReleaseError(Exception):
    """A problem the user must fix; the message says how."""


def parse_version(text: str) -> tuple[int, int, int]:
    match = _VERSION_RE.match(text.strip())
    if not match:
        raise ReleaseError(f"not a version of the form X.Y.Z: {text!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def bump_version(current: str, part: str) -> str:
    major, minor, patch = parse_version(current)
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    if part == "patch":
        return f"{major}.{minor}.{patch + 1}"
    raise ReleaseError(f"PART must be major, minor or patch, not {part!r}")


def wheel_name(version: str) -> str:
    return f"varcade_workers-{version}-py3-none-any.whl"


@dataclass(frozen=True)
class Release:
    """One released version; never changed once recorded."""

    version: str
    tag: str
    wheel: str
    sha256: str
    content_sha256: str
    date: str


@dataclass
class Ledger:
    repository: str
    tag_prefix: str
    services: list[str]
    releases: list[Release] = field(default_factory=list)

    def tag_for(self, version: str) -> str:
        return f"{self.tag_prefix}{version}"

    def get(self, version: str) -> Release | None:
        return next((r for r in self.releases if r.version == version), None)

    def latest(self) -> Release | None:
        if not self.releases:
            return None
        return max(self.releases, key=lambda r: parse_version(r.version))

    def add(self, release: Release) -> None:
        if self.get(release.version) is not None:
            raise ReleaseError(
                f"{release.version} is already in the ledger; released versions are immutable "
                "(bump to a new version instead)"
            )
        self.releases.append(release)

    def url_for(self, release: Release) -> str:
        return (
            f"https://github.com/{self.repository}/releases/download/{release.tag}/{release.wheel}"
        )

    def pin_line(self, release: Release, extras: str = "") -> str:
        return f"{PACKAGE}{extras} @ {self.url_for(release)}#sha256={release.sha256}"

    def to_json(self) -> str:
        data = {
            "repository": self.repository,
            "tag_prefix": self.tag_prefix,
            "services": self.services,
            "releases": [
                asdict(r) for r in sorted(self.releases, key=lambda r: parse_version(r.version))
            ],
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = LEDGER_PATH) -> Ledger:
        try:
            data = json.loads(text)
            releases = [Release(**entry) for entry in data.get("releases", [])]
            ledger = cls(
                repository=data["repository"],
                tag_prefix=data["tag_prefix"],
                services=list(data["services"]),
                releases=releases,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ReleaseError(f"{where} is malformed: {exc}") from exc
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", ledger.repository):
            raise ReleaseError(f"{where}: repository must be owner/name, not {ledger.repository!r}")
        return ledger


@dataclass(frozen=True)
class Pin:
    repository: str
    tag: str
    wheel: str
    sha256: str
    extras: str
    line_number: int

    @property
    def version(self) -> str | None:
        match = re.fullmatch(r"varcade_workers-([^-]+)-py3-none-any\.whl", self.wheel)
        return match.group(1) if match else None


class Repo:
    """Paths of one checkout (the real one or a temporary copy in tests)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    @property
    def lib_dir(self) -> Path:
        return self.root / LIB_DIR

    @property
    def ledger_path(self) -> Path:
        return self.root / LEDGER_PATH

    def requirements(self, service: str) -> Path:
        return self.root / service / "requirements.txt"

    def load_ledger(self) -> Ledger:
        if not self.ledger_path.exists():
            raise ReleaseError(f"{LEDGER_PATH} is missing")
        return Ledger.from_json(self.ledger_path.read_text(encoding="utf-8"))

    def save_ledger(self, ledger: Ledger) -> None:
        self.ledger_path.write_text(ledger.to_json(), encoding="utf-8")

    def library_version(self) -> str:
        text = (self.root / ABOUT_PATH).read_text(encoding="utf-8")
        match = _ABOUT_RE.search(text)
        if not match:
            raise ReleaseError(f"{ABOUT_PATH} has no __version__ = 'X.Y.Z' line")
        parse_version(match.group(1))
        return match.group(1)

    def set_library_version(self, version: str) -> None:
        path = self.root / ABOUT_PATH
        text = path.read_text(encoding="utf-8")
        path.write_text(
            _ABOUT_RE.sub(f'__version__ = "{version}"', text, count=1), encoding="utf-8"
        )


def find_pin(text: str) -> Pin:
    """The library pin of a requirements file; ReleaseError when missing, repeated or malformed."""
    lines = text.splitlines()
    candidates = [(n, line) for n, line in enumerate(lines, 1) if LIB_LINE_RE.match(line)]
    if not candidates:
        raise ReleaseError("no varcade-workers pin line")
    if len(candidates) > 1:
        numbers = ", ".join(str(n) for n, _ in candidates)
        raise ReleaseError(f"more than one varcade-workers line (lines {numbers})")
    number, line = candidates[0]
    match = _PIN_RE.match(line.strip())
    if not match:
        raise ReleaseError(
            f"malformed pin on line {number}: {line.strip()!r}; expected "
            "'varcade-workers @ https://github.com/<owner>/<repo>/releases/download/"
            "<tag>/<wheel>#sha256=<64 hex>'"
        )
    return Pin(
        repository=match["repository"],
        tag=match["tag"],
        wheel=match["wheel"],
        sha256=match["sha256"],
        extras=match["extras"] or "",
        line_number=number,
    )


def replace_pin(text: str, new_line: str) -> str:
    """Drop every library line and put the new pin last (the only line the tooling owns)."""
    kept = [line for line in text.splitlines() if not LIB_LINE_RE.match(line)]
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join([*kept, new_line]) + "\n"


def existing_extras(text: str) -> str:
    try:
        return find_pin(text).extras
    except ReleaseError:
        return ""
