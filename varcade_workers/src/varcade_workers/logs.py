"""One log line per event, ``key=value``, the same in every service (CONVENTIONS "Logs and errors").

::

    setup_logging("stats-worker")
    log = logging.getLogger(__name__)
    log.info("game over applied", extra={"game_id": gid, "product_id": pid})
    # ts=2026-11-25T10:00:00.123Z level=INFO service=stats-worker logger=stats_tracker.worker
    #   msg="game over applied" game_id=g1 product_id=exrps

Fields given with ``extra=`` are appended in the order given. A traceback is folded into the same
line (``exc="..."`` with escaped newlines), so that one event stays one line for log collectors.
Text that came from outside (a ``user_id``, a JWT claim, a header) cannot forge or hide log content:
every non-printable character of a message or value (controls, bidi overrides, zero-width and other
format characters, line separators, lone surrogates) is written as an escape such as ``\\x1b`` or
``\\u202e``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, Final, TextIO

from varcade_workers.settings import ConfigError

__all__ = ["KeyValueFormatter", "format_value", "setup_logging"]

# Attributes every LogRecord has: anything else on a record came from `extra=`.
_RESERVED: Final = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)
_HANDLER_MARK: Final = "_varcade_handler"


def format_value(value: object) -> str:
    """A value as it appears after ``key=``: bare when it is one simple word, quoted otherwise."""
    text = value if isinstance(value, str) else str(value)
    if text and not any(c in text for c in ' "=\\') and text.isprintable():
        return text
    return _quote(text)


_SHORT_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(char: str) -> str:
    """``\\n``, ``\\r``, ``\\t``, else Python's ``\\xNN`` / ``\\uNNNN`` / ``\\UNNNNNNNN``."""
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _quote(text: str) -> str:
    """Quoted and escaped so that a value can neither end the line nor the value, nor hide or
    reorder what a terminal or log viewer shows: every non-printable character (C0/C1 controls,
    ESC sequences, bidi overrides and isolates, zero-width and other format characters, line and
    paragraph separators, lone surrogates, unassigned code points) is written as an escape;
    printable text, ASCII space and non-ASCII letters included, stays as it is."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    if not escaped.isprintable():  # the common case (printable text) skips the per-character pass
        escaped = "".join(c if c.isprintable() else _escape_char(c) for c in escaped)
    return f'"{escaped}"'


class KeyValueFormatter(logging.Formatter):
    """Formats a record as ``ts=... level=... service=... logger=... msg="..." key=value...``."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"ts={ts}.{int(record.msecs):03d}Z",
            f"level={record.levelname}",
            f"service={format_value(self.service)}",
            f"logger={format_value(record.name)}",
            f"msg={_quote(record.getMessage())}",
        ]
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                parts.append(f"{key}={format_value(value)}")
        if record.exc_info:
            parts.append(f"exc={format_value(self.formatException(record.exc_info))}")
        elif record.exc_text:
            parts.append(f"exc={format_value(record.exc_text)}")
        if record.stack_info:
            parts.append(f"stack={format_value(self.formatStack(record.stack_info))}")
        return " ".join(parts)


def setup_logging(
    service: str, level: str | None = None, *, stream: TextIO | None = None
) -> logging.Logger:
    """Configure the root logger once per process: one ``key=value`` line per event on stderr.

    ``level`` defaults to ``LOG_LEVEL`` (default ``INFO``). Calling it again replaces our handler
    (never adds a second one, so lines are not doubled) and applies the new service and level.
    Returns the root logger.
    """
    name = (level or os.environ.get("LOG_LEVEL") or "INFO").strip().upper()
    numeric: Any = logging.getLevelName(name)
    if not isinstance(numeric, int):
        raise ConfigError(f"LOG_LEVEL must be a level name (DEBUG, INFO, ...), got {name!r}")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(KeyValueFormatter(service))
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.captureWarnings(True)
    return root
