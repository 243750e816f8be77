"""Command handlers: authorize, validate, change state and emit, in one transaction.

Every command is applied at most once, keyed by its id: the command record is locked
first, and a record that already has an outcome means a redelivery, which changes
nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError

from events.envelope import Envelope, parse_envelope
from events.errors import CommandRejected, Conflict, UnknownCommand
from events.messages import (
    Command,
    CrawlRegistry,
    CrawlRequested,
    LinkRegistry,
    RegistryLinkRequested,
    RegistryUnlinked,
    UnlinkRegistry,
)
from events.sealing import unseal
from events.validation import host_port, validate_command
from store import commands as records
from store.credentials import destroy_secret, store_secret
from store.identity import authorize
from store.registries import VISIBLE_STATUSES, check_name_free, get_active
from store.tables import Registry, utcnow
from store.uow import UnitOfWork
from workers.deps import WorkerDeps

log = structlog.get_logger(__name__)


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
    subject = f"/projects/{project.name}/registries/{registry.name}"
    uow.emit(
        envelope.follow(
            RegistryLinkRequested(
                project=project.name,
                registry_id=registry.id,
                name=registry.name,
                version=registry.version,
                url=registry.url,
            ),
            subject=subject,
        )
    )
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


def unlink_registry(
    command: UnlinkRegistry, envelope: Envelope, uow: UnitOfWork, deps: WorkerDeps
) -> str:
    """The registry leaves the project and its secret is destroyed with its data key."""
    session = uow.session
    project = authorize(session, command.project, envelope.actor, owner=True)
    registry = get_active(session, project, command.name)
    registry.status = "unlinked"
    registry.active_name = None
    registry.unlinked_at = registry.updated_at = utcnow()
    session.add(registry)
    destroy_secret(session, registry.id)
    uow.emit(
        envelope.follow(
            RegistryUnlinked(
                project=project.name,
                registry_id=registry.id,
                name=registry.name,
                version=registry.version,
            ),
            subject=f"/projects/{project.name}/registries/{registry.name}",
        )
    )
    uow.audit(
        "registry.unlinked",
        actor=envelope.actor,
        project_id=project.id,
        target=registry.name,
        command_id=envelope.commandid,
    )
    return registry.id


def crawl_registry(
    command: CrawlRegistry, envelope: Envelope, uow: UnitOfWork, deps: WorkerDeps
) -> str:
    """Members may ask for a fresh catalog; only a verified registry can be crawled."""
    session = uow.session
    project = authorize(session, command.project, envelope.actor, owner=command.OWNER_ONLY)
    registry = get_active(session, project, command.name)
    if registry.status not in VISIBLE_STATUSES:
        raise Conflict(f"registry {registry.name!r} is {registry.status}, not verified")
    uow.emit(
        envelope.follow(
            CrawlRequested(
                project=project.name,
                registry_id=registry.id,
                name=registry.name,
                version=registry.version,
            ),
            subject=f"/projects/{project.name}/registries/{registry.name}",
        )
    )
    return registry.id


HANDLERS: dict[type[Command], Any] = {
    LinkRegistry: link_registry,
    UnlinkRegistry: unlink_registry,
    CrawlRegistry: crawl_registry,
}


def handle_command(raw: Any, deps: WorkerDeps) -> str | None:
    """Apply one command from the broker; returns its outcome status, or None for an
    envelope too malformed to carry an id (logged and dropped: retrying cannot help)."""
    try:
        envelope = parse_envelope(raw)
    except UnknownCommand as exc:
        log.error("command.malformed", error=exc.message)
        return None
    bound = log.bind(
        command_id=envelope.commandid, correlation_id=envelope.correlationid, type=envelope.type
    )
    project = str(envelope.data.get("project", ""))[:200]
    with deps.uow() as uow:
        records.record_queued(
            uow.session,
            id=envelope.id,
            type=envelope.type,
            project=project,
            actor=envelope.actor,
            correlation_id=envelope.correlationid,
        )
        uow.commit()
    with deps.uow() as uow:
        record = records.lock(uow.session, envelope.id)
        assert record is not None
        if record.status != "queued":
            bound.info("command.duplicate", status=record.status)
            return record.status
        try:
            message = envelope.message()
            if not isinstance(message, Command):
                raise UnknownCommand(f"{envelope.type} is not a command")
            command = validate_command(message, deps.insecure_hosts)
            registry_id = HANDLERS[type(command)](command, envelope, uow, deps)
            records.finish(record, registry_id=registry_id)
            uow.session.add(record)
            uow.commit()
            bound.info("command.succeeded", registry_id=registry_id)
            return "succeeded"
        except CommandRejected as exc:
            rejection = exc
        except IntegrityError:
            rejection = Conflict("the name was taken by a command that ran at the same time")
    _reject(envelope, rejection, deps)
    bound.warning("command.rejected", code=rejection.code, error=rejection.message)
    return "failed"


def _reject(envelope: Envelope, rejection: CommandRejected, deps: WorkerDeps) -> None:
    """Record the failed outcome alone: nothing else of the command is kept."""
    with deps.uow() as uow:
        record = records.lock(uow.session, envelope.id)
        if record is None or record.status != "queued":
            return
        records.finish(record, error_code=rejection.code, error_message=rejection.message)
        uow.session.add(record)
        uow.audit(
            "command.rejected",
            actor=envelope.actor,
            project_id=None,
            target=envelope.type,
            command_id=envelope.commandid,
            code=rejection.code,
        )
        uow.commit()
