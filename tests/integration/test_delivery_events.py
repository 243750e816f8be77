"""Deliveries say what happened: a failing credential carries its reason and known expiry,
and every delivery about a registry carries a growing `sequence`, so a receiver that drops
anything at or below the last sequence it handled never loses one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.bootstrap import Container
from tests.conftest import USERS, auth
from tests.integration.browse import link, registry, settled
from tests.integration.test_deliveries import add_job, data, outcome, use, wait_events
from tests.integration.test_scheduler import tick
from tests.support.registry import RunningRegistry
from tests.support.webhook_receiver import WebhookReceiver

FAILING = "reglink.registry.credentials_failing"


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def kept_by_sequence(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a receiver keeps that drops anything at or below the last sequence it saw."""
    kept: list[dict[str, Any]] = []
    for event in events:
        if not kept or event["sequence"] > kept[-1]["sequence"]:
            kept.append(event)
    return kept


def test_a_failing_credential_says_why_and_its_expiry_and_orders_after_the_version_it_shares(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
    hooks: WebhookReceiver,
) -> None:
    token = project["owner_token"]
    expires = datetime.now(UTC) + timedelta(days=30)
    link(
        api,
        token,
        name="r",
        url=basic_registry.url,
        auth="basic",
        username="alice",
        password=USERS["alice"],
        expires_at=expires.isoformat(),
    )
    assert settled(api, token, "r")["status"] == "verified"
    add_job(api, token, hooks, "ci")
    assert use(api, token, "ci", "r").status_code == 200
    wait_events(hooks, "ci", 1)

    basic_registry.set_password("alice", "rotated-elsewhere")
    tick(all_workers)
    failing = data(wait_events(hooks, "ci", 2)[1])
    assert hooks.events("ci")[1].get_type() == FAILING
    assert failing["reason"] == "unauthorized" and failing["message"]
    assert datetime.fromisoformat(failing["expires_at"]) == expires

    response = api.patch(
        "/v1/projects/demo/registries/r",
        json={"password": "rotated-elsewhere"},
        headers=auth(token),
    )
    assert outcome(api, token, response.json()["command_id"])["status"] == "succeeded"
    assert registry(api, token, "r")["version"] == 2
    received = [data(e) for e in wait_events(hooks, "ci", 3)]

    assert [(d["version"], "reason" in d) for d in received] == [(1, False), (1, True), (2, False)]
    sequences = [d["sequence"] for d in received]
    assert sequences == sorted(sequences) and len(set(sequences)) == 3
    assert kept_by_sequence(received) == received, "nothing is lost by the ordering rule"
    assert hooks.rejected() == []


def test_an_expiring_credential_says_when(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    anon_registry: RunningRegistry,
    hooks: WebhookReceiver,
) -> None:
    token = project["owner_token"]
    expires = datetime.now(UTC) + timedelta(days=3)
    link(api, token, name="r", url=anon_registry.url, expires_at=expires.isoformat())
    assert settled(api, token, "r")["status"] == "verified"
    add_job(api, token, hooks, "ci")
    assert use(api, token, "ci", "r").status_code == 200
    wait_events(hooks, "ci", 1)

    tick(all_workers, later=timedelta(hours=2))
    event = wait_events(hooks, "ci", 2)[1]
    assert event.get_type() == "reglink.registry.credentials_expiring"
    assert datetime.fromisoformat(data(event)["expires_at"]) == expires
    assert data(event)["sequence"] > data(hooks.events("ci")[0])["sequence"]
