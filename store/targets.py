"""What a network step needs, read in a short transaction before it runs.

The network work (verify, re-check, crawl) happens outside any transaction; its result
is recorded afterwards through the lifecycle, which checks again that the registry is
still the version that was read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from events.validation import host_port
from store import lifecycle
from store.credentials import open_secret
from store.secrets import Sealed, SecretBox
from store.tables import Project, Registry, RegistryUpdate
from store.uow import UnitOfWorkFactory

STALE = "stale"  # the registry moved on (unlinked, another version in force)
DUPLICATE = "duplicate"  # this message was already applied


@dataclass(frozen=True)
class Target:
    registry_id: str
    project: str
    name: str
    url: str
    version: int
    auth: str
    username: str | None
    secret: str | None = field(repr=False)
    repositories: tuple[str, ...] = ()
    catalog: str | None = None
    expires_at: datetime | None = None  # as the owner gave it
    ca_pem: str | None = None  # the registry's private CA, trusted for it alone


def load_target(
    uow: UnitOfWorkFactory,
    box: SecretBox,
    *,
    registry_id: str,
    version: int | None,
    consumer: str,
    message_id: str,
) -> Target | str:
    """The details in force, or why there is nothing to do. `version` None: whatever
    version is in force (a crawl), as long as the registry is usable."""
    with uow() as unit:
        found = unit.session.exec(
            select(Registry, Project.name)
            .join(Project, col(Project.id) == col(Registry.project_id))
            .where(Registry.id == registry_id)
        ).first()  # the registry and its project's name in one statement
        if found is None:
            return STALE
        registry, project = found
        if registry.active_name is None:
            return STALE
        if version is None and registry.status not in lifecycle.USABLE:
            return STALE
        if version is not None and registry.version != version:
            return STALE
        if unit.seen(consumer, message_id):
            return DUPLICATE
        secret = None
        if registry.auth != "anonymous":  # an anonymous registry keeps no secret
            secret = open_secret(unit.session, box, registry.id, host_port(registry.url)[0])
        return _target(project, registry, registry.url, secret)


def load_proposal(
    uow: UnitOfWorkFactory,
    box: SecretBox,
    *,
    registry_id: str,
    update_id: str,
    consumer: str,
    message_id: str,
) -> Target | str:
    """The proposed details of a pending update (with the stored secret when it keeps it)."""
    with uow() as unit:
        registry = unit.session.get(Registry, registry_id)
        if registry is None:
            return STALE
        proposal = lifecycle.proposal_of(unit, registry, update_id)
        if proposal is None:
            return STALE
        if unit.seen(consumer, message_id):
            return DUPLICATE
        secret = _proposed_secret(unit.session, box, registry, proposal)
        project = unit.project_name(registry.project_id)
        return Target(
            registry_id=registry.id,
            project=project,
            name=registry.name,
            url=proposal.url,
            version=registry.version,
            auth=proposal.auth,
            username=proposal.username,
            secret=secret,
            repositories=tuple(proposal.repositories),
            ca_pem=proposal.ca_pem,
        )


def _proposed_secret(
    session: Session, box: SecretBox, registry: Registry, proposal: RegistryUpdate
) -> str | None:
    if proposal.keep_secret:
        return open_secret(session, box, registry.id, host_port(proposal.url)[0])
    if proposal.wrapped_key and proposal.ciphertext:
        return box.decrypt(Sealed(proposal.wrapped_key, proposal.ciphertext))
    return None


def _target(project: str, registry: Registry, url: str, secret: str | None) -> Target:
    return Target(
        registry_id=registry.id,
        project=project,
        name=registry.name,
        url=url,
        version=registry.version,
        auth=registry.auth,
        username=registry.username,
        secret=secret,
        repositories=tuple(registry.repositories),
        catalog=registry.catalog,
        expires_at=registry.expires_at,
        ca_pem=registry.ca_pem,
    )
