"""The `stack` fixture: the arcade started for one test module (see e2e_support.py)."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator

import pytest
from e2e_support import ARTIFACTS, E2E_DBS, ROOT, RunningStack
from varcade_workers.testing import redis_base_url, redis_db

from tools.run.arcade_api import Arcade
from tools.run.stack import Ports, StackConfig, stack_specs
from tools.run.supervisor import ProcessFailed, Supervisor


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[RunningStack]:
    tick = str(getattr(request.module, "TICK_SECONDS", "0.1"))
    name = request.module.__name__.rsplit(".", 1)[-1]
    db = int(request.module.REDIS_DB)
    assert db in E2E_DBS, f"end-to-end tests use Redis databases {E2E_DBS} only"
    base = redis_base_url()
    run_dir = ROOT / ".run" / f"e2e-{name}-{secrets.token_hex(3)}"
    log_dir = ARTIFACTS / "e2e"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    secrets_env = {
        "JWT_SECRET": secrets.token_hex(16),
        "GAME_SERVER_TOKEN": secrets.token_hex(16),
    }
    running: RunningStack | None = None
    with redis_db(db) as client, log_path.open("w", encoding="utf-8") as log:
        try:
            # Free ports are free when picked; another suite may grab one before our services
            # bind it. Only that (seen in the log) earns a second attempt on new ports.
            for attempt in (1, 2):
                config = StackConfig(
                    redis=base,
                    ports=Ports.free(),
                    matchmaker_db=db,
                    stats_db=db,
                    stream_db=db,
                    environment="test",
                    run_dir=run_dir,
                    extra_env={"TICK_SECONDS": tick, "LOG_LEVEL": "INFO", **secrets_env},
                )
                supervisor = Supervisor(stack_specs(config), output=log, color=False)
                arcade = Arcade(config.page_url, config.matchmaker_url, config.stats_url)
                running = RunningStack(config, supervisor, arcade, client, log_path)
                request.node.stash[_STACK] = running
                try:
                    supervisor.start()
                    supervisor.wait_healthy(timeout=90)
                    break
                except ProcessFailed as exc:
                    supervisor.stop()
                    log.flush()
                    if attempt == 2 or "in use" not in running.log_tail(20_000):
                        tail = running.log_tail()
                        raise RuntimeError(f"{exc}\n--- stack log ---\n{tail}") from exc
            yield running
        finally:
            if running is not None:
                running.supervisor.stop()
                running.arcade.http.close()
                alive = {n: p.pid for n, p in running.supervisor.procs.items() if p.poll() is None}
                assert not alive, f"processes left behind: {alive}"
            shutil.rmtree(run_dir, ignore_errors=True)


_STACK = pytest.StashKey[RunningStack]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failure, show the end of the stack's log next to the assertion."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.when == "call":
        module = item.getparent(pytest.Module)
        running = module.stash.get(_STACK, None) if module is not None else None
        if running is not None:
            running.supervisor.output.flush()
            report.sections.append(("stack log (tail)", running.log_tail()))
