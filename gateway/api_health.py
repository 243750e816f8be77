"""Health, readiness and Prometheus metrics: what load balancers, compose health checks
and Prometheus ask the API."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from prometheus_client import REGISTRY as PROCESS_REGISTRY

from gateway.api_models import Health, Readiness
from gateway.bootstrap import Container
from gateway.ops import queue_stats
from store.health import (
    database_answers,
    deliveries_by_status,
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
        operation_id="showMetrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    def metrics() -> Response:
        """Store-derived gauges (registries by status, deliveries by outcome, queue depth),
        plus the counters of any actors running in this process (`reglink up`)."""
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
        with container.uow() as uow:
            for status, count in registries_by_status(uow.session).items():
                by_status.labels(status).set(count)
            for status, count in deliveries_by_status(uow.session).items():
                deliveries.labels(status).set(count)
        for row in queue_stats(container.broker):
            for state in ("ready", "delayed", "in_flight", "dead"):
                depth.labels(row["queue"], state).set(row[state])
        body = generate_latest(registry) + generate_latest(PROCESS_REGISTRY)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router
