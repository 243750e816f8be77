"""The published contract is what the server serves and what the workers accept: the
AsyncAPI document in docs/ equals `GET /v1/asyncapi.json`, and the commands the gateway
puts on the broker validate against it (the webhook receiver of the suite checks every
delivery against it too)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dramatiq import Broker, Message, Middleware
from fastapi.testclient import TestClient

from events import webhooks
from events.deliveries import cloud_event
from events.messages import COMMAND_TYPES
from events.sealing import load_private_key, public_key_text, unseal
from gateway.bootstrap import Container
from gateway.runners import running_workers
from tests.conftest import USERS, auth
from tests.integration.browse import link, settled
from tests.integration.test_deliveries import outcome
from tests.polling import wait_until
from tests.support.contract import (
    PUBLISHED,
    command_problems,
    problems,
    published,
    webhook_problems,
)
from tests.support.registry import RunningRegistry

NODE = Path(__file__).resolve().parents[1] / "node"


def test_the_published_document_is_the_one_the_server_serves(api: TestClient) -> None:
    response = api.get("/v1/asyncapi.json")
    assert response.status_code == 200
    served: dict[str, Any] = response.json()
    assert served == published(), "regenerate: python -m events.asyncapi > docs/asyncapi.json"
    assert served["asyncapi"] == "3.0.0"


class CommandRecorder(Middleware):
    """Every message the command actor processed without an error, as it came off Redis."""

    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []

    def after_process_message(
        self, broker: Broker, message: Message[Any], *, result: Any = None, exception: Any = None
    ) -> None:
        if message.queue_name == "commands" and exception is None:
            self.accepted.append(json.loads(message.encode()))


@pytest.fixture
def recorded(container: Container) -> Iterator[CommandRecorder]:
    recorder = CommandRecorder()
    container.broker.add_middleware(recorder)
    with running_workers(container, threads=4):
        yield recorder


def test_every_command_the_workers_accept_matches_the_published_schema(
    recorded: CommandRecorder,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
) -> None:
    token = project["owner_token"]
    link(api, token, name="r", url=basic_registry.url, auth="basic", username="alice",
         password=USERS["alice"], repositories=["team/app"])  # fmt: skip
    assert settled(api, token, "r")["status"] == "verified"
    for method, path, body in [
        ("patch", "/v1/projects/demo/registries/r", {"password": USERS["alice"]}),
        ("post", "/v1/projects/demo/registries/r/crawl", None),
        ("delete", "/v1/projects/demo/registries/r?force=true", None),
    ]:
        response = api.request(method, path, json=body, headers=auth(token))
        assert response.status_code == 202, response.text
        assert outcome(api, token, response.json()["command_id"])["status"] == "succeeded"

    wait_until(lambda: len(recorded.accepted) == len(COMMAND_TYPES), what="the actor's return")
    types = [m["args"][0]["type"] for m in recorded.accepted]
    assert sorted(types) == sorted(COMMAND_TYPES)
    assert [p for m in recorded.accepted for p in command_problems(m)] == []
    sealed = [m["args"][0]["data"]["sealed_secret"] for m in recorded.accepted[:2]]
    assert all(problems("#/components/schemas/SealedSecret/schema", s) == [] for s in sealed)


def test_a_command_that_breaks_the_contract_is_named_by_the_schema() -> None:
    message = {
        "queue_name": "commands",
        "actor_name": "handle_command",
        "args": [{"type": "reglink.command.link", "id": "c", "commandid": "c",
                  "correlationid": "c", "actor": "alice",
                  "data": {"project": "demo", "name": "r", "url": "https://x", "pasword": "pw"}}],
        "kwargs": {},
        "options": {},
    }  # fmt: skip
    found = command_problems(message)
    assert any("redis_message_id" in p for p in found), found
    assert any("pasword" in p for p in found), found


def test_the_worked_sealing_example_opens_with_its_published_key() -> None:
    sealed = published()["components"]["schemas"]["SealedSecret"]["schema"]
    private = load_private_key(sealed["description"].split("(private `")[1].split("`")[0])
    assert sealed["examples"][0].split(".")[1] in sealed["description"]
    assert public_key_text(private) in sealed["description"]
    assert unseal(sealed["examples"][0], [private], project="demo") == "s3cret-password"


def test_a_webhook_without_its_ordering_field_is_named_by_the_schema() -> None:
    """What the suite's webhook receiver checks every delivery with."""
    event = cloud_event(
        "d-1",
        "credentials_expiring",
        project="demo",
        registry="r",
        url="https://r.example",
        version=1,
        sequence=3,
        extra={"expires_at": "2027-01-01T00:00:00Z"},
    )
    headers = webhooks.headers("whsec_" + "A" * 44, "d-1", json.dumps(event).encode())
    assert webhook_problems(headers, event) == []
    del event["data"]["sequence"]
    assert any("sequence" in p for p in webhook_problems(headers, event))


def test_the_published_document_is_valid_asyncapi_to_the_asyncapi_parser() -> None:
    """Checked by the AsyncAPI Initiative's own parser (tests/node), not by our reading of
    the specification."""
    result = subprocess.run(
        ["node", str(NODE / "validate-asyncapi.mjs"), str(PUBLISHED)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
