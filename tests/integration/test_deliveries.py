"""Update, unlink, build jobs, fan-out and deliveries through the real flow: API -> Redis ->
workers -> the real distribution registry -> store -> signed webhook POSTs, each checked
by a local receiver with the `standardwebhooks` and `cloudevents` packages."""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cloudevents.core.base import BaseCloudEvent
from fastapi.testclient import TestClient
from sqlmodel import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from events.envelope import Envelope
from events.messages import DeliverWebhook
from events.webhooks import generate_secret
from gateway.admin import create_project
from gateway.bootstrap import Container
from gateway.settings import Settings
from store.queues import enqueue_many
from store.secrets import SecretBox
from store.tables import (
    BuildJob,
    Delivery,
    DeliveryLease,
    JobRegistry,
    OutboxMessage,
    Project,
    Registry,
)
from tests.conftest import USERS, NamespacedRedis, auth, settings_for
from tests.integration import test_no_plaintext_secret as plaintext
from tests.integration.browse import link, registries_listed, registry, settled
from tests.polling import wait_until
from tests.support.registry import RunningRegistry
from tests.support.webhook_receiver import Reply, WebhookReceiver

NAME = "private"
ATTEMPTS = 3  # delivery tries before a delivery is dead (small, so dead letters come fast)
DEADLINE = 1.0  # seconds one webhook POST may take
UPDATED = "reglink.registry.updated"
UNLINKED = "reglink.registry.unlinked"

redis_traffic = plaintext.redis_traffic  # every Redis command while a test runs (MONITOR)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_client: NamespacedRedis) -> Settings:
    """conftest's settings, with few delivery tries and a short webhook deadline."""
    return settings_for(
        tmp_path, database_url, redis_client, delivery_attempts=ATTEMPTS, webhook_deadline=DEADLINE
    )


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


# -- helpers -------------------------------------------------------------------------------


def basic(username: str, password: str) -> str:
    """The `auth` value of a Docker config.json entry."""
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def link_verified(api: TestClient, token: str, registry_: RunningRegistry) -> dict[str, Any]:
    link(
        api,
        token,
        name=NAME,
        url=registry_.url,
        auth="basic",
        username="alice",
        password=registry_.htpasswd_users["alice"],
    )
    doc = settled(api, token, NAME)
    assert (doc["status"], doc["version"]) == ("verified", 1), doc
    return doc


def add_job(
    api: TestClient, token: str, hooks: WebhookReceiver, job: str, project: str = "demo"
) -> str:
    """A build job whose webhook is the receiver; returns its signing secret."""
    response = api.post(
        f"/v1/projects/{project}/jobs",
        json={"name": job, "webhook": hooks.url(job)},
        headers=auth(token),
    )
    assert response.status_code == 201, response.text
    secret = str(response.json()["secret"])
    assert secret.startswith("whsec_")
    hooks.add_job(job, secret)
    return secret


def use(
    api: TestClient, token: str, job: str, name: str = NAME, project: str = "demo"
) -> httpx.Response:
    return api.put(f"/v1/projects/{project}/jobs/{job}/registries/{name}", headers=auth(token))


def start_using(api: TestClient, token: str, hooks: WebhookReceiver, *jobs: str) -> None:
    """Add the jobs, let them use the registry, wait until each has version 1."""
    for job in jobs:
        add_job(api, token, hooks, job)
        response = use(api, token, job)
        assert response.status_code == 200, response.text
        assert response.json() == {"job": job, "registry": NAME, "version": 1}
    for job in jobs:
        assert versions(wait_events(hooks, job, 1)) == [1]
        settled_deliveries(api, token, job)


def wait_events(
    hooks: WebhookReceiver, job: str, count: int, timeout: float = 15
) -> list[BaseCloudEvent]:
    return wait_until(
        lambda: len(events := hooks.events(job)) >= count and events,
        timeout=timeout,
        what=f"{count} event(s) accepted by {job}",
    )


def versions(events: list[BaseCloudEvent]) -> list[int]:
    return [data(e)["version"] for e in events]


def data(event: BaseCloudEvent) -> dict[str, Any]:
    value = event.get_data()
    assert isinstance(value, dict), value
    return value


def auths(event: BaseCloudEvent) -> dict[str, Any]:
    config = data(event)["config"]
    assert set(config) == {"auths"}, config
    result: dict[str, Any] = config["auths"]
    return result


def update(api: TestClient, token: str, name: str = NAME, **body: Any) -> str:
    response = api.patch(f"/v1/projects/demo/registries/{name}", json=body, headers=auth(token))
    assert response.status_code == 202, response.text
    return str(response.json()["command_id"])


def outcome(api: TestClient, token: str, command_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        doc: dict[str, Any] = api.get(f"/v1/commands/{command_id}", headers=auth(token)).json()
        return doc if doc["status"] in ("succeeded", "failed") else None

    return wait_until(probe, what=f"outcome of command {command_id}")


def at_version(api: TestClient, token: str, version: int) -> dict[str, Any]:
    return wait_until(
        lambda: (d := registry(api, token, NAME))["version"] == version and d,
        what=f"registry at version {version}",
    )


def deliveries(api: TestClient, token: str, job: str, project: str = "demo") -> list[dict]:
    response = api.get(f"/v1/projects/{project}/jobs/{job}/deliveries", headers=auth(token))
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["deliveries"]
    return rows


def settled_deliveries(api: TestClient, token: str, job: str) -> list[dict[str, Any]]:
    """The job's deliveries once none is pending: the receiver records an event before it
    answers, so the sender may not have settled the row yet."""
    return wait_until(
        lambda: (
            (rows := deliveries(api, token, job))
            and all(r["status"] != "pending" for r in rows)
            and rows
        ),
        what=f"{job}'s deliveries settled",
    )


def wait_delivery(
    api: TestClient, token: str, job: str, status: str, timeout: float = 15
) -> dict[str, Any]:
    """The job's newest delivery once it has `status`."""
    return wait_until(
        lambda: (rows := deliveries(api, token, job)) and rows[0]["status"] == status and rows[0],
        timeout=timeout,
        what=f"{job}'s newest delivery {status}",
    )


def uses(api: TestClient, token: str, project: str = "demo") -> dict[str, list[dict]]:
    response = api.get(f"/v1/projects/{project}/jobs", headers=auth(token))
    assert response.status_code == 200, response.text
    return {job["name"]: job["registries"] for job in response.json()["jobs"]}


def registry_answers(registry_: RunningRegistry, auth_value: str) -> int:
    """What the registry says to a Docker client that uses a delivered auth entry."""
    response = httpx.get(
        f"{registry_.url}/v2/", headers={"Authorization": f"Basic {auth_value}"}, timeout=5
    )
    return response.status_code


# -- a. using a registry ------------------------------------------------------------------------


def test_each_job_using_a_registry_receives_its_details_once_signed(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
    hooks: WebhookReceiver,
) -> None:
    token = project["owner_token"]
    link_verified(api, token, basic_registry)
    secrets = {job: add_job(api, token, hooks, job) for job in ("job1", "job2")}
    for job in secrets:
        response = use(api, token, job)
        assert response.status_code == 200, response.text
        assert response.json() == {"job": job, "registry": NAME, "version": 1}

    for job, secret in secrets.items():
        [event] = wait_events(hooks, job, 1)
        [received] = hooks.deliveries(job)
        assert event.get_specversion() == "1.0"
        assert event.get_type() == UPDATED
        assert event.get_source() == f"/projects/demo/registries/{NAME}"
        assert event.get_id() == received.webhook_id
        assert received.headers["content-type"] == "application/cloudevents+json"
        body = data(event)
        assert (body["project"], body["registry"], body["version"]) == ("demo", NAME, 1)
        assert auths(event) == {basic_registry.host: {"auth": basic("alice", USERS["alice"])}}
        assert registry_answers(basic_registry, auths(event)[basic_registry.host]["auth"]) == 200
        other = next(s for j, s in secrets.items() if j != job)
        with pytest.raises(WebhookVerificationError):  # signed for this job alone
            Webhook(other).verify(received.body, received.headers)
        Webhook(secret).verify(received.body, received.headers)

        [row] = settled_deliveries(api, token, job)
        assert (row["id"], row["registry"], row["kind"], row["version"]) == (
            event.get_id(),
            NAME,
            "updated",
            1,
        )
        assert (row["status"], row["attempts"], row["last_status_code"]) == ("delivered", 1, 200)
        assert len(hooks.attempts(job)) == 1, "exactly one POST"
    assert uses(api, token) == {
        "job1": [{"name": NAME, "delivered_version": 1}],
        "job2": [{"name": NAME, "delivered_version": 1}],
    }
    # using it again changes nothing and sends nothing
    assert use(api, token, "job1").status_code == 200
    assert len(deliveries(api, token, "job1")) == 1
    assert hooks.rejected() == []


# -- b. an update reaches every job ----------------------------------------------------------------


def test_updated_password_reaches_every_job_as_version_2(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
    hooks: WebhookReceiver,
) -> None:
    token = project["owner_token"]
    link_verified(api, token, basic_registry)
    start_using(api, token, hooks, "job1", "job2")
    old = auths(hooks.events("job1")[0])[basic_registry.host]["auth"]

    basic_registry.set_password("alice", "new-pw")
    update(api, token, password="new-pw")

    for job in ("job1", "job2"):
        events = wait_events(hooks, job, 2)
        assert versions(events) == [1, 2]
        assert events[1].get_type() == UPDATED
        assert auths(events[1]) == {basic_registry.host: {"auth": basic("alice", "new-pw")}}
        assert [(r["version"], r["status"]) for r in settled_deliveries(api, token, job)] == [
            (2, "delivered"),
            (1, "delivered"),
        ]
    doc = registry(api, token, NAME)
    assert (doc["status"], doc["version"], doc["username"]) == ("verified", 2, "alice")
    new = auths(hooks.events("job2")[1])[basic_registry.host]["auth"]
    assert registry_answers(basic_registry, old) == 401, "version 1's auth no longer works"
    assert registry_answers(basic_registry, new) == 200, "version 2's auth works"
    assert uses(api, token)["job1"] == [{"name": NAME, "delivered_version": 2}]
    assert hooks.rejected() == []


# -- c. a failed update reaches nobody -------------------------------------------------------------


def test_failed_update_reaches_no_job_and_the_old_details_stay_in_force(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
    hooks: WebhookReceiver,
) -> None:
    token = project["owner_token"]
    link_verified(api, token, basic_registry)
    start_using(api, token, hooks, "job1", "job2")

    command = update(api, token, password="wrong-pw")
    refused = outcome(api, token, command)  # the command fails with the check's reason
    assert (refused["status"], refused["error"]["code"]) == ("failed", "unauthorized")
    doc = wait_until(
        lambda: (d := registry(api, token, NAME))["status"] == "update_failed" and d,
        what="update recorded as failed",
    )
    assert (doc["reason"], doc["version"]) == ("unauthorized", 1)
    assert "wrong-pw" not in (doc["message"] or "")
    assert registries_listed(api, token) == [NAME], "still usable with its verified details"

    # One more fan-out and delivery cycle: a new job starts using the registry.
    add_job(api, token, hooks, "job3")
    assert use(api, token, "job3").status_code == 200
    [event] = wait_events(hooks, "job3", 1)
    assert data(event)["version"] == 1
    assert auths(event) == {basic_registry.host: {"auth": basic("alice", USERS["alice"])}}

    for job in ("job1", "job2"):
        assert versions(hooks.events(job)) == [1], f"{job} got nothing new"
        assert len(hooks.attempts(job)) == 1
        assert [r["version"] for r in deliveries(api, token, job)] == [1]
    with all_workers.uow() as uow:
        types = [row.type for row in uow.session.exec(select(OutboxMessage))]
    assert types.count("reglink.registry.update_failed") == 1
    assert UPDATED not in types, "a failed update emits no RegistryUpdated"


# -- d. unlink ---------------------------------------------------------------------------------


def test_unlink_in_use_needs_force_and_then_every_job_is_told_to_drop_it(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
    hooks: WebhookReceiver,
) -> None:
    token = project["owner_token"]
    link_verified(api, token, basic_registry)
    start_using(api, token, hooks, "job1", "job2")

    refused = api.delete(f"/v1/projects/demo/registries/{NAME}", headers=auth(token))
    assert refused.status_code == 409, refused.text  # refused at once, naming the jobs
    error = refused.json()["error"]
    assert error["code"] == "conflict"
    assert "job1" in error["message"] and "job2" in error["message"]
    doc = registry(api, token, NAME)
    assert (doc["status"], doc["version"]) == ("verified", 1), "nothing changed"

    forced = api.delete(f"/v1/projects/demo/registries/{NAME}?force=true", headers=auth(token))
    assert forced.status_code == 202, forced.text
    assert outcome(api, token, forced.json()["command_id"])["status"] == "succeeded"

    secret_auth = basic("alice", USERS["alice"])
    for job in ("job1", "job2"):
        events = wait_events(hooks, job, 2)
        assert versions(events) == [1, 2]
        revoked = events[1]
        assert revoked.get_type() == UNLINKED
        assert revoked.get_source() == f"/projects/demo/registries/{NAME}"
        assert data(revoked)["registry"] == NAME
        assert "config" not in data(revoked), "a revocation carries no credentials"
        body = hooks.deliveries(job)[1].body
        assert secret_auth.encode() not in body and USERS["alice"].encode() not in body
        row = wait_delivery(api, token, job, "delivered")
        assert (row["kind"], row["version"]) == ("unlinked", 2)
    assert uses(api, token) == {"job1": [], "job2": []}
    assert registries_listed(api, token) == []
    assert registries_listed(api, token, all=True) == []
    assert api.get(f"/v1/projects/demo/registries/{NAME}", headers=auth(token)).status_code == 404
    assert use(api, token, "job1").status_code == 404
    assert hooks.rejected() == []


# -- e. projects are isolated ------------------------------------------------------------------


def test_a_job_of_another_project_cannot_use_the_registry(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    settings: Settings,
    basic_registry: RunningRegistry,
    hooks: WebhookReceiver,
) -> None:
    token = project["owner_token"]
    link_verified(api, token, basic_registry)
    carol = create_project(settings, "other", "carol")["token"]
    add_job(api, carol, hooks, "intruder", project="other")

    assert use(api, carol, "intruder", project="other").status_code == 404
    assert use(api, carol, "intruder", project="demo").status_code == 404  # not a member
    assert use(api, token, "intruder", project="demo").status_code == 404  # no such job here
    add_job(api, token, hooks, "job1")
    assert use(api, project["member_token"], "job1").status_code == 403  # members only view
    assert uses(api, carol, project="other") == {"intruder": []}
    assert api.get("/v1/projects/demo/jobs", headers=auth(carol)).status_code == 404

    # a real fan-out cycle in demo reaches demo's job and nobody else
    assert use(api, token, "job1").status_code == 200
    wait_events(hooks, "job1", 1)
    wait_delivery(api, token, "job1", "delivered")
    assert hooks.attempts("intruder") == []
    assert deliveries(api, carol, "intruder", project="other") == []


# -- f. versions only move forward ---------------------------------------------------------------


def test_quick_updates_reach_jobs_in_version_order_and_old_ones_are_never_resent(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
    hooks: WebhookReceiver,
) -> None:
    token = project["owner_token"]
    link_verified(api, token, basic_registry)
    start_using(api, token, hooks, "job1", "job2")

    basic_registry.set_password("alice", "pw-2")
    update(api, token, password="pw-2")
    at_version(api, token, 2)  # in force; its deliveries may still be on their way
    basic_registry.set_password("alice", "pw-3")
    update(api, token, password="pw-3")
    at_version(api, token, 3)

    for job in ("job1", "job2"):
        got = wait_until(
            lambda job=job: (v := versions(hooks.events(job))) and v[-1] == 3 and v,
            what=f"{job} at version 3",
        )
        assert got[0] == 1 and all(a < b for a, b in itertools.pairwise(got)), got
        assert auths(hooks.events(job)[-1]) == {
            basic_registry.host: {"auth": basic("alice", "pw-3")}
        }
        rows = wait_until(
            lambda job=job: (
                (rows := deliveries(api, token, job))
                and all(r["status"] in ("delivered", "superseded") for r in rows)
                and rows
            ),
            what=f"{job}'s deliveries settled",
        )
        assert sorted(r["version"] for r in rows) == [1, 2, 3]
    assert uses(api, token)["job1"] == [{"name": NAME, "delivered_version": 3}]

    # A late redelivery of version 2 (reset to pending, enqueued again by hand) after
    # version 3 was delivered: superseded, never sent.
    before = {job: len(hooks.attempts(job)) for job in ("job1", "job2")}
    with all_workers.uow() as uow:
        old = list(uow.session.exec(select(Delivery).where(Delivery.version == 2)))
        assert len(old) == 2
        for row in old:
            row.status = "pending"
            uow.session.add(row)
        uow.commit()
        old_ids = [row.id for row in old]
    enqueue_many(
        all_workers.broker,
        [Envelope.wrap(DeliverWebhook(delivery_id=i)) for i in old_ids],
        "deliver_webhook",
        "deliveries",
    )

    def statuses() -> list[str]:
        with all_workers.uow() as uow:
            return [uow.session.get(Delivery, i).status for i in old_ids]  # type: ignore[union-attr]

    wait_until(lambda: "pending" not in statuses(), what="the late version 2 handled")
    assert {job: len(hooks.attempts(job)) for job in before} == before, "version 2 sent again"
    assert statuses() == ["superseded", "superseded"]
    assert [versions(hooks.events(j))[-1] for j in ("job1", "job2")] == [3, 3]


def test_a_retrying_old_version_overtaken_by_a_newer_one_is_superseded(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
    hooks: WebhookReceiver,
) -> None:
    token = project["owner_token"]
    link_verified(api, token, basic_registry)
    start_using(api, token, hooks, "job1")
    # job1 asks version 2's delivery to come back in 3 s; version 3 arrives meanwhile
    hooks.respond(
        "job1",
        Reply(429, {"Retry-After": "3"}),
        times=1,
        when=lambda event: data(event)["version"] == 2,
    )
    basic_registry.set_password("alice", "pw-2")
    update(api, token, password="pw-2")
    wait_until(lambda: len(hooks.attempts("job1")) == 2, what="version 2 refused once")
    basic_registry.set_password("alice", "pw-3")
    update(api, token, password="pw-3")
    wait_events(hooks, "job1", 2)

    rows = wait_until(
        lambda: (
            (rows := deliveries(api, token, "job1"))
            and {r["version"]: r["status"] for r in rows}.get(2) == "superseded"
            and rows
        ),
        timeout=10,
        what="version 2 superseded when its retry came",
    )
    by_version = {r["version"]: r for r in rows}
    assert (by_version[2]["attempts"], by_version[2]["last_status_code"]) == (1, 429)
    assert by_version[3]["status"] == "delivered"
    assert versions(hooks.events("job1")) == [1, 3]
    assert [data(r.event)["version"] for r in hooks.attempts("job1") if r.event] == [1, 2, 3]


# -- g. retries and dead letters -------------------------------------------------------------------


def test_a_failing_webhook_is_dead_after_its_tries_and_a_retry_delivers_it(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
    hooks: WebhookReceiver,
) -> None:
    token = project["owner_token"]
    link_verified(api, token, basic_registry)
    add_job(api, token, hooks, "job1")
    hooks.respond("job1", Reply(500))  # every try
    assert use(api, token, "job1").status_code == 200

    dead = wait_delivery(api, token, "job1", "dead")
    assert (dead["attempts"], dead["last_status_code"], dead["last_error"]) == (
        ATTEMPTS,
        500,
        "HTTP 500",
    )
    tries = hooks.attempts("job1")
    assert len(tries) == ATTEMPTS
    assert {t.webhook_id for t in tries} == {dead["id"]}, "every try is the same delivery"
    assert hooks.events("job1") == []
    assert uses(api, token)["job1"] == [{"name": NAME, "delivered_version": 0}]
    retry_url = f"/v1/projects/demo/jobs/job1/deliveries/{dead['id']}/retry"
    assert api.post(retry_url, headers=auth(project["member_token"])).status_code == 403

    hooks.recover("job1")
    response = api.post(retry_url, headers=auth(token))
    assert response.status_code == 202, response.text
    row = wait_delivery(api, token, "job1", "delivered")
    assert (row["id"], row["attempts"], row["last_error"]) == (dead["id"], 1, None)
    [event] = hooks.events("job1")
    assert event.get_id() == dead["id"] and data(event)["version"] == 1
    first_sequence = json.loads(tries[0].body)["data"]["sequence"]
    assert data(event)["sequence"] > first_sequence, "sent again as the newest delivery"
    assert auths(event) == {basic_registry.host: {"auth": basic("alice", USERS["alice"])}}
    assert uses(api, token)["job1"] == [{"name": NAME, "delivered_version": 1}]
    again = api.post(retry_url, headers=auth(token))
    assert again.status_code == 422, "only dead deliveries are retried"


def test_gone_and_redirect_answers_are_final_at_once_and_redirects_are_not_followed(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
    hooks: WebhookReceiver,
) -> None:
    token = project["owner_token"]
    link_verified(api, token, basic_registry)
    add_job(api, token, hooks, "gone")
    add_job(api, token, hooks, "moved")
    hooks.add_job("elsewhere", "whsec_" + base64.b64encode(b"x" * 32).decode())
    hooks.respond("gone", Reply(410))
    hooks.respond("moved", Reply(302, {"Location": hooks.url("elsewhere")}))
    for job in ("gone", "moved"):
        assert use(api, token, job).status_code == 200

    for job, code in (("gone", 410), ("moved", 302)):
        row = wait_delivery(api, token, job, "dead")
        assert (row["attempts"], row["last_status_code"]) == (1, code), row
        assert len(hooks.attempts(job)) == 1
    assert hooks.attempts("elsewhere") == [], "the redirect target receives nothing"
    # a later fan-out cycle (another job) shows nothing more was tried
    add_job(api, token, hooks, "ok")
    assert use(api, token, "ok").status_code == 200
    wait_delivery(api, token, "ok", "delivered")
    assert [len(hooks.attempts(j)) for j in ("gone", "moved", "elsewhere")] == [1, 1, 0]


def test_too_many_requests_waits_for_retry_after_then_delivers(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
    hooks: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The delivery actor jitters its retry delays; take the shortest jitter it may draw.
    monkeypatch.setattr("workers.deliver.random.uniform", lambda low, high: low)
    token = project["owner_token"]
    link_verified(api, token, basic_registry)
    add_job(api, token, hooks, "job1")
    hooks.respond("job1", Reply(429, {"Retry-After": "1"}), times=1)
    assert use(api, token, "job1").status_code == 200

    row = wait_delivery(api, token, "job1", "delivered")
    assert (row["attempts"], row["last_status_code"]) == (2, 200)
    first, second = hooks.attempts("job1")
    assert (first.status, second.status) == (429, 200)
    assert first.webhook_id == second.webhook_id == row["id"]
    gap = second.at - first.at
    assert gap >= 1.0, f"retried {gap:.2f}s after a 429 with Retry-After: 1"


def test_a_reply_slower_than_the_deadline_is_a_failed_try_and_is_sent_again(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
    hooks: WebhookReceiver,
) -> None:
    token = project["owner_token"]
    link_verified(api, token, basic_registry)
    add_job(api, token, hooks, "job1")
    hooks.respond("job1", Reply(200, delay=DEADLINE + 1.0), times=1)
    started = time.monotonic()
    assert use(api, token, "job1").status_code == 200

    row = wait_delivery(api, token, "job1", "delivered")
    assert row["attempts"] == 2 and row["last_error"] is None
    first, second = hooks.attempts("job1")
    assert first.webhook_id == second.webhook_id == row["id"], "the same delivery, at least once"
    assert second.at - first.at < DEADLINE + 1.0, "the sender did not wait for the slow reply"
    assert time.monotonic() - started < 8


# -- h. no plaintext secret ---------------------------------------------------------------------


def test_job_secrets_and_registry_passwords_never_reach_redis(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
    hooks: WebhookReceiver,
    redis_client: NamespacedRedis,
    redis_traffic: list[str],
) -> None:
    first, second = "Pw-One-3c1f9e7a", "Pw-Two-8b2d4f60"
    basic_registry.set_password("alice", first)
    token = project["owner_token"]
    link_verified(api, token, basic_registry)
    secret = add_job(api, token, hooks, "job1")
    assert use(api, token, "job1").status_code == 200
    wait_events(hooks, "job1", 1)
    basic_registry.set_password("alice", second)
    update(api, token, password=second)
    events = wait_events(hooks, "job1", 2)
    assert auths(events[1]) == {basic_registry.host: {"auth": basic("alice", second)}}
    wait_delivery(api, token, "job1", "delivered")

    surfaces = {
        "redis": plaintext.redis_dump(redis_client).decode(errors="replace"),
        "redis traffic": "\n".join(redis_traffic),
        "api": "\n".join(
            api.get(path, headers=auth(token)).text
            for path in ("/v1/projects/demo/jobs", "/v1/projects/demo/jobs/job1/deliveries")
        ),
    }
    assert "deliver_webhook" in surfaces["redis traffic"], "the deliveries went through Redis"
    assert "rlseal1." in surfaces["redis traffic"], "the passwords did travel, sealed"
    forbidden = {
        "job secret": secret,
        "job key": secret.removeprefix("whsec_"),
        "first password": first,
        "second password": second,
        "first auth": basic("alice", first),
        "second auth": basic("alice", second),
    }
    for surface, content in surfaces.items():
        for what, value in forbidden.items():
            assert value not in content, f"{what} in plaintext in {surface}"


# -- h. a fan-out to many jobs goes out in batches -------------------------------------------


def test_an_update_reaches_every_one_of_many_jobs_once_in_batches_a_failing_one_alone_again(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    basic_registry: RunningRegistry,
    hooks: WebhookReceiver,
) -> None:
    """230 jobs (three batch messages): each receives version 2 once, signed for it alone;
    one job failing in the middle of a batch is tried again on its own until it answers."""
    token = project["owner_token"]
    doc = link_verified(api, token, basic_registry)
    box = SecretBox(all_workers.keys.store)
    jobs = {f"job{n:03d}": generate_secret() for n in range(230)}
    with all_workers.uow() as uow:
        project_id = uow.session.exec(select(Project.id).where(Project.name == "demo")).one()
        registry_id = uow.session.exec(
            select(Registry.id).where(Registry.name == NAME, Registry.project_id == project_id)
        ).one()
        for job, secret in jobs.items():
            hooks.add_job(job, secret)
            sealed = box.encrypt(secret)
            row = BuildJob(
                id=job,
                project_id=project_id,
                name=job,
                webhook_url=hooks.url(job),
                wrapped_key=sealed.wrapped_key,
                secret_ciphertext=sealed.ciphertext,
            )
            uow.session.add(row)
            uow.session.flush()
            uow.session.add(JobRegistry(job_id=job, registry_id=registry_id, delivered_version=1))
        uow.commit()
    flaky = "job117"
    hooks.respond(flaky, Reply(status=503), times=2)

    basic_registry.set_password("alice", "pw-2")
    update(api, token, password="pw-2")
    at_version(api, token, doc["version"] + 1)

    def all_delivered() -> bool:
        with all_workers.uow() as uow:
            rows = uow.session.exec(select(Delivery).where(Delivery.version == 2)).all()
            return len(rows) == len(jobs) and all(r.status == "delivered" for r in rows)

    wait_until(all_delivered, timeout=60, what="every job's version 2 delivered")
    for job in jobs:
        # one delivery per job. A POST answered past the 1 s deadline (a loaded machine)
        # is tried again under the same webhook-id, which receivers deduplicate on.
        assert len({a.webhook_id for a in hooks.attempts(job)}) == 1, job
        events = hooks.events(job)
        assert events and versions(events) == [2] * len(events), job
        for event in events:
            assert auths(event) == {basic_registry.host: {"auth": basic("alice", "pw-2")}}
        least = 3 if job == flaky else 1  # two 503s, then delivered
        assert len(hooks.attempts(job)) >= least, job
    assert hooks.rejected() == []  # every POST signed with its own job's secret
    with all_workers.uow() as uow:
        acknowledged = uow.session.exec(
            select(JobRegistry.delivered_version).where(JobRegistry.registry_id == registry_id)
        ).all()
        assert set(acknowledged) == {2}
        assert uow.session.exec(select(DeliveryLease)).all() == [], "every lease released"
        flaky_row = uow.session.exec(
            select(Delivery).where(Delivery.job_id == flaky, Delivery.version == 2)
        ).one()
        assert (flaky_row.attempts >= 3, flaky_row.last_status_code) == (True, 200)
