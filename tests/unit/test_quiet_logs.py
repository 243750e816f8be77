"""Logs stay readable: HTTP client request lines are DEBUG, and a line repeated many
times in a minute is held back, then counted."""

from __future__ import annotations

import ast
import io
import logging
from pathlib import Path

import structlog

import store
from gateway.logs import (
    DEFAULT_REPEAT_WINDOW,
    DEFAULT_REPEATS,
    Quieter,
    configure_logging,
    scrub,
)


def lines_of(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_http_request_lines_are_debug_only() -> None:
    stream = io.StringIO()
    configure_logging("json", "INFO", stream)
    logging.getLogger("httpx").info('HTTP Request: GET http://r.test/v2/ "HTTP/1.1 200 OK"')
    structlog.get_logger("reglink").info("crawl.finished", repositories=3)
    assert len(lines_of(stream)) == 1 and "crawl.finished" in stream.getvalue()

    configure_logging("json", "DEBUG", stream)
    logging.getLogger("httpx").info("HTTP Request: GET http://r.test/v2/")
    assert '"level": "debug"' in lines_of(stream)[-1]


def test_repeated_lines_are_held_back_and_counted() -> None:
    stream = io.StringIO()
    configure_logging("json", "INFO", stream)
    log = structlog.get_logger("reglink")
    for _ in range(50):
        log.warning("scheduler.pass_failed", error="OperationalError")
    log.warning("scheduler.pass_failed", error="another")  # a different line passes
    assert len(lines_of(stream)) == DEFAULT_REPEATS + 1


def test_the_first_line_of_a_new_window_says_how_many_were_held_back() -> None:
    now = [0.0]
    quieter = Quieter(logging.INFO, clock=lambda: now[0])

    def record() -> logging.LogRecord:
        event = {"event": "outbox.relay_failed", "error": "OperationalError"}
        return logging.LogRecord("workers.relay", logging.WARNING, "", 0, event, None, None)

    passed = [quieter.filter(record()) for _ in range(DEFAULT_REPEATS + 7)]
    assert passed.count(True) == DEFAULT_REPEATS
    now[0] = DEFAULT_REPEAT_WINDOW + 1
    later = record()
    assert quieter.filter(later) and later.msg["repeated"] == 7  # type: ignore[index]


def test_start_up_noise_is_debug_only_and_migration_steps_stay() -> None:
    stream = io.StringIO()
    configure_logging("json", "INFO", stream)
    migration = logging.getLogger("alembic.runtime.migration")
    migration.info("Context impl SQLiteImpl.")
    migration.info("Will assume non-transactional DDL.")
    migration.info("Running upgrade 0007 -> 0008, outbox index")

    class _WorkerMiddleware:  # dramatiq's own name, as its warning shows it (%r)
        pass

    logging.getLogger("dramatiq.broker.PoisonSafeRedisBroker").warning(
        "You're adding a middleware of the same type twice: %r. It may have unexpected results.",
        _WorkerMiddleware(),
    )
    logging.getLogger("dramatiq.broker.PoisonSafeRedisBroker").warning("Redis went away")
    lines = lines_of(stream)
    assert len(lines) == 2
    assert "Running upgrade" in lines[0] and "Redis went away" in lines[1]


def test_migration_titles_are_printed_as_written() -> None:
    """A first start prints each migration's title (`Running upgrade …`, its docstring's
    first paragraph); none may look like a secret to the redaction, or the line comes out
    mangled ('operators and tokens: [redacted] operator role …')."""
    versions = Path(store.__file__).with_name("migrations") / "versions"
    docs = [ast.get_docstring(ast.parse(p.read_text())) for p in sorted(versions.glob("0*.py"))]
    titles = [(doc or "").split("\n\n")[0] for doc in docs]
    assert len(titles) >= 9 and all(titles)
    assert [title for title in titles if scrub(title) != title] == []
