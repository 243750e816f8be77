"""Concurrent updates of one registry on PostgreSQL, with two workers: transitions of one
registry are serialized, so every proposal ends (applied, failed or superseded), none
keeps its secret, and every command has its outcome."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from events.broker import publish_command
from events.envelope import Envelope
from events.messages import UpdateRegistry
from events.sealing import seal
from gateway.bootstrap import Container, bootstrap
from gateway.runners import running_workers
from gateway.settings import Settings
from store.tables import CommandRecord, RegistryUpdate
from tests.conftest import USERS, NamespacedRedis, settings_for
from tests.integration.browse import link, registry, settled
from tests.polling import wait_until
from tests.support.registry import RunningRegistry

PAIRS = 30


@pytest.fixture
def settings(tmp_path: Path, postgres_url: str, redis_client: NamespacedRedis) -> Settings:
    return settings_for(tmp_path, postgres_url, redis_client)


@pytest.fixture
def two_workers(container: Container, settings: Settings) -> Iterator[Container]:
    """Two workers, each with its own broker connection and database pool."""
    other = bootstrap(settings)
    with running_workers(container, threads=4), running_workers(other, threads=4):
        yield container
    other.broker.close()
    other.store.engine.dispose()


def test_concurrent_updates_leave_no_proposal_pending_and_no_secret_behind(
    two_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
) -> None:
    token = project["owner_token"]
    link(
        api,
        token,
        name="r",
        url=basic_registry.url,
        auth="basic",
        username="alice",
        password=USERS["alice"],
    )
    assert settled(api, token, "r")["status"] == "verified"
    public = two_workers.keys.public
    ids = []
    for pair in range(PAIRS):
        for side in ("a", "b"):
            command_id = f"concurrent-{pair:02d}-{side}"
            command = UpdateRegistry(
                project="demo",
                name="r",
                description=command_id,
                sealed_secret=seal(USERS["alice"], public, project="demo"),
            )
            envelope = Envelope.wrap(command, command_id=command_id, actor="alice")
            publish_command(two_workers.broker, envelope)
            ids.append(command_id)

    def outcomes() -> list[CommandRecord] | None:
        with two_workers.uow() as uow:
            rows = list(
                uow.session.exec(
                    select(CommandRecord).where(CommandRecord.type == UpdateRegistry.TYPE)
                )
            )
        done = [r for r in rows if r.status in ("succeeded", "failed")]
        return rows if len(done) == len(ids) else None

    records = wait_until(outcomes, timeout=120, what="every update command settled")
    with two_workers.uow() as uow:
        proposals = list(uow.session.exec(select(RegistryUpdate)))
    assert [p.id for p in proposals if p.status == "pending"] == []
    assert [p.id for p in proposals if p.ciphertext or p.wrapped_key] == []
    applied = [p for p in proposals if p.status == "applied"]
    failures = {r.error_code for r in records if r.status == "failed"}
    assert failures <= {"conflict"}, "only superseded updates fail"
    assert len(applied) == sum(r.status == "succeeded" for r in records)
    doc = registry(api, token, "r")
    assert (doc["status"], doc["version"]) == ("verified", 1 + len(applied))
