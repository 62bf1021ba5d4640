"""The pin line works with pip: the release wheel served at the GitHub release path is installed
from each service's requirements.txt (host rewritten to a local server) into a fresh virtualenv
with --no-cache-dir, and a wrong hash is refused. Third-party packages come from PyPI as usual."""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import SERVICES

GITHUB = "https://github.com/"


class RecordingHandler(SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, format: str, *args: object) -> None:
        RecordingHandler.requests.append(self.path)


@pytest.fixture(scope="module")
def release_server(released_template: Path, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """A local server holding the built wheel at /<owner>/<repo>/releases/download/<tag>/<wheel>."""
    ledger = json.loads((released_template / "varcade_workers/RELEASES.json").read_text())
    [release] = ledger["releases"]
    root = tmp_path_factory.mktemp("github")
    folder = root / ledger["repository"] / "releases" / "download" / release["tag"]
    subprocess.run(
        [sys.executable, str(released_template / "tools/build_workers.py"), "--out", str(folder)],
        cwd=released_template,
        check=True,
        capture_output=True,
    )
    wheel = folder / release["wheel"]
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == release["sha256"]
    handler = functools.partial(RecordingHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", wheel
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "proof"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    return venv / "bin" / "python"


def pip_install(python: Path, requirements: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "-r",
            str(requirements),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def installed(python: Path) -> tuple[str, str] | None:
    code = (
        "import importlib.metadata as m, json\n"
        "try:\n d = m.distribution('varcade-workers')\n"
        "except m.PackageNotFoundError:\n print('null')\n"
        "else:\n print(json.dumps([d.version, json.loads(d.read_text('direct_url.json'))['url']]))"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    return tuple(data) if data else None


def test_each_service_installs_the_pinned_wheel_and_a_wrong_hash_is_refused(
    released_template, release_server, fresh_venv, tmp_path
):
    base, wheel = release_server
    for service in SERVICES:
        text = (released_template / service / "requirements.txt").read_text()
        pin = text.splitlines()[-1]
        assert pin.startswith("varcade-workers @ " + GITHUB)
        requirements = tmp_path / f"{service}.txt"
        requirements.write_text(text.replace(GITHUB, base))
        subprocess.run(
            [str(fresh_venv), "-m", "pip", "uninstall", "-q", "-y", "varcade-workers"],
            check=True,
            capture_output=True,
        )
        before = len(RecordingHandler.requests)
        result = pip_install(fresh_venv, requirements)
        assert result.returncode == 0, result.stdout + result.stderr
        assert installed(fresh_venv) == (
            "1.0.0",
            pin.split(" @ ")[1].split("#")[0].replace(GITHUB, base),
        )
        assert any(path.endswith(wheel.name) for path in RecordingHandler.requests[before:])

    pin = (released_template / "matchmaker/requirements.txt").read_text().splitlines()[-1]
    sha = pin.rsplit("=", 1)[1]
    forged = pin.replace(GITHUB, base).replace(sha, hashlib.sha256(b"another wheel").hexdigest())
    subprocess.run(
        [str(fresh_venv), "-m", "pip", "uninstall", "-q", "-y", "varcade-workers"],
        check=True,
        capture_output=True,
    )
    requirements = tmp_path / "forged.txt"
    requirements.write_text(forged + "\n")
    # --no-deps: the hash is checked on the download itself, before anything is resolved
    refused = pip_install(fresh_venv, requirements, "--no-deps")
    assert refused.returncode != 0
    assert "HASHES" in refused.stderr or "hash" in refused.stderr.lower()
    assert installed(fresh_venv) is None
