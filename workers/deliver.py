"""Delivery: POST a signed CloudEvent to a build job's webhook.

Secrets are read and decrypted at send time (the broker message holds the delivery id
only). Versions only move forward: a delivery for an older version than the registry's
current one, or than what the job already acknowledged, is superseded instead of sent,
and a lease per (job, registry) keeps two sends to the same job from crossing.
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import dramatiq
import httpx
import structlog

from events import webhooks
from events.envelope import Envelope, utcnow
from events.messages import DeliverWebhook
from events.validation import host_port
from store.credentials import open_secret
from store.inserts import insert
from store.secrets import Sealed
from store.tables import BuildJob, Delivery, DeliveryLease, JobRegistry, Project, Registry
from workers.deps import WorkerDeps
from workers.outbound.errors import OutboundError
from workers.outbound.retry_after import parse_retry_after

log = structlog.get_logger(__name__)
DEFAULT_LEASE = timedelta(seconds=120)  # longer than one send may take
DEFAULT_LEASE_WAIT_MS = 250  # come back this soon when another send holds the lease
RETRY_STATUSES = {408, 409, 429}
TYPES = {
    "updated": "reglink.registry.updated",
    "unlinked": "reglink.registry.unlinked",
    "credentials_failing": "reglink.registry.credentials_failing",
    "credentials_expiring": "reglink.registry.credentials_expiring",
}


@dataclass(frozen=True)
class Outgoing:
    delivery_id: str
    url: str
    secret: str
    body: bytes


def docker_config(url: str, auth: str, username: str | None, secret: str | None) -> dict[str, Any]:
    """A Docker `config.json` document a Docker client can use as it is."""
    host, port = host_port(url)
    default = 443 if url.startswith("https://") else 80
    key = host if port == default else f"{host}:{port}"
    if auth == "basic" and secret is not None:
        token = base64.b64encode(f"{username or ''}:{secret}".encode()).decode()
        return {"auths": {key: {"auth": token}}}
    if auth == "oauth2" and secret is not None:
        return {"auths": {key: {"identitytoken": secret}}}
    return {"auths": {}}


def cloud_event(
    delivery: Delivery, project: str, registry: Registry, config: dict[str, Any] | None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "project": project,
        "registry": registry.name,
        "version": delivery.version,
        "url": registry.url,
    }
    if config is not None:
        data["config"] = config
    return {
        "specversion": "1.0",
        "id": delivery.id,
        "source": f"/projects/{project}/registries/{registry.name}",
        "type": TYPES[delivery.kind],
        "subject": registry.name,
        "time": utcnow().isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }


def prepare(deps: WorkerDeps, delivery_id: str) -> Outgoing | str:
    """What to send, or why not (`done`, `superseded`, `busy`), in one short transaction
    that also takes the (job, registry) lease."""
    with deps.uow() as uow:
        session = uow.session
        delivery = session.get(Delivery, delivery_id, with_for_update=True, populate_existing=True)
        if delivery is None or delivery.status != "pending":
            return "done"
        job = session.get(BuildJob, delivery.job_id)
        registry = session.get(Registry, delivery.registry_id)
        use = session.get(JobRegistry, (delivery.job_id, delivery.registry_id))
        assert job is not None and registry is not None
        stale = delivery.version < registry.version or (
            use is not None
            and delivery.version <= use.delivered_version
            and delivery.kind == "updated"
        )
        if delivery.kind != "unlinked" and (use is None or registry.active_name is None):
            stale = True  # the job stopped using it, or it was unlinked since
        if stale:
            delivery.status = "superseded"
            session.add(delivery)
            uow.commit()
            return "superseded"
        if not _take_lease(session, delivery):
            return "busy"
        project = session.get(Project, registry.project_id)
        assert project is not None
        config = None
        if delivery.kind == "updated":
            secret = open_secret(session, deps.box, registry.id, host_port(registry.url)[0])
            config = docker_config(registry.url, registry.auth, registry.username, secret)
        body = json.dumps(cloud_event(delivery, project.name, registry, config)).encode()
        job_secret = deps.box.decrypt(Sealed(job.wrapped_key, job.secret_ciphertext))
        uow.commit()
        return Outgoing(delivery.id, job.webhook_url, job_secret, body)


def _take_lease(session: Any, delivery: Delivery) -> bool:
    now = utcnow()
    values = {
        "job_id": delivery.job_id,
        "registry_id": delivery.registry_id,
        "delivery_id": delivery.id,
        "until": now + DEFAULT_LEASE,
    }
    statement = insert(session, DeliveryLease).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["job_id", "registry_id"],
        set_={"delivery_id": delivery.id, "until": values["until"]},
        where=(DeliveryLease.until < now) | (DeliveryLease.delivery_id == delivery.id),  # type: ignore[arg-type,operator]
    ).returning(DeliveryLease.delivery_id)  # type: ignore[arg-type]
    return session.execute(statement).first() is not None


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
        raise dramatiq.Retry(
            "another send to this job holds the lease", delay=DEFAULT_LEASE_WAIT_MS
        )
    if isinstance(prepared, str):
        return prepared
    status, error, retry_after = send(deps, prepared)
    retryable = status is None or status >= 500 or status in RETRY_STATUSES
    outcome, attempts = _settle(deps, prepared.delivery_id, status, error, retryable)
    log.info(
        "delivery.sent",
        delivery_id=prepared.delivery_id,
        status_code=status,
        outcome=outcome,
        correlation_id=envelope.correlationid,
    )
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
        session = uow.session
        delivery = session.get(Delivery, delivery_id, with_for_update=True, populate_existing=True)
        assert delivery is not None
        delivery.attempts += 1
        delivery.last_status_code, delivery.last_error = status, error
        if error is None:
            delivery.status, delivery.delivered_at = "delivered", utcnow()
            use = session.get(
                JobRegistry, (delivery.job_id, delivery.registry_id), with_for_update=True
            )
            if use is not None and use.delivered_version < delivery.version:
                use.delivered_version = delivery.version
                session.add(use)
        elif not retryable or delivery.attempts >= deps.delivery_attempts:
            delivery.status = "dead"
        lease = session.get(DeliveryLease, (delivery.job_id, delivery.registry_id))
        if lease is not None and lease.delivery_id == delivery.id:
            session.delete(lease)
        session.add(delivery)
        uow.commit()
        outcome = "retry" if delivery.status == "pending" else delivery.status
        return outcome, delivery.attempts
