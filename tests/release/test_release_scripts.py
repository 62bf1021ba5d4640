"""The tag/version gate of the release workflow, the image-build wheel helpers and the local install
choice, run here as the workflow and the Dockerfiles run them."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import docker_requirements
import install_local
import pytest
from conftest import SERVICES
from ledger import Repo


def build(root: Path, out: Path) -> Path:
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, str(root / "tools/build_workers.py"), "--out", str(out), "--sdist"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    return out


def test_tag_check_accepts_the_released_tag(released_repo, tool, tmp_path):
    output = tmp_path / "github_output"
    result = tool(
        released_repo,
        "check_tag",
        env={"GITHUB_REF_NAME": "varcade-workers-v1.0.0", "GITHUB_OUTPUT": str(output)},
    )
    assert result.returncode == 0, result.stderr
    assert output.read_text() == "version=1.0.0\n"


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("varcade-workers-v1.0.1", "the library at this commit is 1.0.0"),
        ("v1.0.0", "does not start with 'varcade-workers-v'"),
        ("", "no tag given"),
    ],
)
def test_tag_check_refuses_a_tag_that_is_not_the_version(released_repo, tool, tag, message):
    result = tool(released_repo, "check_tag", "--tag", tag)
    assert result.returncode == 1
    assert message in result.stderr


def test_tag_check_refuses_a_version_not_in_the_ledger(released_repo, tool):
    about = released_repo / "varcade_workers/src/varcade_workers/__about__.py"
    about.write_text('__version__ = "1.2.0"\n')
    result = tool(released_repo, "check_tag", "--tag", "varcade-workers-v1.2.0")
    assert result.returncode == 1
    assert "1.2.0 is not in the ledger at this commit: nothing is published" in result.stderr


def test_tag_check_verifies_the_built_wheel_and_writes_sums(released_repo, tool, tmp_path):
    dist = build(released_repo, tmp_path / "dist")
    sums = tmp_path / "SHA256SUMS"
    result = tool(
        released_repo,
        "check_tag",
        "--tag",
        "varcade-workers-v1.0.0",
        "--dist",
        str(dist),
        "--sums",
        str(sums),
    )
    assert result.returncode == 0, result.stderr
    lines = sums.read_text().splitlines()
    assert len(lines) == 2  # wheel and sdist
    for line in lines:
        digest, name = line.split("  ")
        assert hashlib.sha256((dist / name).read_bytes()).hexdigest() == digest
    wheel = dist / "varcade_workers-1.0.0-py3-none-any.whl"
    wheel.write_bytes(wheel.read_bytes() + b"\0")
    tampered = tool(
        released_repo, "check_tag", "--tag", "varcade-workers-v1.0.0", "--dist", str(dist)
    )
    assert tampered.returncode == 1
    assert "refusing to publish" in tampered.stderr


def test_local_install_uses_the_built_wheel_only_when_it_is_the_release(released_repo, tmp_path):
    repo = Repo(released_repo)
    built, reason = install_local.choose_wheel(repo, tmp_path / "a")
    assert built is not None, reason
    ledger = json.loads(repo.ledger_path.read_text())
    assert built.sha256 == ledger["releases"][0]["sha256"]
    module = released_repo / "varcade_workers/src/varcade_workers/__init__.py"
    module.write_text(module.read_text() + "\n# work in progress\n")
    built, reason = install_local.choose_wheel(repo, tmp_path / "b")
    assert built is None and "differs from released 1.0.0" in reason
    lines = install_local.requirement_lines(repo, SERVICES)
    assert lines and not any(line.startswith("varcade") for line in lines)


def test_local_install_falls_back_before_the_first_release(bootstrap_repo, tmp_path):
    built, reason = install_local.choose_wheel(Repo(bootstrap_repo), tmp_path)
    assert built is None and "no release of varcade_workers 1.0.0 is recorded" in reason


def test_local_wheels_supplies_the_commits_wheel_for_matching_pins(released_repo, tool, tmp_path):
    out = tmp_path / "local-wheels"
    result = tool(released_repo, "local_wheels", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert [p.name for p in out.iterdir()] == ["varcade_workers-1.0.0-py3-none-any.whl"]
    assert result.stdout.count("supplying") == len(SERVICES)


PIN = (
    "varcade-workers @ https://github.com/o/r/releases/download/varcade-workers-v1.0.0/"
    "varcade_workers-1.0.0-py3-none-any.whl#sha256=" + "a" * 64
)


def test_docker_requirements_keeps_the_url_without_inputs(tmp_path):
    text = f"flask==3.1.3\n{PIN}\n"
    assert docker_requirements.rewrite(text, tmp_path / "none", "", tmp_path, "http://x") == text


def test_docker_requirements_uses_a_supplied_wheel_and_keeps_the_hash(tmp_path):
    local = tmp_path / "local"
    local.mkdir()
    (local / "varcade_workers-1.0.0-py3-none-any.whl").write_bytes(b"wheel")
    out = docker_requirements.rewrite(f"flask==3.1.3\n{PIN}\n", local, "", tmp_path, "http://x")
    assert out.splitlines() == [
        "flask==3.1.3",
        f"varcade-workers @ {(local / 'varcade_workers-1.0.0-py3-none-any.whl').as_uri()}"
        f"#sha256={'a' * 64}",
    ]


class FakeGitHub(BaseHTTPRequestHandler):
    """The two API calls of a private release download; the asset redirects to 'storage'."""

    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        FakeGitHub.seen.append((self.path, self.headers.get("Authorization")))
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.path == "/repos/o/r/releases/tags/varcade-workers-v1.0.0":
            body = json.dumps(
                {
                    "assets": [
                        {
                            "name": "varcade_workers-1.0.0-py3-none-any.whl",
                            "url": f"{base}/repos/o/r/releases/assets/7",
                        }
                    ]
                }
            )
            self._send(200, body.encode())
        elif self.path == "/repos/o/r/releases/assets/7":
            self.send_response(302)
            self.send_header("Location", f"{base}/storage/wheel")
            self.end_headers()
        elif self.path == "/storage/wheel":
            self._send(200, b"the wheel")
        else:
            self._send(404, b"{}")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_docker_requirements_downloads_a_private_release_with_the_secret(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        api = f"http://127.0.0.1:{server.server_address[1]}"
        out = docker_requirements.rewrite(PIN + "\n", None, "s3cret", tmp_path / "dl", api)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    wheel = tmp_path / "dl" / "varcade_workers-1.0.0-py3-none-any.whl"
    assert wheel.read_bytes() == b"the wheel"
    assert out.strip().endswith(f"{wheel.as_uri()}#sha256={'a' * 64}")
    auth = dict(FakeGitHub.seen)
    assert auth["/repos/o/r/releases/tags/varcade-workers-v1.0.0"] == "Bearer s3cret"
    assert auth["/repos/o/r/releases/assets/7"] == "Bearer s3cret"
    assert auth["/storage/wheel"] is None, "the token never follows the redirect to storage"
