"""Periodic re-verification and re-crawl: degraded, expiring, recovered, re-crawled."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import select

from gateway.bootstrap import Container
from gateway.runners import run_scheduler
from store.schedule import claim_due
from store.tables import Delivery, OutboxMessage
from tests.conftest import USERS, auth
from tests.e2e.processes import free_port
from tests.integration.browse import link, registry, settled
from tests.polling import wait_until
from tests.support.images import push_image
from tests.support.registry import RunningRegistry

FAILING = "reglink.registry.credentials_failing"
EXPIRING = "reglink.registry.credentials_expiring"


def tick(container: Container, *, later: timedelta = timedelta(days=1)) -> tuple[int, int]:
    """One scheduler pass as if `later` had passed (intervals of one hour)."""
    with container.uow() as uow:
        claimed = claim_due(
            uow, timedelta(hours=1), timedelta(hours=1), now=datetime.now(UTC) + later
        )
        uow.commit()
    return claimed


def events_of(container: Container, type_: str) -> list[dict[str, Any]]:
    with container.uow() as uow:
        rows = uow.session.exec(select(OutboxMessage).where(OutboxMessage.type == type_))
        return [row.envelope["data"] for row in rows]


def test_credentials_that_stop_working_turn_the_registry_degraded_once_then_recover(
    all_workers: Container,
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
    job = api.post(
        "/v1/projects/demo/jobs",
        json={"name": "ci", "webhook": f"http://127.0.0.1:{free_port()}/hook"},
        headers=auth(token),
    )
    assert job.status_code == 201
    assert api.put("/v1/projects/demo/jobs/ci/registries/r", headers=auth(token)).status_code == 200

    basic_registry.set_password("alice", "rotated-elsewhere")
    assert tick(all_workers) == (1, 1)
    doc = wait_until(
        lambda: (d := registry(api, token, "r"))["status"] == "degraded" and d, what="degraded"
    )
    assert (doc["reason"], doc["version"]) == ("unauthorized", 1)
    assert [
        r["name"]
        for r in api.get("/v1/projects/demo/registries", headers=auth(token)).json()["registries"]
    ] == ["r"]
    wait_until(lambda: len(events_of(all_workers, FAILING)) == 1, what="credentials_failing event")
    wait_until(
        lambda: [d.kind for d in _deliveries(all_workers)].count("credentials_failing") == 1,
        what="credentials_failing delivery",
    )

    tick(all_workers, later=timedelta(days=2))  # still failing: no second announcement
    wait_until(lambda: registry(api, token, "r")["status"] == "degraded")
    all_workers.broker.join("verify", timeout=15_000)
    assert len(events_of(all_workers, FAILING)) == 1

    basic_registry.set_password("alice", USERS["alice"])
    tick(all_workers, later=timedelta(days=3))
    doc = wait_until(
        lambda: (d := registry(api, token, "r"))["status"] == "verified" and d, what="recovered"
    )
    assert doc["reason"] is None


def _deliveries(container: Container) -> list[Delivery]:
    with container.uow() as uow:
        return list(uow.session.exec(select(Delivery)))


def test_a_known_expiry_turns_the_registry_expiring_ahead_of_time(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    anon_registry: RunningRegistry,
    basic_registry: RunningRegistry,
) -> None:
    token = project["owner_token"]
    expires = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    link(
        api,
        token,
        name="soon",
        url=basic_registry.url,
        auth="basic",
        username="alice",
        password=USERS["alice"],
        expires_at=expires,
    )
    link(api, token, name="later", url=anon_registry.url)
    assert settled(api, token, "soon")["status"] == "verified"
    assert settled(api, token, "later")["status"] == "verified"
    tick(all_workers, later=timedelta(hours=2))
    doc = wait_until(
        lambda: (d := registry(api, token, "soon"))["status"] == "expiring" and d, what="expiring"
    )
    assert doc["reason"] == "expiring" and doc["message"]
    assert [e["name"] for e in wait_until(lambda: events_of(all_workers, EXPIRING))] == ["soon"]
    all_workers.broker.join("verify", timeout=15_000)
    assert registry(api, token, "later")["status"] == "verified"


def test_catalogs_are_recrawled_when_due(
    all_workers: Container, api: TestClient, project: dict[str, Any], anon_registry: RunningRegistry
) -> None:
    push_image(anon_registry.url, "app", "1")
    token = project["owner_token"]
    link(api, token, name="r", url=anon_registry.url)
    first = settled(api, token, "r")
    push_image(anon_registry.url, "app", "2")
    assert tick(all_workers, later=timedelta(minutes=30)) == (0, 0), "nothing due yet"
    assert tick(all_workers, later=timedelta(hours=2))[1] == 1
    doc = wait_until(
        lambda: (
            (d := registry(api, token, "r"))["crawl_finished_at"] != first["crawl_finished_at"]
            and d
        ),
        what="scheduled crawl",
    )
    assert doc["tag_count"] == 2


def test_the_scheduler_process_loop_claims_due_registries(
    all_workers: Container, api: TestClient, project: dict[str, Any], anon_registry: RunningRegistry
) -> None:
    token = project["owner_token"]
    link(api, token, name="r", url=anon_registry.url)
    first = settled(api, token, "r")
    settings = all_workers.settings.model_copy(
        update={"recheck_interval": 0.2, "recrawl_interval": 0.2, "scheduler_tick": 0.1}
    )
    stop = threading.Event()
    loop = threading.Thread(target=run_scheduler, args=(settings, stop), daemon=True)
    loop.start()
    try:
        wait_until(
            lambda: registry(api, token, "r")["crawl_finished_at"] != first["crawl_finished_at"],
            what="a crawl asked for by the scheduler",
        )
        wait_until(
            lambda: registry(api, token, "r")["verified_at"] != first["verified_at"],
            what="a recheck",
        )
    finally:
        stop.set()
        loop.join(5)
    assert not loop.is_alive()
