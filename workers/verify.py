"""Verification: does the URL speak Registry API v2, and do the credentials work?

The network step runs outside any transaction; the outcome is recorded in one
transaction together with its event, once per event (inbox), and only if the registry
is still the version that asked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog

from events.envelope import Envelope
from events.messages import (
    RegistryEvent,
    RegistryVerificationFailed,
    RegistryVerified,
)
from events.validation import host_port
from store.credentials import open_secret
from store.inbox import first_time, seen
from store.tables import Project, Registry, utcnow
from workers.deps import WorkerDeps
from workers.metrics import VERIFY_DURATION
from workers.outbound.errors import CatalogUnsupported, OutboundError
from workers.outbound.registry_client import Credentials, RegistryClient

log = structlog.get_logger(__name__)
CONSUMER = "verify_registry"


@dataclass(frozen=True)
class Target:
    """What the network step needs, read in a short transaction."""

    registry_id: str
    project: str
    name: str
    url: str
    version: int
    credentials: Credentials
    repositories: tuple[str, ...]
    catalog: str | None


def load_target(
    deps: WorkerDeps, event: RegistryEvent, consumer: str, envelope_id: str
) -> Target | None:
    """The registry as it is now, or None when the event is stale or already applied."""
    with deps.uow() as uow:
        registry = uow.session.get(Registry, event.registry_id)
        if registry is None or registry.active_name is None or registry.version != event.version:
            return None
        if seen(uow.session, consumer, envelope_id):
            return None
        project = uow.session.get(Project, registry.project_id)
        assert project is not None
        secret = open_secret(uow.session, deps.box, registry.id, host_port(registry.url)[0])
        return Target(
            registry_id=registry.id,
            project=project.name,
            name=registry.name,
            url=registry.url,
            version=registry.version,
            credentials=Credentials(registry.auth, registry.username, secret),
            repositories=tuple(registry.repositories),
            catalog=registry.catalog,
        )


def check_registry(client: RegistryClient) -> str:
    """`supported` when the catalog lists; a registry that refuses it is still usable."""
    client.ping()
    try:
        next(client.catalog_pages(page_size=1), None)
    except CatalogUnsupported:
        return "unsupported"
    return "supported"


def verify_registry(envelope: Envelope, deps: WorkerDeps, attempt: int = 0) -> str | None:
    """Returns the new status, or None when there was nothing to do."""
    event = envelope.message()
    assert isinstance(event, RegistryEvent)
    target = load_target(deps, event, CONSUMER, envelope.id)
    if target is None:
        log.info("verify.skipped", registry_id=event.registry_id, version=event.version)
        return None
    bound = log.bind(
        registry=target.name,
        project=target.project,
        command_id=envelope.commandid,
        correlation_id=envelope.correlationid,
        attempt=attempt,
    )
    common = {
        "project": target.project,
        "registry_id": target.registry_id,
        "name": target.name,
        "version": target.version,
    }
    outcome: RegistryVerified | RegistryVerificationFailed
    started = time.perf_counter()
    try:
        catalog = check_registry(deps.registry_client(target.url, target.credentials))
        outcome = RegistryVerified(**common, catalog=catalog)  # type: ignore[arg-type]
        VERIFY_DURATION.labels("verified").observe(time.perf_counter() - started)
    except OutboundError as exc:
        VERIFY_DURATION.labels(exc.reason).observe(time.perf_counter() - started)
        deps.retry_if_transient(exc, attempt, deps.verify_attempts, "verify")
        outcome = RegistryVerificationFailed(**common, reason=exc.reason, message=str(exc))  # type: ignore[arg-type]
    status = record_outcome(deps, envelope, outcome)
    bound.info("verify.finished", status=status, reason=getattr(outcome, "reason", None))
    return status


def record_outcome(
    deps: WorkerDeps, envelope: Envelope, outcome: RegistryVerified | RegistryVerificationFailed
) -> str | None:
    with deps.uow() as uow:
        registry = uow.session.get(
            Registry, outcome.registry_id, with_for_update=True, populate_existing=True
        )
        if registry is None or registry.active_name is None or registry.version != outcome.version:
            return None
        if not first_time(uow.session, CONSUMER, envelope.id):
            return None
        now = utcnow()
        if isinstance(outcome, RegistryVerified):
            registry.status, registry.reason, registry.message = "verified", None, None
            registry.catalog = outcome.catalog
            registry.verified_at = now
        else:
            registry.status, registry.reason, registry.message = (
                "failed",
                outcome.reason,
                outcome.message,
            )
        registry.updated_at = now
        uow.session.add(registry)
        uow.emit(
            envelope.follow(
                outcome, subject=f"/projects/{outcome.project}/registries/{outcome.name}"
            )
        )
        uow.audit(
            f"registry.{registry.status}",
            actor=envelope.actor,
            project_id=registry.project_id,
            target=registry.name,
            command_id=envelope.commandid,
            reason=registry.reason,
            catalog=registry.catalog,
        )
        uow.commit()
        return registry.status
