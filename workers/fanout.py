"""Fan-out: one delivery per build job that uses the registry, sent in batches.

Delivery rows are written first (their ids are derived from the event and the job, so a
redelivered event writes nothing new), then enqueued as `DeliverWebhooks` batch messages
(one pipelined Redis round trip), then the event is marked applied. A crash in between
enqueues the same delivery ids again, which the delivery actor recognises.
"""

from __future__ import annotations

import uuid

import dramatiq
import structlog

from events.envelope import Envelope
from events.messages import (
    CredentialsExpiring,
    CredentialsFailing,
    DeliverWebhooks,
    JobSubscribed,
    RegistryEvent,
    RegistryUnlinked,
    RegistryUpdated,
)
from store.deliveries import add_deliveries, end_uses, next_sequence, subscribers
from store.inbox import first_time, seen
from store.queues import enqueue_many
from store.uow import UnitOfWorkFactory
from workers.wiring import DELIVER_BATCH

log = structlog.get_logger(__name__)
CONSUMER = "fan_out"
KINDS = {
    RegistryUpdated.TYPE: "updated",
    JobSubscribed.TYPE: "updated",
    RegistryUnlinked.TYPE: "unlinked",
    CredentialsFailing.TYPE: "credentials_failing",
    CredentialsExpiring.TYPE: "credentials_expiring",
}
DETAILS = ("reason", "message", "expires_at")  # event fields a delivery reports as they are


def fan_out(
    event: RegistryEvent, envelope: Envelope, *, uow: UnitOfWorkFactory, broker: dramatiq.Broker
) -> int:
    """Returns how many deliveries were enqueued."""
    kind = KINDS[envelope.type]
    with uow() as unit:
        if seen(unit.session, CONSUMER, envelope.id):
            return 0
        if isinstance(event, JobSubscribed):
            jobs = [event.job_id]
        else:
            jobs = subscribers(unit.session, event.registry_id)
        details = {k: v for k, v in event.model_dump(mode="json").items() if k in DETAILS}
        ids = add_deliveries(
            unit.session,
            envelope.id,
            event.registry_id,
            jobs,
            kind,
            event.version,
            sequence=next_sequence(unit.session, event.registry_id),
            details=details,
        )
        if isinstance(event, RegistryUnlinked):  # the uses end with the revocation
            end_uses(unit.session, event.registry_id)
        unit.commit()
    batches = [  # ids derived from the event, so a redelivered event sends the same ones
        envelope.follow(
            batch, id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"reglink:deliveries:{envelope.id}:{n}"))
        )
        for n, batch in enumerate(DeliverWebhooks.batches(ids))
    ]
    enqueue_many(broker, batches, *DELIVER_BATCH)
    with uow() as unit:
        first_time(unit.session, CONSUMER, envelope.id)
        unit.commit()
    log.info(
        "fanout.enqueued",
        kind=kind,
        registry=event.name,
        deliveries=len(ids),
        correlation_id=envelope.correlationid,
    )
    return len(ids)
