"""Verifying a proposed update, then putting it in force (or leaving the old details be)."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from events.envelope import Envelope
from events.messages import RegistryUpdated, RegistryUpdateFailed, RegistryUpdateRequested
from events.validation import host_port
from store.credentials import open_secret, replace_secret
from store.inbox import first_time, seen
from store.secrets import Sealed
from store.tables import Project, Registry, RegistryUpdate, utcnow
from workers.deps import WorkerDeps
from workers.outbound.errors import OutboundError
from workers.outbound.registry_client import Credentials
from workers.update import shred
from workers.verify import check_registry

log = structlog.get_logger(__name__)
CONSUMER = "verify_update"


@dataclass(frozen=True)
class Proposal:
    project: str
    url: str
    credentials: Credentials


def load_proposal(
    deps: WorkerDeps, event: RegistryUpdateRequested, envelope_id: str
) -> Proposal | None:
    with deps.uow() as uow:
        session = uow.session
        registry = session.get(Registry, event.registry_id)
        proposal = session.get(RegistryUpdate, event.update_id)
        if registry is None or proposal is None or not _current(registry, proposal):
            return None
        if seen(session, CONSUMER, envelope_id):
            return None
        if proposal.keep_secret:
            secret = open_secret(session, deps.box, registry.id, host_port(proposal.url)[0])
        elif proposal.wrapped_key and proposal.ciphertext:
            secret = deps.box.decrypt(Sealed(proposal.wrapped_key, proposal.ciphertext))
        else:
            secret = None
        project = session.get(Project, registry.project_id)
        assert project is not None
        return Proposal(
            project.name, proposal.url, Credentials(proposal.auth, proposal.username, secret)
        )


def _current(registry: Registry, proposal: RegistryUpdate) -> bool:
    return (
        registry.active_name is not None
        and registry.pending_update_id == proposal.id
        and proposal.status == "pending"
        and registry.version == proposal.base_version
    )


def verify_update(envelope: Envelope, deps: WorkerDeps, attempt: int = 0) -> str | None:
    event = envelope.message()
    assert isinstance(event, RegistryUpdateRequested)
    loaded = load_proposal(deps, event, envelope.id)
    if loaded is None:
        return None
    reason: str | None = None
    message = ""
    catalog = None
    try:
        catalog = check_registry(deps.registry_client(loaded.url, loaded.credentials))
    except OutboundError as exc:
        deps.retry_if_transient(exc, attempt, deps.verify_attempts, "verify_update")
        reason, message = exc.reason, str(exc)
    try:
        status = _record(deps, envelope, event, catalog, reason, message)
    except IntegrityError:  # the new name was taken while the update was verified
        status = _record(deps, envelope, event, None, "conflict", "the new name is taken")
    log.info("verify_update.finished", registry=event.name, status=status, reason=reason)
    return status


def _record(
    deps: WorkerDeps,
    envelope: Envelope,
    event: RegistryUpdateRequested,
    catalog: str | None,
    reason: str | None,
    message: str,
) -> str | None:
    with deps.uow() as uow:
        session = uow.session
        registry = session.get(
            Registry, event.registry_id, with_for_update=True, populate_existing=True
        )
        proposal = session.get(RegistryUpdate, event.update_id, populate_existing=True)
        if registry is None or proposal is None or not _current(registry, proposal):
            return None
        if not first_time(session, CONSUMER, envelope.id):
            return None
        now = utcnow()
        registry.pending_update_id = None
        subject = f"/projects/{event.project}/registries/{registry.name}"
        if reason is None:
            _put_in_force(session, registry, proposal)
            registry.status, registry.reason, registry.message = "verified", None, None
            registry.catalog, registry.verified_at = catalog, now
            registry.version += 1
            shred(proposal, "applied")
            outcome: RegistryUpdated | RegistryUpdateFailed = RegistryUpdated(
                project=event.project,
                registry_id=registry.id,
                name=registry.name,
                version=registry.version,
            )
        else:
            registry.status, registry.reason, registry.message = "update_failed", reason, message
            shred(proposal, "failed", reason)
            outcome = RegistryUpdateFailed(
                project=event.project,
                registry_id=registry.id,
                name=registry.name,
                version=registry.version,
                reason=reason,
                message=message,
            )
        registry.updated_at = now
        session.add(registry)
        session.add(proposal)
        session.flush()
        uow.emit(envelope.follow(outcome, subject=subject))
        uow.audit(
            "registry.updated" if reason is None else "registry.update_failed",
            actor=envelope.actor,
            project_id=registry.project_id,
            target=registry.name,
            command_id=envelope.commandid,
            version=registry.version,
            reason=reason,
        )
        uow.commit()
        return registry.status


def _put_in_force(session: Session, registry: Registry, proposal: RegistryUpdate) -> None:
    """The proposal's details replace the registry's; its sealed secret moves as it is."""
    for key in ("name", "url", "description", "auth", "username", "repositories", "expires_at"):
        setattr(registry, key, getattr(proposal, key))
    registry.active_name = registry.name.lower()
    if not proposal.keep_secret:
        sealed = (
            Sealed(proposal.wrapped_key, proposal.ciphertext)
            if proposal.wrapped_key and proposal.ciphertext
            else None
        )
        replace_secret(session, registry.id, host_port(proposal.url)[0], sealed)
