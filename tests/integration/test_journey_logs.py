"""Every log line of one command's journey carries its correlation and command ids."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.bootstrap import Container
from gateway.logs import configure_logging
from tests.conftest import auth
from tests.integration.browse import settled
from tests.support.images import push_image
from tests.support.registry import RunningRegistry


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging("json", "INFO", stream=buffer)
    yield buffer
    logging.getLogger().handlers[:] = []


def test_a_link_journey_is_one_story_in_the_logs(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    anon_registry: RunningRegistry,
    log_lines: io.StringIO,
) -> None:
    push_image(anon_registry.url, "app", "1")
    response = api.post(
        "/v1/projects/demo/registries",
        json={"name": "r", "url": anon_registry.url},
        headers={**auth(project["owner_token"]), "X-Correlation-Id": "journey-0001"},
    )
    command_id = response.json()["command_id"]
    assert settled(api, project["owner_token"], "r")["status"] == "verified"
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines() if line.startswith("{")]
    journey = [line for line in lines if line.get("correlation_id") == "journey-0001"]
    events = {line["event"] for line in journey}
    assert {"command.accepted", "command.applied", "verify.finished", "crawl.finished"} <= events
    assert {line.get("command_id") for line in journey} == {command_id}
    assert {line.get("actor") for line in journey} >= {
        "handle_command",
        "verify_registry",
        "crawl_registry",
    }
