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


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("a\x00b", '"a\\x00b"'),  # C0 control
        ("\x1b[31mred", '"\\x1b[31mred"'),  # a terminal escape sequence
        ("del\x7f", '"del\\x7f"'),
        ("nel\x85csi\x9b", '"nel\\x85csi\\x9b"'),  # C1 controls
        ("bob\u202eevil", '"bob\\u202eevil"'),  # right-to-left override
        ("\u2066iso\u2069", '"\\u2066iso\\u2069"'),  # bidi isolates
        ("zero\u200bwidth\u200d\ufeff", '"zero\\u200bwidth\\u200d\\ufeff"'),
        ("line\u2028para\u2029", '"line\\u2028para\\u2029"'),  # Unicode line breaks
        ("lone\ud800", '"lone\\ud800"'),  # a lone surrogate (from JSON "\ud800")
        ("tag\U000e0041", '"tag\\U000e0041"'),  # a tag character (format, astral)
        ("a\nb\r\tc", '"a\\nb\\r\\tc"'),
        ("back\\x00slash", '"back\\\\x00slash"'),  # a literal backslash stays unambiguous
        ("é ж 🎮", '"é ж 🎮"'),  # printable non-ASCII text is kept as it is
        ("café", "café"),
    ],
)
def test_format_value_escapes_every_non_printable_character(value: str, text: str) -> None:
    assert format_value(value) == text


HOSTILE = "x\x00\x1b]0;pwn\x07\x85\u202e\u200b\u2028\ud800\ufeff\r\ny"


def test_hostile_message_and_fields_stay_one_printable_line() -> None:
    out = io.StringIO()
    setup_logging("svc", stream=out)
    logging.getLogger("z").warning(
        "refused %s", HOSTILE, extra={"user_id": HOSTILE, "username": f"a {HOSTILE}"}
    )
    line = out.getvalue()
    assert line.endswith("\n") and line.count("\n") == 1
    body = line[:-1]
    assert body.isprintable()  # no control, format, separator or surrogate character is left
    body.encode("utf-8")  # strict: a lone surrogate would raise here
    escaped = "x\\x00\\x1b]0;pwn\\x07\\x85\\u202e\\u200b\\u2028\\ud800\\ufeff\\r\\ny"
    assert f'msg="refused {escaped}"' in body
    assert f'user_id="{escaped}"' in body
    assert f'username="a {escaped}"' in body


def test_exception_text_is_escaped_too() -> None:
    out = io.StringIO()
    setup_logging("svc", stream=out)
    try:
        raise ValueError(f"bad id {HOSTILE}")
    except ValueError:
        logging.getLogger("z").exception("failed")
    line = out.getvalue()
    assert line.count("\n") == 1 and line[:-1].isprintable()
    assert "bad id x\\x00\\x1b]0;pwn" in line
