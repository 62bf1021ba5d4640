"""The workflows pin actions only by the SHAs of ../shared/ACTION_PINS.md, grant least privilege
per job, keep credentials out of the checkout and never expand ${{ }} inside run: scripts."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT, SHARED
from ruamel.yaml import YAML

WORKFLOWS = ("ci.yml", "release.yml")


def load(name: str) -> dict:
    return YAML(typ="safe").load((ROOT / ".github/workflows" / name).read_text(encoding="utf-8"))


def verified_pins() -> dict[str, dict[str, str]]:
    """action -> {sha: version}, from the first (verified) table of ACTION_PINS.md only."""
    text = (SHARED / "ACTION_PINS.md").read_text(encoding="utf-8")
    verified = text.split("## Newer releases with weaker evidence")[0]
    pins: dict[str, dict[str, str]] = {}
    for action, version, sha in re.findall(
        r"^\| ([\w.-]+/[\w.-]+) \| (v?[\d.]+)[^|]* \| `([0-9a-f]{40})` \|", verified, re.M
    ):
        pins.setdefault(action, {})[sha] = version
    return pins


def steps(workflow: dict):
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, step


@pytest.mark.parametrize("name", WORKFLOWS)
def test_actions_are_pinned_by_verified_sha_with_version_comment(name):
    pins = verified_pins()
    assert pins, "ACTION_PINS.md was read"
    text = (ROOT / ".github/workflows" / name).read_text(encoding="utf-8")
    uses = re.findall(r"uses: ([\w.-]+/[\w.-]+)@(\S+)(?: # (\S+))?", text)
    assert uses
    for action, ref, comment in uses:
        assert action in pins, f"{action} is not in ACTION_PINS.md"
        assert ref in pins[action], f"{action}@{ref} is not a listed SHA"
        assert comment == pins[action][ref], f"{action}@{ref} is {pins[action][ref]}, not {comment}"


@pytest.mark.parametrize("name", WORKFLOWS)
def test_least_privilege_and_no_persisted_credentials(name):
    workflow = load(name)
    assert workflow["permissions"] == {}, "nothing at the top; each job says what it needs"
    for job_name, job in workflow["jobs"].items():
        assert "permissions" in job, job_name
        writes = {k for k, v in job["permissions"].items() if v == "write"}
        if name == "ci.yml":
            assert not writes, f"ci.yml job {job_name} writes {writes}"
    for job_name, step in steps(workflow):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False, job_name


@pytest.mark.parametrize("name", WORKFLOWS)
def test_no_expressions_inside_run_scripts(name):
    for job_name, step in steps(load(name)):
        if "run" in step:
            assert "${{" not in step["run"], f"{job_name}: pass values through env:"


def test_release_runs_on_the_tag_and_gates_publication():
    workflow = load("release.yml")
    assert workflow[True if True in workflow else "on"]["push"]["tags"] == ["varcade-workers-v*"]
    build, publish = workflow["jobs"]["build"], workflow["jobs"]["publish"]
    assert build["permissions"] == {"contents": "read"}
    assert publish["permissions"] == {
        "contents": "write",
        "id-token": "write",
        "attestations": "write",
    }
    assert publish["needs"] == "build"
    scripts = "\n".join(step.get("run", "") for _, step in steps(workflow))
    assert "tools/release/check_tag.py" in scripts and "--dist dist" in scripts
    assert "tools/build_workers.py --out dist --sdist" in scripts
    assert "twine check --strict" in scripts
    assert 'gh release create "$TAG"' in scripts
    assert 'gh release view "$TAG"' in scripts
    used = [step.get("uses", "") for _, step in steps(workflow)]
    assert any(u.startswith("actions/attest@") for u in used)


def test_ci_covers_the_issue():
    workflow = load("ci.yml")
    triggers = workflow[True if True in workflow else "on"]
    assert "push" in triggers and "pull_request" in triggers
    jobs = workflow["jobs"]
    assert jobs["library"]["strategy"]["matrix"]["python"] == ["3.10", "3.11", "3.12", "3.13"]
    assert "redis" in jobs["test"]["services"]
    scripts = "\n".join(step.get("run", "") for _, step in steps(workflow))
    for command in (
        "make check-pins",
        "make static-checks",
        "make test",
        "playwright install --with-deps chromium",
        "local_wheels.py",
    ):
        assert command in scripts
    assert "CHROMIUM_PATH" not in str(jobs["test"].get("env", {}))
    builds = [s for _, s in steps(workflow) if s.get("uses", "").startswith("docker/build-push")]
    assert builds and builds[0]["with"]["build-contexts"] == "local-wheels=local-wheels"
