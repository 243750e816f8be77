"""Health, readiness and Prometheus metrics: what load balancers, compose health checks
and Prometheus ask the API.

`/healthz` and `/readyz` are open: they say only whether this process, the database and
the broker answer, and load balancers carry no tokens. `/metrics` counts every project's
registries and deliveries, so it needs an operator's token unless `REGLINK_METRICS_PUBLIC`
says the network around the API is trusted to see it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from prometheus_client import REGISTRY as PROCESS_REGISTRY

from gateway.api_errors import refusals
from gateway.api_models import Health, Readiness
from gateway.auth import current_operator
from gateway.bootstrap import Container
from gateway.ops import queue_stats
from store.health import (
    database_answers,
    deliveries_by_status,
    outbox_backlog,
    registries_by_status,
)
from store.queues import broker_answers


def health_router(container: Container) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", operation_id="checkHealth")
    def healthz() -> Health:
        """The process is up; says nothing of what it depends on."""
        return Health(status="ok")

    @router.get(
        "/readyz",
        operation_id="checkReadiness",
        responses={503: {"model": Readiness, "description": "The database or broker is down."}},
    )
    def readyz(response: Response) -> Readiness:
        """Ready when the database and the broker both answer."""
        checks = {
            "database": database_answers(container.store.engine),
            "broker": broker_answers(container.broker),
        }
        response.status_code = 200 if all(checks.values()) else 503
        return Readiness(status="ok" if all(checks.values()) else "unavailable", checks=checks)

    @router.get(
        "/metrics",
        dependencies=[] if container.settings.metrics_public else [Depends(current_operator)],
        operation_id="showMetrics",
        response_class=Response,
        responses={
            200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
            **refusals(401, 403),
        },
    )
    def metrics() -> Response:
        """Store- and broker-derived gauges (registries and deliveries by status, queue
        depth and oldest waiting message, outbox lag), this process's request counters,
        and the counters of any actors running in it (`reglink up`)."""
        registry = CollectorRegistry()
        by_status = Gauge(
            "reglink_registries", "Registries by status", ["status"], registry=registry
        )
        deliveries = Gauge(
            "reglink_deliveries", "Deliveries by status", ["status"], registry=registry
        )
        depth = Gauge(
            "reglink_queue_messages",
            "Broker messages by queue and state (ready, delayed, in_flight, dead)",
            ["queue", "state"],
            registry=registry,
        )
        oldest = Gauge(
            "reglink_queue_oldest_ready_age_seconds",
            "Age of the oldest message waiting on the queue (0 when none waits)",
            ["queue"],
            registry=registry,
        )
        outbox = Gauge(
            "reglink_outbox_unpublished", "Outbox rows not yet published", registry=registry
        )
        outbox_lag = Gauge(
            "reglink_outbox_lag_seconds",
            "Age of the oldest unpublished outbox row (0 when none)",
            registry=registry,
        )
        with container.uow() as uow:
            for status, count in registries_by_status(uow.session).items():
                by_status.labels(status).set(count)
            for status, count in deliveries_by_status(uow.session).items():
                deliveries.labels(status).set(count)
            unpublished, lag = outbox_backlog(uow.session)
        outbox.set(unpublished)
        outbox_lag.set(lag)
        for row in queue_stats(container.broker):
            for state in ("ready", "delayed", "in_flight", "dead"):
                depth.labels(row["queue"], state).set(row[state])
            oldest.labels(row["queue"]).set(row["oldest_ready_age_s"] or 0)
        body = generate_latest(registry) + generate_latest(PROCESS_REGISTRY)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router
