"""Delivery rows and the (job, registry) leases that keep two sends to a job from crossing.

The fan-out writes the rows, the delivery actors claim a batch of them (learning for each
that it is done, was superseded or must wait for the lease) and settle them after the
POSTs. Each step is one short transaction of the caller's, a few statements whatever the
batch's size; no lock is held across the HTTP calls.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import delete, func, literal, update
from sqlmodel import Session, col, select

from store.identity import project_name
from store.inserts import insert
from store.secrets import Sealed, SecretBox
from store.tables import BuildJob, Delivery, DeliveryLease, JobRegistry, Registry, utcnow

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
    # one short statement, its rows sent as a batch: a multi-row VALUES would be compiled
    # and parsed anew for each batch (2.5 s of CPU for 10,000 rows, against 0.2 s)
    statement = insert(session, Delivery.__table__).on_conflict_do_nothing()  # type: ignore[attr-defined]
    for start in range(0, len(rows), DEFAULT_INSERT_BATCH):
        session.execute(statement, rows[start : start + DEFAULT_INSERT_BATCH])
    return [str(row["id"]) for row in rows]


def end_uses(session: Session, registry_id: str) -> None:
    """The registry is revoked: no job uses it any more, and no send holds a lease on it."""
    for table in (JobRegistry, DeliveryLease):
        session.execute(delete(table).where(col(table.registry_id) == registry_id))


def claim(
    session: Session, delivery_ids: Sequence[str], lease: timedelta
) -> dict[str, Claimed | NotToSend]:
    """Each delivery to send now, under a (job, registry) lease of `lease`; or why not.
    A batch costs a handful of statements whatever its size.

    Versions only move forward: a delivery older than the registry's version, or than what
    the job acknowledged, or for a registry the job no longer uses, is marked superseded.
    An earlier delivery to the same job about the same registry that still waits goes
    first (this one is `busy`), so a job never receives a lower `sequence` after a higher
    one."""
    outcome: dict[str, Claimed | NotToSend] = dict.fromkeys(delivery_ids, "done")
    rows = session.exec(
        select(Delivery)
        .where(col(Delivery.id).in_(delivery_ids), Delivery.status == "pending")
        .order_by(col(Delivery.id))  # one lock order for every batch
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    if not rows:
        return outcome
    registry_ids = {d.registry_id for d in rows}
    job_ids = {d.job_id for d in rows}
    registries = {r.id: r for r in _all(session, Registry, registry_ids)}
    jobs = {j.id: j for j in _all(session, BuildJob, job_ids)}
    uses = {
        (u.job_id, u.registry_id): u
        for u in session.exec(
            select(JobRegistry).where(
                col(JobRegistry.registry_id).in_(registry_ids), col(JobRegistry.job_id).in_(job_ids)
            )
        )
    }
    live: list[Delivery] = []
    for delivery in rows:
        if _stale(delivery, registries[delivery.registry_id], uses.get(_pair(delivery))):
            delivery.status = "superseded"
            session.add(delivery)
            outcome[delivery.id] = "superseded"
        else:
            live.append(delivery)
    first = _first_pending(session, registry_ids, job_ids)
    # the earliest of each pair may go now; a later one waits its turn
    ready = sorted(
        (d for d in live if first.get(_pair(d), d.sequence) >= d.sequence),
        key=lambda d: (_pair(d), d.sequence),
    )
    ready = [d for n, d in enumerate(ready) if n == 0 or _pair(ready[n - 1]) != _pair(d)]
    leased = _take_leases(session, ready, lease)
    projects = {r.project_id: project_name(session, r.project_id) for r in registries.values()}
    for delivery in live:
        if delivery.id not in leased:
            outcome[delivery.id] = "busy"
            continue
        registry = registries[delivery.registry_id]
        outcome[delivery.id] = Claimed(
            delivery, registry, projects[registry.project_id], jobs[delivery.job_id]
        )
    return outcome


def job_secret(box: SecretBox, job: BuildJob) -> str:
    """The job's `whsec_…` signing secret, opened at send time."""
    return box.decrypt(Sealed(job.wrapped_key, job.secret_ciphertext))


def _pair(delivery: Delivery) -> tuple[str, str]:
    return delivery.job_id, delivery.registry_id


def _all(session: Session, table: Any, ids: set[str]) -> Sequence[Any]:
    return session.exec(select(table).where(col(table.id).in_(ids))).all()


def _stale(delivery: Delivery, registry: Registry, use: JobRegistry | None) -> bool:
    if delivery.kind != "unlinked" and (use is None or registry.active_name is None):
        return True  # the job stopped using it, or it was unlinked since
    return delivery.version < registry.version or (
        use is not None and delivery.version <= use.delivered_version and delivery.kind == "updated"
    )


def _first_pending(
    session: Session, registry_ids: set[str], job_ids: set[str]
) -> dict[tuple[str, str], int]:
    """The lowest `sequence` still pending for each (job, registry) pair."""
    statement = (
        select(Delivery.job_id, Delivery.registry_id, func.min(Delivery.sequence))
        .where(
            col(Delivery.job_id).in_(job_ids),
            col(Delivery.registry_id).in_(registry_ids),
            Delivery.status == "pending",
        )
        .group_by(col(Delivery.job_id), col(Delivery.registry_id))
    )
    return {(job, registry): first for job, registry, first in session.exec(statement)}


def _take_leases(session: Session, ready: list[Delivery], lease: timedelta) -> set[str]:
    """The ids of the deliveries whose (job, registry) lease is now theirs: free, expired
    or theirs already. `ready` holds one delivery per pair.

    One short statement whatever the batch's size (the rows come from the deliveries
    table, so its text does not grow with the batch), taking the leases in pair order:
    one lock order for every batch."""
    if not ready:
        return set()
    now = utcnow()
    rows = (
        select(
            col(Delivery.job_id), col(Delivery.registry_id), col(Delivery.id), literal(now + lease)
        )
        .where(col(Delivery.id).in_([d.id for d in ready]))
        .order_by(col(Delivery.job_id), col(Delivery.registry_id))
    )
    statement = insert(session, DeliveryLease).from_select(
        ["job_id", "registry_id", "delivery_id", "until"], rows
    )
    statement = statement.on_conflict_do_update(
        index_elements=["job_id", "registry_id"],
        set_={"delivery_id": statement.excluded.delivery_id, "until": statement.excluded.until},
        where=(DeliveryLease.until < now)  # type: ignore[arg-type,operator]
        | (DeliveryLease.delivery_id == statement.excluded.delivery_id),
    ).returning(DeliveryLease.delivery_id)  # type: ignore[arg-type]
    return {row[0] for row in session.execute(statement)}


def delivered(session: Session, sent: Sequence[tuple[Delivery, int]]) -> None:
    """Record a batch of acknowledged sends, `(delivery, status code)`, in a few
    statements: the deliveries are delivered, each job's acknowledged version moves
    forward and the leases are released."""
    if not sent:
        return
    now = utcnow()
    by_code: dict[int, list[str]] = {}
    by_version: dict[tuple[str, int], list[str]] = {}
    for delivery, code in sent:
        by_code.setdefault(code, []).append(delivery.id)
        by_version.setdefault((delivery.registry_id, delivery.version), []).append(delivery.job_id)
    for code, ids in by_code.items():
        session.execute(
            update(Delivery)
            .where(col(Delivery.id).in_(ids))
            .values(
                status="delivered",
                attempts=Delivery.attempts + 1,
                last_status_code=code,
                last_error=None,
                waiting_since=now,
                delivered_at=now,
            )
        )
    for (registry_id, version), job_ids in by_version.items():
        session.execute(
            update(JobRegistry)
            .where(
                col(JobRegistry.registry_id) == registry_id,
                col(JobRegistry.job_id).in_(sorted(job_ids)),
                col(JobRegistry.delivered_version) < version,
            )
            .values(delivered_version=version)
        )
    release(session, [d.id for d, _ in sent])


def release(session: Session, delivery_ids: Sequence[str]) -> None:
    """The leases these deliveries hold are free for the next send."""
    if delivery_ids:
        statement = delete(DeliveryLease).where(col(DeliveryLease.delivery_id).in_(delivery_ids))
        session.execute(statement)


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
