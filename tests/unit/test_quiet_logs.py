"""Logs stay readable: HTTP client request lines are DEBUG, and a line repeated many
times in a minute is held back, then counted."""

from __future__ import annotations

import io
import logging

import structlog

from gateway.logs import DEFAULT_REPEATS, configure_logging


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
