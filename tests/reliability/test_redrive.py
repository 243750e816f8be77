"""The store, not the broker, is the source of truth for unfinished work: when Redis
loses a message, the scheduler's pass sends the work again, and it ends as it would
have, once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from gateway.bootstrap import Container
from gateway.runners import running_workers, scheduler_pass
from gateway.settings import Settings
from store.tables import AuditEntry, Delivery
from tests.conftest import NamespacedRedis, auth, settings_for
from tests.integration.browse import link, registry
from tests.integration.test_deliveries import add_job
from tests.polling import wait_until
from tests.support.images import push_image
from tests.support.registry import RunningRegistry
from tests.support.webhook_receiver import WebhookReceiver

DEFAULT_OVERDUE_AFTER = 0.001  # seconds: in these tests anything unfinished is overdue


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_client: NamespacedRedis) -> Settings:
    return settings_for(tmp_path, database_url, redis_client, redrive_after=DEFAULT_OVERDUE_AFTER)


def lose_everything(redis_client: NamespacedRedis) -> None:
    """What a Redis that restarts without persistence does to the broker's queues."""
    keys = list(redis_client.scan_iter(match=f"{redis_client.namespace}:*"))
    if keys:
        redis_client.delete(*keys)


def outcome(api: TestClient, token: str, command_id: str) -> dict[str, Any] | None:
    doc: dict[str, Any] = api.get(f"/v1/commands/{command_id}", headers=auth(token)).json()
    return doc if doc.get("status") in ("succeeded", "failed") else None


def redrive(container: Container) -> None:
    scheduler_pass(container.uow, container.broker, container.settings)


def audit_actions(container: Container) -> list[str]:
    with container.uow() as uow:
        return [a.action for a in uow.session.exec(select(AuditEntry))]


def test_a_queued_command_whose_message_was_lost_is_applied_once(
    container: Container,
    api: TestClient,
    project: dict[str, Any],
    anon_registry: RunningRegistry,
    redis_client: NamespacedRedis,
) -> None:
    token = project["owner_token"]
    command_id = link(api, token, name="r", url=anon_registry.url)  # no worker runs yet
    lose_everything(redis_client)
    redrive(container)
    redrive(container)  # twice: the command is still applied once
    with running_workers(container, threads=4):
        done = wait_until(lambda: outcome(api, token, command_id), what="the link's outcome")
    assert (done["status"], done["registry"]["status"]) == ("succeeded", "verified")
    assert audit_actions(container).count("registry.link_requested") == 1


def test_a_lost_verification_and_a_lost_first_crawl_are_sent_again(
    workers: Container,
    api: TestClient,
    project: dict[str, Any],
    anon_registry: RunningRegistry,
    redis_client: NamespacedRedis,
) -> None:
    token = project["owner_token"]
    push_image(anon_registry.url, "team/app", "1")
    command_id = link(api, token, name="r", url=anon_registry.url)
    wait_until(
        lambda: (
            api.get(f"/v1/commands/{command_id}", headers=auth(token)).json()["status"] == "running"
        ),
        what="the link applied, its verification queued",
    )
    lose_everything(redis_client)  # the verify message is gone
    redrive(workers)
    with running_workers(workers, threads=4, queues={"verify"}):
        done = wait_until(lambda: outcome(api, token, command_id), what="the verification")
    assert done["status"] == "succeeded"
    assert registry(api, token, "r")["crawled_at"] is None
    lose_everything(redis_client)  # and the first crawl's message with it
    redrive(workers)
    with running_workers(workers, threads=4):
        doc = wait_until(
            lambda: (d := registry(api, token, "r"))["crawled_at"] is not None and d,
            what="the first crawl",
        )
    assert (doc["repository_count"], doc["tag_count"]) == (1, 1)


def test_a_lost_delivery_is_sent_again_and_received_once(
    container: Container,
    api: TestClient,
    project: dict[str, Any],
    anon_registry: RunningRegistry,
    redis_client: NamespacedRedis,
) -> None:
    token = project["owner_token"]
    with WebhookReceiver() as hooks:
        with running_workers(container, threads=4):
            command_id = link(api, token, name="r", url=anon_registry.url)
            wait_until(lambda: outcome(api, token, command_id), what="verified")
            add_job(api, token, hooks, "build")
            # the job starts using the registry; its delivery waits, unsent, and is lost
        with running_workers(container, threads=4, queues={"commands", "fanout"}):
            used = api.put("/v1/projects/demo/jobs/build/registries/r", headers=auth(token))
            assert used.status_code == 200, used.text
            wait_until(lambda: pending_deliveries(container), what="a delivery recorded")
        lose_everything(redis_client)
        redrive(container)
        with running_workers(container, threads=4):
            wait_until(lambda: not pending_deliveries(container), what="the delivery sent")
        events = hooks.events("build")
        assert len(events) == 1, "sent again, received once"
        assert events[0].get_data()["version"] == 1


def pending_deliveries(container: Container) -> list[Delivery]:
    with container.uow() as uow:
        return list(uow.session.exec(select(Delivery).where(Delivery.status == "pending")))
