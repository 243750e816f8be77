"""A link command travels publisher -> Redis -> command actor -> store -> outbox -> verify queue."""

from __future__ import annotations

from typing import Any

import redis
from fastapi.testclient import TestClient
from sqlmodel import select

from events.broker import publish_command
from events.envelope import Envelope
from events.messages import LinkRegistry, RegistryLinkRequested
from gateway.bootstrap import Container
from store.tables import AuditEntry, CommandRecord, OutboxMessage
from tests.conftest import auth, registries_in
from tests.integration.redis_queue import queued_messages
from tests.polling import wait_until


def command_status(api: TestClient, token: str, command_id: str) -> str | None:
    response = api.get(f"/v1/commands/{command_id}", headers=auth(token))
    return response.json()["status"] if response.status_code == 200 else None


def test_link_ends_pending_with_verification_request_queued(
    workers: Container, api: TestClient, project: dict[str, Any], redis_client: redis.Redis
) -> None:
    response = api.post(
        "/v1/projects/demo/registries",
        json={"name": "hub", "url": "https://registry.example.test", "auth": "anonymous"},
        headers={**auth(project["owner_token"]), "X-Correlation-Id": "corr-123"},
    )
    assert response.status_code == 202
    command_id = response.json()["command_id"]
    assert response.headers["Location"] == f"/v1/commands/{command_id}"

    # applied: the registry waits for its verification, and so does the command
    wait_until(lambda: command_status(api, project["owner_token"], command_id) == "running")
    listing = api.get("/v1/projects/demo/registries?all=true", headers=auth(project["owner_token"]))
    assert [(r["name"], r["status"], r["version"]) for r in listing.json()["registries"]] == [
        ("hub", "pending", 1)
    ]
    plain = api.get("/v1/projects/demo/registries", headers=auth(project["owner_token"]))
    assert plain.json()["registries"] == [], "pending registries are not linked yet"

    messages = wait_until(lambda: queued_messages(redis_client, "verify"), what="verify message")
    assert len(messages) == 1
    assert messages[0]["actor_name"] == "verify_registry"
    envelope = Envelope.model_validate(messages[0]["args"][0])
    assert envelope.type == RegistryLinkRequested.TYPE
    assert envelope.commandid == command_id
    assert envelope.correlationid == "corr-123"
    assert envelope.actor == "alice"
    assert envelope.data["name"] == "hub" and envelope.data["version"] == 1


def test_same_command_delivered_twice_changes_nothing_the_second_time(
    workers: Container, project: dict[str, Any], redis_client: redis.Redis
) -> None:
    command = LinkRegistry(project="demo", name="hub", url="https://registry.example.test")
    envelope = Envelope.wrap(command, command_id="cmd-twice-0001", actor="alice")
    publish_command(workers.broker, envelope)
    publish_command(workers.broker, envelope)
    workers.broker.join("commands", timeout=15_000)
    wait_until(lambda: queued_messages(redis_client, "verify"), what="verify message")

    assert len(registries_in(workers)) == 1
    with workers.uow() as uow:
        outbox = list(uow.session.exec(select(OutboxMessage)))
        audits = list(
            uow.session.exec(select(AuditEntry).where(AuditEntry.command_id == "cmd-twice-0001"))
        )
        record = uow.session.get(CommandRecord, "cmd-twice-0001")
    assert len(outbox) == 1
    assert [a.action for a in audits] == ["registry.link_requested"]
    assert record is not None and record.status == "running"  # until the verification
    assert len(queued_messages(redis_client, "verify")) == 1


def test_two_link_commands_racing_for_one_name_link_it_once(
    workers: Container, project: dict[str, Any]
) -> None:
    ids = [f"race-cmd-{i:04d}" for i in range(6)]
    for command_id in ids:
        command = LinkRegistry(
            project="demo", name="Hub", url=f"https://r{command_id[-1]}.example.test"
        )
        publish_command(
            workers.broker, Envelope.wrap(command, command_id=command_id, actor="alice")
        )
    workers.broker.join("commands", timeout=15_000)

    assert len(registries_in(workers)) == 1
    with workers.uow() as uow:
        outcomes = sorted((r.status, r.error_code) for r in uow.session.exec(select(CommandRecord)))
    assert outcomes == [("failed", "conflict")] * 5 + [("running", None)]
