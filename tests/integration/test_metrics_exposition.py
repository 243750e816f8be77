"""What a dashboard reads: the API's /metrics and a worker's exposition pass
`promtool check metrics`, and carry queue age, outbox lag, request counts by route
template, webhook status codes and delivery latency; a lease wait is not a retry."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, generate_latest
from sqlmodel import select

from events.envelope import Envelope
from events.messages import CrawlRequested
from gateway.admin import set_operator
from gateway.bootstrap import Container
from store.tables import OutboxMessage
from tests.conftest import auth
from tests.integration.browse import link, settled
from tests.integration.test_deliveries import add_job, use, wait_events
from tests.polling import wait_until
from tests.support.images import push_image
from tests.support.registry import RunningRegistry
from tests.support.webhook_receiver import Reply, WebhookReceiver
from workers.metrics import Deferred, Metrics

pytestmark = [pytest.mark.redis]


def promtool_accepts(exposition: bytes) -> None:
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=exposition, capture_output=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


def sample(exposition: str, series: str) -> float:
    """One series' value (0 when absent)."""
    for line in exposition.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def test_api_metrics_show_queue_age_outbox_lag_and_requests_by_route(
    container: Container, api: TestClient, project: dict[str, Any]
) -> None:
    old = int((time.time() - 120) * 1000)
    container.broker.enqueue(
        dramatiq.Message(
            queue_name="crawl",
            actor_name="crawl_registry",
            args=(),
            kwargs={},
            options={},
            message_timestamp=old,
        )
    )
    event = CrawlRequested(project="demo", registry_id="r1", name="hub", version=1)
    with container.uow() as uow:
        uow.emit(Envelope.wrap(event))
        uow.commit()
    with container.uow() as uow:
        row = uow.session.exec(select(OutboxMessage)).one()
        row.created_at = datetime.now(UTC) - timedelta(seconds=90)
        uow.session.add(row)
        uow.commit()
    assert api.get("/v1/projects/nowhere/registries", headers=auth(project["owner_token"]))
    assert api.get("/v1/projects/demo/registries").status_code == 401

    assert api.get("/metrics").status_code == 401, "every project's counts: operators only"
    set_operator(container.settings, "alice", True)
    response = api.get("/metrics", headers=auth(project["owner_token"]))
    assert response.status_code == 200
    promtool_accepts(response.content)
    text = response.text
    assert sample(text, 'reglink_queue_oldest_ready_age_seconds{queue="crawl"}') >= 120
    assert sample(text, 'reglink_queue_messages{queue="crawl",state="ready"}') == 1
    assert sample(text, "reglink_outbox_unpublished") == 1
    assert sample(text, "reglink_outbox_lag_seconds") >= 90
    route = "/v1/projects/{project}/registries"
    assert sample(text, f'reglink_http_requests_total{{method="GET",route="{route}",status="404"}}')
    assert sample(text, f'reglink_http_requests_total{{method="GET",route="{route}",status="401"}}')
    assert "nowhere" not in text, "routes are counted by template, never by concrete path"


def test_worker_metrics_count_webhook_answers_and_delivery_latency(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    anon_registry: RunningRegistry,
) -> None:
    token = project["owner_token"]
    push_image(anon_registry.url, "team/app", "1.0")
    link(api, token, name="private", url=anon_registry.url)
    assert settled(api, token, "private")["status"] == "verified"
    before = generate_latest(REGISTRY).decode()
    with WebhookReceiver() as hooks:
        add_job(api, token, hooks, "build-1")
        hooks.respond("build-1", Reply(status=503), times=1)
        assert use(api, token, "build-1").status_code == 200
        wait_events(hooks, "build-1", 1)

    def grew(exposition: bytes, series: str) -> float:
        return sample(exposition.decode(), series) - sample(before, series)

    def recorded() -> bytes | None:
        """The receiver has the event a moment before the worker records its answer."""
        exposition = generate_latest(REGISTRY)
        return exposition if grew(exposition, "reglink_delivery_latency_seconds_count") else None

    after = wait_until(recorded, what="the delivery recorded")
    promtool_accepts(after)
    assert grew(after, 'reglink_webhook_responses_total{code="503"}') == 1
    assert grew(after, 'reglink_webhook_responses_total{code="200"}') == 1
    assert grew(after, "reglink_webhook_request_duration_seconds_count") == 2
    assert grew(after, "reglink_delivery_latency_seconds_count") == 1


def test_a_lease_wait_is_deferred_not_retried() -> None:
    """Only a real failure counts as `retried`; waiting for a lease is `deferred`."""
    broker = StubBroker()
    broker.add_middleware(Metrics())
    tries: list[int] = []

    @dramatiq.actor(broker=broker, actor_name="waits_then_fails_then_works", min_backoff=1)
    def waits_then_fails_then_works() -> None:
        tries.append(1)
        if len(tries) == 1:
            raise Deferred("another send holds the lease", delay=1)
        if len(tries) == 2:
            raise RuntimeError("the receiver answered 500")

    def count(outcome: str) -> float:
        series = (
            f'reglink_messages_total{{actor="waits_then_fails_then_works",outcome="{outcome}"}}'
        )
        return sample(generate_latest(REGISTRY).decode(), series)

    before = {o: count(o) for o in ("deferred", "retried", "done")}
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        waits_then_fails_then_works.send()
        broker.join("default", timeout=10_000)
    finally:
        worker.stop()
    assert {o: count(o) - before[o] for o in before} == {"deferred": 1, "retried": 1, "done": 1}
