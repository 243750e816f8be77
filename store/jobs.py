"""Build jobs, the registries they use, and their deliveries."""

from __future__ import annotations

import uuid

from sqlalchemy import delete
from sqlmodel import Session, col, select

from events.envelope import Envelope
from events.errors import Conflict, InvalidInput, NotFound
from events.messages import DeliverWebhook, JobSubscribed
from events.webhooks import generate_secret
from store.deliveries import next_sequence
from store.registries import VISIBLE_STATUSES, get_active
from store.secrets import SecretBox
from store.tables import BuildJob, Delivery, DeliveryLease, JobRegistry, Project, Registry
from store.uow import UnitOfWork

DEFAULT_DELIVERY_LISTING = 200  # newest deliveries shown per job


def find_job(session: Session, project: Project, name: str) -> BuildJob:
    job = session.exec(
        select(BuildJob).where(BuildJob.project_id == project.id, BuildJob.name == name)
    ).first()
    if job is None:
        raise NotFound(f"build job {name!r} not found in project {project.name!r}")
    return job


def create_job(
    uow: UnitOfWork, box: SecretBox, project: Project, name: str, webhook: str, actor: str
) -> str:
    """The new job's signing secret, shown once."""
    session = uow.session
    if session.exec(
        select(BuildJob).where(BuildJob.project_id == project.id, BuildJob.name == name)
    ).first():
        raise Conflict(f"a build job named {name!r} already exists in project {project.name!r}")
    secret = generate_secret()
    sealed = box.encrypt(secret)
    session.add(
        BuildJob(
            id=str(uuid.uuid4()),
            project_id=project.id,
            name=name,
            webhook_url=webhook,
            wrapped_key=sealed.wrapped_key,
            secret_ciphertext=sealed.ciphertext,
        )
    )
    uow.audit("job.created", actor=actor, project_id=project.id, target=name, webhook=webhook)
    return secret


def use_registry(
    uow: UnitOfWork, project: Project, job_name: str, registry_name: str, actor: str
) -> Registry:
    """Authorize a job to use a verified registry of its own project; it gets the current
    details at once (a JobSubscribed event)."""
    session = uow.session
    job = find_job(session, project, job_name)
    registry = get_active(session, project, registry_name)
    if registry.status not in VISIBLE_STATUSES:
        raise Conflict(
            f"registry {registry.name!r} is {registry.status}; only verified registries can be used"
        )
    if session.get(JobRegistry, (job.id, registry.id)) is not None:
        return registry  # already using it: nothing new to deliver
    session.add(JobRegistry(job_id=job.id, registry_id=registry.id))
    event = JobSubscribed(
        project=project.name,
        registry_id=registry.id,
        name=registry.name,
        version=registry.version,
        job_id=job.id,
    )
    uow.emit(Envelope.wrap(event, actor=actor, subject=f"/projects/{project.name}/jobs/{job.name}"))
    uow.audit(
        "job.uses_registry",
        actor=actor,
        project_id=project.id,
        target=job.name,
        registry=registry.name,
    )
    return registry


def drop_registry(
    uow: UnitOfWork, project: Project, job_name: str, registry_name: str, actor: str
) -> None:
    session = uow.session
    job = find_job(session, project, job_name)
    registry = get_active(session, project, registry_name)
    use = session.get(JobRegistry, (job.id, registry.id))
    if use is None:
        raise NotFound(f"build job {job.name!r} does not use registry {registry.name!r}")
    session.delete(use)
    uow.audit(
        "job.dropped_registry",
        actor=actor,
        project_id=project.id,
        target=job.name,
        registry=registry.name,
    )


def jobs_using(session: Session, registry: Registry) -> list[str]:
    """Names of the build jobs that use the registry, sorted."""
    return list(
        session.exec(
            select(BuildJob.name)
            .join(JobRegistry, col(JobRegistry.job_id) == col(BuildJob.id))
            .where(JobRegistry.registry_id == registry.id)
            .order_by(col(BuildJob.name))
        )
    )


def list_jobs(session: Session, project: Project) -> list[tuple[BuildJob, list[tuple[str, int]]]]:
    """The project's build jobs by name, each with the registries it uses (name and the
    version it last received), for the listing the gateway shows."""
    jobs = session.exec(
        select(BuildJob).where(BuildJob.project_id == project.id).order_by(col(BuildJob.name))
    )
    listing = []
    for job in jobs:
        uses = session.exec(
            select(Registry.name, JobRegistry.delivered_version)
            .join(JobRegistry, col(JobRegistry.registry_id) == col(Registry.id))
            .where(JobRegistry.job_id == job.id)
            .order_by(col(Registry.name))
        )
        listing.append((job, list(uses)))
    return listing


def list_deliveries(
    session: Session, project: Project, job_name: str
) -> list[tuple[Delivery, str]]:
    """A build job's newest deliveries first, each with its registry's name."""
    job = find_job(session, project, job_name)
    rows = session.exec(
        select(Delivery, Registry.name)
        .join(Registry, col(Registry.id) == col(Delivery.registry_id))
        .where(Delivery.job_id == job.id)
        .order_by(col(Delivery.created_at).desc())
        .limit(DEFAULT_DELIVERY_LISTING)
    )
    return list(rows)


def retry_delivery(
    uow: UnitOfWork, project: Project, job_name: str, delivery_id: str, actor: str
) -> None:
    """Send a dead delivery again (by hand); the version rules still apply at send time.
    It is sent as the newest delivery about its registry (a new `sequence`), so a job that
    already received later ones does not drop it."""
    session = uow.session
    job = find_job(session, project, job_name)
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or delivery.job_id != job.id:
        raise NotFound(f"delivery {delivery_id!r} not found for build job {job.name!r}")
    if delivery.status != "dead":
        raise InvalidInput(
            f"delivery {delivery_id!r} is {delivery.status}; only dead deliveries are retried"
        )
    delivery.status, delivery.attempts = "pending", 0
    delivery.sequence = next_sequence(session, delivery.registry_id)
    session.add(delivery)
    uow.emit(Envelope.wrap(DeliverWebhook(delivery_id=delivery.id), actor=actor))
    uow.audit(
        "delivery.retried",
        actor=actor,
        project_id=project.id,
        target=job.name,
        delivery=delivery.id,
    )


def delete_job(uow: UnitOfWork, project: Project, job_name: str, actor: str) -> None:
    """The job, the registries it used and its delivery history go; a delivery in flight
    finds its row gone and sends nothing. The job's signing secret is destroyed with it."""
    session = uow.session
    job = find_job(session, project, job_name)
    for table in (JobRegistry, Delivery, DeliveryLease):
        session.execute(delete(table).where(col(table.job_id) == job.id))
    session.delete(job)
    uow.audit("job.deleted", actor=actor, project_id=project.id, target=job.name)


def rotate_job_secret(
    uow: UnitOfWork, box: SecretBox, project: Project, job_name: str, actor: str
) -> str:
    """A new signing secret for the job, shown once; deliveries sign with it from now on,
    so the receiver must switch to it (the old one stops verifying at once)."""
    job = find_job(uow.session, project, job_name)
    secret = generate_secret()
    sealed = box.encrypt(secret)
    job.wrapped_key, job.secret_ciphertext = sealed.wrapped_key, sealed.ciphertext
    uow.session.add(job)
    uow.audit("job.secret_rotated", actor=actor, project_id=project.id, target=job.name)
    return secret
