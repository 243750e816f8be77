"""Delivery rows and the (job, registry) leases that keep two sends to a job from crossing.

The fan-out writes the rows, the delivery actor claims one (or learns it is done, was
superseded or must wait for the lease) and settles it after the POST. Each step is one
short transaction of the caller's; no lock is held across the HTTP call.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import delete
from sqlmodel import Session, col, select

from store.inserts import insert
from store.secrets import Sealed, SecretBox
from store.tables import BuildJob, Delivery, DeliveryLease, JobRegistry, Project, Registry, utcnow

DEFAULT_INSERT_BATCH = 500  # delivery rows per INSERT

NotToSend = Literal["done", "superseded", "busy"]


@dataclass(frozen=True)
class Claimed:
    """A pending delivery whose lease this send holds, with what the send needs to know."""

    delivery: Delivery
    registry: Registry
    project: str
    job: BuildJob


def delivery_id(event_id: str, job_id: str) -> str:
    """Derived from the event and the job, so a redelivered event writes no new row."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"reglink:delivery:{event_id}:{job_id}"))


def subscribers(session: Session, registry_id: str) -> list[str]:
    """The ids of the build jobs that use the registry."""
    statement = select(JobRegistry.job_id).where(JobRegistry.registry_id == registry_id)
    return list(session.exec(statement))


def next_sequence(session: Session, registry_id: str) -> int:
    """The registry's next delivery `sequence`. The registry row stays locked until the
    caller commits, so sequences are given in the order the rows are committed."""
    registry = session.get(Registry, registry_id, with_for_update=True, populate_existing=True)
    assert registry is not None
    registry.delivery_sequence += 1
    session.add(registry)
    return registry.delivery_sequence


def add_deliveries(
    session: Session,
    event_id: str,
    registry_id: str,
    job_ids: list[str],
    kind: str,
    version: int,
    *,
    sequence: int,
    details: dict[str, Any],
) -> list[str]:
    """One pending delivery per job (rows that exist already are left as they are); their
    ids, in the order of `job_ids`. `details` are the kind's own fields (reason, expiry)."""
    rows = [
        {
            "id": delivery_id(event_id, job),
            "job_id": job,
            "registry_id": registry_id,
            "kind": kind,
            "version": version,
            "event_id": event_id,
            "sequence": sequence,
            "details": details,
            "status": "pending",
            "attempts": 0,
            "created_at": utcnow(),
        }
        for job in job_ids
    ]
    for start in range(0, len(rows), DEFAULT_INSERT_BATCH):
        statement = insert(session, Delivery).values(rows[start : start + DEFAULT_INSERT_BATCH])
        session.execute(statement.on_conflict_do_nothing())
    return [str(row["id"]) for row in rows]


def end_uses(session: Session, registry_id: str) -> None:
    """The registry is revoked: no job uses it any more, and no send holds a lease on it."""
    for table in (JobRegistry, DeliveryLease):
        session.execute(delete(table).where(col(table.registry_id) == registry_id))


def claim(session: Session, delivery_id: str, lease: timedelta) -> Claimed | NotToSend:
    """The delivery to send now, under a (job, registry) lease of `lease`; or why not.

    Versions only move forward: a delivery older than the registry's version, or than what
    the job acknowledged, or for a registry the job no longer uses, is marked superseded."""
    delivery = session.get(Delivery, delivery_id, with_for_update=True, populate_existing=True)
    if delivery is None or delivery.status != "pending":
        return "done"
    job = session.get(BuildJob, delivery.job_id)
    registry = session.get(Registry, delivery.registry_id)
    use = session.get(JobRegistry, (delivery.job_id, delivery.registry_id))
    assert job is not None and registry is not None
    stale = delivery.version < registry.version or (
        use is not None and delivery.version <= use.delivered_version and delivery.kind == "updated"
    )
    if delivery.kind != "unlinked" and (use is None or registry.active_name is None):
        stale = True  # the job stopped using it, or it was unlinked since
    if stale:
        delivery.status = "superseded"
        session.add(delivery)
        return "superseded"
    if _earlier_pending(session, delivery) or not _take_lease(session, delivery, lease):
        return "busy"
    project = session.get(Project, registry.project_id)
    assert project is not None
    return Claimed(delivery, registry, project.name, job)


def job_secret(box: SecretBox, job: BuildJob) -> str:
    """The job's `whsec_…` signing secret, opened at send time."""
    return box.decrypt(Sealed(job.wrapped_key, job.secret_ciphertext))


def _earlier_pending(session: Session, delivery: Delivery) -> bool:
    """An earlier delivery to the same job about the same registry still waits: it goes
    first, so a job never receives a lower `sequence` after a higher one."""
    statement = select(Delivery.id).where(
        Delivery.job_id == delivery.job_id,
        Delivery.registry_id == delivery.registry_id,
        Delivery.status == "pending",
        col(Delivery.sequence) < delivery.sequence,
    )
    return session.exec(statement.limit(1)).first() is not None


def _take_lease(session: Session, delivery: Delivery, lease: timedelta) -> bool:
    now = utcnow()
    values = {
        "job_id": delivery.job_id,
        "registry_id": delivery.registry_id,
        "delivery_id": delivery.id,
        "until": now + lease,
    }
    statement = insert(session, DeliveryLease).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["job_id", "registry_id"],
        set_={"delivery_id": delivery.id, "until": values["until"]},
        where=(DeliveryLease.until < now) | (DeliveryLease.delivery_id == delivery.id),  # type: ignore[arg-type,operator]
    ).returning(DeliveryLease.delivery_id)  # type: ignore[arg-type]
    return session.execute(statement).first() is not None


def settle(
    session: Session,
    delivery_id: str,
    status: int | None,
    error: str | None,
    *,
    retryable: bool,
    max_attempts: int,
) -> tuple[str, int]:
    """Record one try and release the lease; (outcome, tries so far). A success moves the
    job's acknowledged version forward; a failure that is not `retryable`, or the
    `max_attempts`th, leaves the delivery `dead`; any other failure's outcome is `retry`."""
    delivery = session.get(Delivery, delivery_id, with_for_update=True, populate_existing=True)
    assert delivery is not None
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_error = status, error
    delivery.waiting_since = utcnow()  # the reconciler counts a lost retry from here
    if error is None:
        delivery.status, delivery.delivered_at = "delivered", utcnow()
        use = session.get(
            JobRegistry, (delivery.job_id, delivery.registry_id), with_for_update=True
        )
        if use is not None and use.delivered_version < delivery.version:
            use.delivered_version = delivery.version
            session.add(use)
    elif not retryable or delivery.attempts >= max_attempts:
        delivery.status = "dead"
    lease = session.get(DeliveryLease, (delivery.job_id, delivery.registry_id))
    if lease is not None and lease.delivery_id == delivery.id:
        session.delete(lease)
    session.add(delivery)
    outcome = "retry" if delivery.status == "pending" else delivery.status
    return outcome, delivery.attempts
