"""Link: record the registry `pending` with its sealed secret, and ask for verification."""

from __future__ import annotations

import uuid

from events.envelope import Envelope
from events.errors import Conflict
from events.messages import CrawlRegistry, CrawlRequested, LinkRegistry, RegistryLinkRequested
from events.sealing import unseal
from events.validation import host_port
from store.credentials import store_secret
from store.identity import authorize
from store.registries import (
    VISIBLE_STATUSES,
    check_name_free,
    get_active,
    registry_event,
    subject,
)
from store.tables import Registry
from store.uow import UnitOfWork
from workers.deps import WorkerDeps


def link_registry(
    command: LinkRegistry, envelope: Envelope, uow: UnitOfWork, deps: WorkerDeps
) -> str:
    session = uow.session
    project = authorize(session, command.project, envelope.actor, owner=True)
    check_name_free(session, project, command.name)
    secret = (
        unseal(command.sealed_secret, deps.unsealing_keys, project=command.project)
        if command.sealed_secret
        else None
    )
    registry = Registry(
        id=str(uuid.uuid4()),
        project_id=project.id,
        name=command.name,
        active_name=command.name.lower(),
        url=command.url,
        description=command.description,
        auth=command.auth,
        username=command.username,
        repositories=list(command.repositories),
        expires_at=command.expires_at,
    )
    session.add(registry)
    session.flush()  # a racing duplicate name fails here, as IntegrityError
    if secret is not None:
        store_secret(session, deps.box, registry.id, host_port(command.url)[0], secret)
    event = registry_event(RegistryLinkRequested, project.name, registry, url=registry.url)
    uow.emit(envelope.follow(event, subject=subject(project.name, registry)))
    uow.audit(
        "registry.link_requested",
        actor=envelope.actor,
        project_id=project.id,
        target=registry.name,
        command_id=envelope.commandid,
        url=registry.url,
        auth=registry.auth,
        username=registry.username,
    )
    return registry.id


def request_crawl(
    command: CrawlRegistry, envelope: Envelope, uow: UnitOfWork, deps: WorkerDeps
) -> str:
    """Members may ask for a fresh catalog; only a verified registry can be crawled."""
    session = uow.session
    project = authorize(session, command.project, envelope.actor, owner=command.OWNER_ONLY)
    registry = get_active(session, project, command.name)
    if registry.status not in VISIBLE_STATUSES:
        raise Conflict(f"registry {registry.name!r} is {registry.status}, not verified")
    event = registry_event(CrawlRequested, project.name, registry)
    uow.emit(envelope.follow(event, subject=subject(project.name, registry)))
    return registry.id
