"""structlog set-up: JSON in production, console on a terminal, secrets redacted always.

Redaction runs last before rendering, on every line from reglink, dramatiq, uvicorn and
anything else that logs through the standard library, so a secret logged by mistake
still never reaches the output.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"
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
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error", "dramatiq"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
