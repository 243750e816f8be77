"""A secret logged by mistake never reaches the output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from gateway.logs import configure_logging


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging("json", "DEBUG", stream=buffer)
    yield buffer
    logging.getLogger().handlers[:] = []


@pytest.mark.parametrize(
    ("fields", "secret"),
    [
        ({"password": "hunter2"}, "hunter2"),
        ({"token": "abcdef123"}, "abcdef123"),
        ({"headers": {"Authorization": "Bearer abc.def.ghi"}}, "abc.def.ghi"),
        ({"note": "sent Authorization: Basic dXNlcjpodW50ZXIy"}, "dXNlcjpodW50ZXIy"),
        (
            {"webhook": "secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ),
        ({"url": "https://bob:hunter2@r.test/v2/"}, "hunter2"),
        ({"api": "rlk_abcdefghijklmnop"}, "rlk_abcdefghijklmnop"),
        ({"items": ["ok", {"client_secret": "s3"}]}, "s3"),
        ({"error": "RuntimeError: login failed with password=hunter2 for bob"}, "hunter2"),
        ({"args": "{'token': 'tok-123', 'user': 'bob'}"}, "tok-123"),
    ],
)
def test_secrets_are_redacted_from_structlog_lines(
    output: io.StringIO, fields: dict, secret: str
) -> None:
    structlog.get_logger("test").info("something.happened", **fields)
    line = output.getvalue()
    assert "something.happened" in line
    assert secret not in line
    assert json.loads(line)["level"] == "info"


def test_secrets_are_redacted_from_standard_library_lines(output: io.StringIO) -> None:
    logging.getLogger("some.library").warning(
        "retrying with Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig"
    )
    assert "eyJhbGciOiJSUzI1NiJ9" not in output.getvalue()
    assert "retrying with" in output.getvalue()
