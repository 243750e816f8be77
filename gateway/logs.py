"""structlog set-up: JSON in production, console on a terminal, secrets redacted always,
and quiet: one line per command step at INFO, not one per HTTP request.

Redaction runs last before rendering, on every line from reglink, dramatiq, uvicorn and
anything else that logs through the standard library, so a secret logged by mistake
still never reaches the output.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"
CHATTY_LOGGERS = ("httpx", "httpcore", "uvicorn.access")  # a line per request: DEBUG
DEFAULT_REPEATS = 5  # identical lines let through per window; the rest are counted
DEFAULT_REPEAT_WINDOW = 60.0  # seconds
_SECRET_KEY = re.compile(
    r"pass(word)?|secret|token|authorization|credential|sealed|api[_-]?key", re.I
)
_SECRET_TEXT = re.compile(
    r"(whsec_[A-Za-z0-9+/=_-]+|rlk_[A-Za-z0-9_-]+|rlseal1\.[A-Za-z0-9._-]+"
    r"|(?i:bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}|://[^/\s:@]+:[^/\s@]+@)"
)


# `password=…`, `"token": "…"` inside free text (exception messages, message arguments)
_SECRET_ASSIGNMENT = re.compile(
    rf"(?P<key>[\w.-]*(?:{_SECRET_KEY.pattern})[\w.-]*)(?P<sep>[\"']?\s*[=:]\s*)"
    rf"(?!{re.escape(REDACTED)})(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;&)}}\]]+)",
    re.I,
)


def scrub(value: Any) -> Any:
    """`value` with secret-looking keys, assignments and token shapes redacted."""
    if isinstance(value, str):
        value = _SECRET_TEXT.sub(REDACTED, value)
        return _SECRET_ASSIGNMENT.sub(rf"\g<key>\g<sep>{REDACTED}", value)
    if isinstance(value, dict):
        return {k: REDACTED if _SECRET_KEY.search(str(k)) else scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub(v) for v in value)
    return value


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    """Drop values under secret-looking keys and secret-looking text anywhere."""
    return dict(scrub(event_dict))


class Quieter(logging.Filter):
    """Per-request lines (httpx, httpcore, uvicorn's access log) are DEBUG, not INFO; a
    line repeated more than DEFAULT_REPEATS times in a window is held back, and the next
    one let through says how many were (`repeated`)."""

    def __init__(self, level: int, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._level = level
        self._clock = clock
        self._seen: dict[tuple[Any, ...], list[float]] = {}  # key -> [window start, count]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        chatty = record.name.startswith(CHATTY_LOGGERS) and record.levelno == logging.INFO
        if chatty or _start_up_noise(record):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            if self._level > logging.DEBUG:
                return False
        return self._within_limit(record)

    def _within_limit(self, record: logging.LogRecord) -> bool:
        key = _line_key(record)
        now = self._clock()
        with self._lock:
            start, count = self._seen.get(key, (now, 0.0))
            if now - start > DEFAULT_REPEAT_WINDOW:
                held = int(count) - DEFAULT_REPEATS
                self._seen[key] = [now, 1.0]
                if held > 0:
                    _say_repeated(record, held)
                return True
            self._seen[key] = [start, count + 1]
            if len(self._seen) > 10_000:  # bounded memory: forget old lines
                self._seen.clear()
            return count < DEFAULT_REPEATS


def _start_up_noise(record: logging.LogRecord) -> bool:
    """Lines every start printed that tell an operator nothing: alembic's set-up chatter
    (its migration steps, `Running upgrade …`, stay at INFO), and dramatiq's warning
    that a second Worker on one broker adds a second `_WorkerMiddleware` (each Worker
    needs its own; reglink runs two on purpose, crawls on a pool of their own)."""
    message = record.getMessage()
    if record.name.startswith("alembic.") and record.levelno == logging.INFO:
        return not message.startswith("Running ")
    return record.name.startswith("dramatiq.broker") and "_WorkerMiddleware" in message


def _line_key(record: logging.LogRecord) -> tuple[Any, ...]:
    if isinstance(record.msg, dict):
        items = tuple(sorted((k, str(v)) for k, v in record.msg.items() if k != "timestamp"))
        return (record.name, record.levelno, items)
    return (record.name, record.levelno, str(record.msg), str(record.args))


def _say_repeated(record: logging.LogRecord, held: int) -> None:
    if isinstance(record.msg, dict):
        record.msg = {**record.msg, "repeated": held}
    else:
        record.msg = f"{record.msg} (and {held} times more)"


def configure_logging(
    log_format: str = "auto", level: str = "INFO", stream: TextIO | None = None
) -> None:
    stream = stream or sys.stderr
    use_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.setLevel(level.upper())
    handler.addFilter(Quieter(root.level))
    root.handlers[:] = [handler]
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error", "dramatiq"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
