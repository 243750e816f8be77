"""Fan-out: one delivery per build job that uses the registry, enqueued in batches.

Delivery rows are written first (their ids are derived from the event and the job, so a
redelivered event writes nothing new), then enqueued in pipelined batches, then the
event is marked applied. A crash in between re-enqueues the same delivery ids, which
the delivery actor recognises.
"""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy import delete
from sqlmodel import col, select

from events.envelope import Envelope
from events.messages import (
    CredentialsExpiring,
    CredentialsFailing,
    DeliverWebhook,
    JobSubscribed,
    RegistryEvent,
    RegistryUnlinked,
    RegistryUpdated,
)
from store.inbox import first_time, seen
from store.inserts import insert
from store.queues import enqueue_many
from store.tables import Delivery, DeliveryLease, JobRegistry, utcnow
from workers.deps import WorkerDeps
from workers.routes import DELIVER

log = structlog.get_logger(__name__)
CONSUMER = "fan_out"
DEFAULT_BATCH = 500  # deliveries per insert and per Redis pipeline
KINDS = {
    RegistryUpdated.TYPE: "updated",
    JobSubscribed.TYPE: "updated",
    RegistryUnlinked.TYPE: "unlinked",
    CredentialsFailing.TYPE: "credentials_failing",
    CredentialsExpiring.TYPE: "credentials_expiring",
}


def delivery_id(event_id: str, job_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"reglink:delivery:{event_id}:{job_id}"))


def fan_out(envelope: Envelope, deps: WorkerDeps) -> int:
    """Returns how many deliveries were enqueued."""
    event = envelope.message()
    assert isinstance(event, RegistryEvent)
    kind = KINDS[envelope.type]
    with deps.uow() as uow:
        session = uow.session
        if seen(session, CONSUMER, envelope.id):
            return 0
        if isinstance(event, JobSubscribed):
            jobs = [event.job_id]
        else:
            jobs = list(
                session.exec(
                    select(JobRegistry.job_id).where(JobRegistry.registry_id == event.registry_id)
                )
            )
        rows = [
            {
                "id": delivery_id(envelope.id, job),
                "job_id": job,
                "registry_id": event.registry_id,
                "kind": kind,
                "version": event.version,
                "event_id": envelope.id,
                "status": "pending",
                "attempts": 0,
                "created_at": utcnow(),
            }
            for job in jobs
        ]
        for start in range(0, len(rows), DEFAULT_BATCH):
            statement = insert(session, Delivery).values(rows[start : start + DEFAULT_BATCH])
            session.execute(statement.on_conflict_do_nothing())
        if isinstance(event, RegistryUnlinked):  # the uses end with the revocation
            for table in (JobRegistry, DeliveryLease):
                session.execute(delete(table).where(col(table.registry_id) == event.registry_id))
        uow.commit()
    envelopes = [
        envelope.follow(DeliverWebhook(delivery_id=str(row["id"])), id=str(row["id"]))
        for row in rows
    ]
    for start in range(0, len(envelopes), DEFAULT_BATCH):
        enqueue_many(deps.broker, envelopes[start : start + DEFAULT_BATCH], *DELIVER)
    with deps.uow() as uow:
        first_time(uow.session, CONSUMER, envelope.id)
        uow.commit()
    log.info(
        "fanout.enqueued",
        kind=kind,
        registry=event.name,
        deliveries=len(rows),
        correlation_id=envelope.correlationid,
    )
    return len(rows)
