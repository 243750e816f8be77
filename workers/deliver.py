"""Delivery: POST a signed CloudEvent to a build job's webhook.

Secrets are read and decrypted at send time (the broker message holds the delivery id
only). Versions only move forward: a delivery for an older version than the registry's
current one, or than what the job already acknowledged, is superseded instead of sent,
and a lease per (job, registry) keeps two sends to the same job from crossing.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import dramatiq
import httpx
import structlog

from events import webhooks
from events.deliveries import cloud_event, docker_config
from events.envelope import Envelope
from events.messages import DeliverWebhook
from events.validation import host_port
from store import deliveries
from store.credentials import open_secret
from store.health import age_seconds
from workers.deps import WorkerDeps
from workers.metrics import DELIVERY_LATENCY, Deferred, webhook_answered
from workers.outbound.errors import OutboundError
from workers.outbound.retry_after import parse_retry_after

log = structlog.get_logger(__name__)
DEFAULT_LEASE = timedelta(seconds=120)  # longer than one send may take
DEFAULT_LEASE_WAIT_MS = 250  # come back this soon when another send holds the lease
RETRY_STATUSES = {408, 409, 429}


@dataclass(frozen=True)
class Outgoing:
    delivery_id: str
    url: str
    secret: str
    body: bytes
    created_at: datetime  # of the delivery, for its end-to-end latency


def prepare(deps: WorkerDeps, delivery_id: str) -> Outgoing | str:
    """What to send, or why not (`done`, `superseded`, `busy`), in one short transaction
    that also takes the (job, registry) lease."""
    with deps.uow() as uow:
        claimed = deliveries.claim(uow.session, delivery_id, DEFAULT_LEASE)
        if isinstance(claimed, str):
            uow.commit()
            return claimed
        delivery, registry = claimed.delivery, claimed.registry
        extra = dict(delivery.details)
        if delivery.kind == "updated":
            host = host_port(registry.url)[0]
            secret = open_secret(uow.session, deps.box, registry.id, host)
            extra["config"] = docker_config(registry.url, registry.auth, registry.username, secret)
            if registry.ca_pem:
                extra["ca"] = registry.ca_pem
        event = cloud_event(
            delivery.id,
            delivery.kind,
            project=claimed.project,
            registry=registry.name,
            url=registry.url,
            version=delivery.version,
            sequence=delivery.sequence,
            extra=extra,
        )
        job_secret = deliveries.job_secret(deps.box, claimed.job)
        uow.commit()
        return Outgoing(
            delivery.id,
            claimed.job.webhook_url,
            job_secret,
            json.dumps(event).encode(),
            delivery.created_at,
        )


def send(deps: WorkerDeps, outgoing: Outgoing) -> tuple[int | None, str | None, float | None]:
    """(status code, error, Retry-After seconds) of one POST."""
    headers = webhooks.headers(outgoing.secret, outgoing.delivery_id, outgoing.body)
    try:
        response = deps.webhook_client().post(outgoing.url, content=outgoing.body, headers=headers)
    except OutboundError as exc:
        return None, exc.reason, None
    except httpx.HTTPError as exc:
        return None, type(exc).__name__, None
    seconds = parse_retry_after(response.headers.get("retry-after"))
    return (
        response.status_code,
        None if response.is_success else f"HTTP {response.status_code}",
        seconds,
    )


def deliver(envelope: Envelope, deps: WorkerDeps) -> str:
    message = envelope.message()
    assert isinstance(message, DeliverWebhook)
    prepared = prepare(deps, message.delivery_id)
    if prepared == "busy":
        raise Deferred("another send to this job holds the lease", delay=DEFAULT_LEASE_WAIT_MS)
    if isinstance(prepared, str):
        return prepared
    started = time.perf_counter()
    status, error, retry_after = send(deps, prepared)
    webhook_answered(status, time.perf_counter() - started)
    retryable = status is None or status >= 500 or status in RETRY_STATUSES
    outcome, attempts = _settle(deps, prepared.delivery_id, status, error, retryable)
    # a delivered webhook is routine (DEBUG, like httpx's request lines); a failed try is news
    (log.debug if outcome == "delivered" else log.info)(
        "delivery.sent",
        delivery_id=prepared.delivery_id,
        status_code=status,
        outcome=outcome,
        correlation_id=envelope.correlationid,
    )
    if outcome == "delivered":
        DELIVERY_LATENCY.observe(age_seconds(prepared.created_at))
    if outcome == "retry":
        delay = int(deps.retry_delay_ms(attempts - 1) * random.uniform(0.75, 1.25))
        if retry_after is not None:  # the jitter spreads retries out, never ahead of Retry-After
            delay = max(delay, deps.retry_delay_ms(0, retry_after))
        raise dramatiq.Retry(f"delivery failed: {error}", delay=delay)
    return outcome


def _settle(
    deps: WorkerDeps, delivery_id: str, status: int | None, error: str | None, retryable: bool
) -> tuple[str, int]:
    """Record one try; (outcome, tries so far)."""
    with deps.uow() as uow:
        settled = deliveries.settle(
            uow.session,
            delivery_id,
            status,
            error,
            retryable=retryable,
            max_attempts=deps.delivery_attempts,
        )
        uow.commit()
        return settled
