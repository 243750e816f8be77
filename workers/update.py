"""Update: new details are verified before they replace the ones in force.

While a proposal is being verified, and if it fails, the last verified details stay in
force and nothing reaches build jobs. A registry that never passed verification has
nothing to protect, so its update applies at once and is verified as a new link.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlmodel import Session

from events.envelope import Envelope
from events.messages import RegistryLinkRequested, RegistryUpdateRequested, UpdateRegistry
from events.sealing import unseal
from events.validation import host_port
from store.credentials import replace_secret
from store.identity import authorize
from store.registries import get_active, registry_event, subject
from store.tables import Registry, RegistryUpdate, utcnow
from store.uow import UnitOfWork
from store.updates import merged_details
from workers.deps import WorkerDeps


def supersede_pending(session: Session, registry: Registry) -> None:
    """Drop a proposal still waiting for verification, and its secret with it."""
    if registry.pending_update_id is None:
        return
    proposal = session.get(RegistryUpdate, registry.pending_update_id)
    if proposal is not None and proposal.status == "pending":
        shred(proposal, "superseded")
        session.add(proposal)
    registry.pending_update_id = None


def shred(proposal: RegistryUpdate, status: str, reason: str | None = None) -> None:
    proposal.status, proposal.reason = status, reason
    proposal.wrapped_key = proposal.ciphertext = None


def update_registry(
    command: UpdateRegistry, envelope: Envelope, uow: UnitOfWork, deps: WorkerDeps
) -> str:
    session = uow.session
    project = authorize(session, command.project, envelope.actor, owner=True)
    registry = get_active(session, project, command.name)
    secret = (
        unseal(command.sealed_secret, deps.unsealing_keys, project=command.project)
        if command.sealed_secret
        else None
    )
    details, keep_secret = merged_details(session, project, registry, command, secret is not None)
    supersede_pending(session, registry)
    about = subject(project.name, registry)
    if registry.status == "failed":
        _apply_unverified(uow, deps, registry, details, secret, keep_secret)
        event = registry_event(RegistryLinkRequested, project.name, registry, url=registry.url)
        uow.emit(envelope.follow(event, subject=about))
    else:
        proposal = RegistryUpdate(
            id=str(uuid.uuid4()),
            registry_id=registry.id,
            base_version=registry.version,
            keep_secret=keep_secret,
            **details,  # type: ignore[arg-type]
        )
        if secret is not None:
            sealed = deps.box.encrypt(secret)
            proposal.wrapped_key, proposal.ciphertext = sealed.wrapped_key, sealed.ciphertext
        session.add(proposal)
        session.flush()
        registry.pending_update_id = proposal.id
        session.add(registry)
        requested = registry_event(
            RegistryUpdateRequested, project.name, registry, update_id=proposal.id
        )
        uow.emit(envelope.follow(requested, subject=about))
    uow.audit(
        "registry.update_requested",
        actor=envelope.actor,
        project_id=project.id,
        target=registry.name,
        command_id=envelope.commandid,
        changes=sorted(
            k
            for k, v in command.model_dump(exclude_none=True).items()
            if k not in ("project", "name", "sealed_secret", "expected_version")
        )
        + (["secret"] if secret is not None else []),
    )
    return registry.id


def _apply_unverified(
    uow: UnitOfWork,
    deps: WorkerDeps,
    registry: Registry,
    details: Mapping[str, object],
    secret: str | None,
    keep_secret: bool,
) -> None:
    for key, value in details.items():
        setattr(registry, key, value)
    registry.active_name = registry.name.lower()
    registry.version += 1
    registry.status, registry.reason, registry.message = "pending", None, None
    registry.updated_at = utcnow()
    uow.session.add(registry)
    if not keep_secret:
        sealed = deps.box.encrypt(secret) if secret is not None else None
        replace_secret(uow.session, registry.id, host_port(registry.url)[0], sealed)
