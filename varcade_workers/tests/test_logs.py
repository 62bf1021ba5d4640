"""logs: one key=value line per event, extra fields appended, idempotent setup."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest
from varcade_workers.logs import format_value, setup_logging
from varcade_workers.settings import ConfigError


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_one_line_with_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    out = io.StringIO()
    setup_logging("stats-worker", stream=out)
    logging.getLogger("svc.part").info(
        'game "over" %s', "applied", extra={"game_id": "g1", "product_id": "exrps", "n": 3}
    )
    line = out.getvalue()
    assert line.count("\n") == 1
    assert re.fullmatch(
        r"ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=INFO service=stats-worker "
        r'logger=svc.part msg="game \\"over\\" applied" game_id=g1 product_id=exrps n=3\n',
        line,
    ), line


def test_traceback_stays_on_the_line() -> None:
    out = io.StringIO()
    setup_logging("svc", stream=out)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("x").exception("failed", extra={"game_id": "g 2"})
    line = out.getvalue()
    assert line.count("\n") == 1
    assert 'game_id="g 2"' in line
    assert 'exc="Traceback (most recent call last):\\n' in line
    assert "RuntimeError: boom" in line


def test_idempotent_and_level(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setenv("LOG_LEVEL", "warning")
    setup_logging("a", stream=out)
    setup_logging("b", stream=out)
    log = logging.getLogger("y")
    log.info("hidden")
    log.warning("shown")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1  # no doubled handler, INFO filtered
    assert "service=b" in lines[0]
    setup_logging("b", "debug", stream=out)
    log.debug("now shown")
    assert "now shown" in out.getvalue()


def test_bad_level_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        setup_logging("svc", "loud")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("abc", "abc"),
        (12, "12"),
        ("", '""'),
        ("a b", '"a b"'),
        ('x"y', '"x\\"y"'),
        ("a=b", '"a=b"'),
    ],
)
def test_format_value(value: object, text: str) -> None:
    assert format_value(value) == text
