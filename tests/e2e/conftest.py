"""The `stack` fixture: the arcade started for one test module (see e2e_support.py)."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator

import pytest
import redis
from e2e_support import ARTIFACTS, E2E_DBS, ROOT, RunningStack
from varcade_workers.testing import redis_base_url

from tools.run.arcade_api import Arcade
from tools.run.stack import Ports, StackConfig, stack_specs
from tools.run.supervisor import Supervisor


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[RunningStack]:
    tick = str(getattr(request.module, "TICK_SECONDS", "0.1"))
    name = request.module.__name__.rsplit(".", 1)[-1]
    db = int(request.module.REDIS_DB)
    assert db in E2E_DBS, f"end-to-end tests use Redis databases {E2E_DBS} only"
    base = redis_base_url()
    client = redis.Redis.from_url(f"{base}/{db}", decode_responses=True)
    client.flushdb()
    run_dir = ROOT / ".run" / f"e2e-{name}-{secrets.token_hex(3)}"
    log_dir = ARTIFACTS / "e2e"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    config = StackConfig(
        redis=base,
        ports=Ports.free(),
        matchmaker_db=db,
        stats_db=db,
        stream_db=db,
        environment="test",
        run_dir=run_dir,
        extra_env={
            "TICK_SECONDS": tick,
            "JWT_SECRET": secrets.token_hex(16),
            "GAME_SERVER_TOKEN": secrets.token_hex(16),
            "LOG_LEVEL": "INFO",
        },
    )
    with log_path.open("w", encoding="utf-8") as log:
        supervisor = Supervisor(stack_specs(config), output=log, color=False, grace_seconds=8)
        running = RunningStack(
            config,
            supervisor,
            Arcade(config.page_url, config.matchmaker_url, config.stats_url),
            client,
            log_path,
        )
        request.node.stash[_STACK] = running
        try:
            supervisor.start()
            supervisor.wait_healthy(timeout=90)
            yield running
        except Exception as exc:
            log.flush()
            raise RuntimeError(f"{exc}\n--- stack log ---\n{running.log_tail()}") from exc
        finally:
            supervisor.stop()
            running.arcade.http.close()
            client.flushdb()
            client.close()
            shutil.rmtree(run_dir, ignore_errors=True)
    dead = {n: p.pid for n, p in supervisor.procs.items() if p.poll() is None}
    assert not dead, f"processes left behind: {dead}"


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
            for sup_out in (running.supervisor.output,):
                sup_out.flush()
            report.sections.append(("stack log (tail)", running.log_tail()))
