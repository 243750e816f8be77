"""Unlink: the registry leaves the project at once, its secret and catalog are destroyed,
and the build jobs that used it are told to drop it (the fan-out reads the uses)."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import col

from events.envelope import Envelope
from events.messages import RegistryUnlinked, UnlinkRegistry
from store.credentials import destroy_secret
from store.identity import authorize
from store.jobs import check_unused, jobs_using
from store.registries import get_active, registry_event, subject
from store.tables import CatalogRepository, CatalogTag, utcnow
from store.uow import UnitOfWork
from workers.deps import WorkerDeps
from workers.update import supersede_pending


def unlink_registry(
    command: UnlinkRegistry, envelope: Envelope, uow: UnitOfWork, deps: WorkerDeps
) -> str:
    session = uow.session
    project = authorize(session, command.project, envelope.actor, owner=True)
    registry = get_active(session, project, command.name)
    users = jobs_using(session, registry) if command.force else check_unused(session, registry)
    supersede_pending(session, registry)
    registry.status = "unlinked"
    registry.active_name = None
    registry.version += 1  # the revocation is the newest version build jobs will see
    registry.catalog_generation = None
    registry.unlinked_at = registry.updated_at = utcnow()
    session.add(registry)
    destroy_secret(session, registry.id)
    for table in (CatalogTag, CatalogRepository):
        session.execute(delete(table).where(col(table.registry_id) == registry.id))
    event = registry_event(RegistryUnlinked, project.name, registry)
    uow.emit(envelope.follow(event, subject=subject(project.name, registry)))
    uow.audit(
        "registry.unlinked",
        actor=envelope.actor,
        project_id=project.id,
        target=registry.name,
        command_id=envelope.commandid,
        version=registry.version,
        jobs=users,
    )
    return registry.id
