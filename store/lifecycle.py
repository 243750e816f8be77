"""The registry lifecycle: every status, every transition and the event each one emits.

Handlers ask for a transition; nothing else writes a registry's `status`, `reason`,
`message` or `version`. Every transition

- works on the registry row locked by the caller's unit of work (`lock_registry`), so
  transitions on one registry are serialized on SQLite and PostgreSQL alike, and a
  result about a version that is no longer in force changes nothing;
- moves the status by `TRANSITIONS`, and the version forward only in `_bump`;
- settles the pending proposal, if any: applied, failed or superseded, and shredded in
  each case, so no proposal is left pending and no superseded secret survives;
- emits its event through the outbox and writes its audit entry in the same
  transaction, and settles the command whose effect it is (`succeeded` or `failed`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from events.envelope import Envelope
from events.errors import Conflict
from events.messages import (
    CrawlRequested,
    CredentialsExpiring,
    CredentialsFailing,
    RegistryEvent,
    RegistryLinkRequested,
    RegistryUnlinked,
    RegistryUpdated,
    RegistryUpdateFailed,
    RegistryUpdateRequested,
    RegistryVerificationFailed,
    RegistryVerified,
)
from events.validation import host_port
from store.command_records import OPEN, finish
from store.secrets import Sealed
from store.tables import CommandRecord, Registry, RegistryUpdate, utcnow

PENDING = "pending"  # recorded, being verified (a new link, or new details of a failed one)
VERIFIED = "verified"
FAILED = "failed"  # never verified: nothing is in force
UPDATE_FAILED = "update_failed"  # the last update was refused; the details before it stay
DEGRADED = "degraded"  # the details in force stopped working at a periodic check
EXPIRING = "expiring"  # the details in force expire soon
UNLINKED = "unlinked"
STATUSES = (PENDING, VERIFIED, FAILED, UPDATE_FAILED, DEGRADED, EXPIRING, UNLINKED)
USABLE = (VERIFIED, UPDATE_FAILED, DEGRADED, EXPIRING)  # details in force: listed, used by jobs
ACTIVE = (PENDING, FAILED, *USABLE)  # linked, whatever its state: the name is taken


class Step(StrEnum):
    """What can happen to a registry."""

    LINK = "link"  # recorded, to be verified
    VERIFY_PASSED = "verify_passed"
    VERIFY_FAILED = "verify_failed"
    RELINK = "relink"  # new details for a registry that never verified: verified afresh
    PROPOSE = "propose"  # new details wait for verification; those in force stay
    UPDATE_APPLIED = "update_applied"
    UPDATE_REFUSED = "update_refused"
    CHECK_FAILED = "check_failed"  # periodic re-verification of the details in force
    CHECK_EXPIRING = "check_expiring"
    CHECK_PASSED = "check_passed"
    REQUEST_CRAWL = "request_crawl"
    UNLINK = "unlink"


TRANSITIONS: dict[tuple[str | None, Step], str] = {
    (None, Step.LINK): PENDING,
    (PENDING, Step.VERIFY_PASSED): VERIFIED,
    (PENDING, Step.VERIFY_FAILED): FAILED,
    (FAILED, Step.RELINK): PENDING,
    **{(status, Step.PROPOSE): status for status in USABLE},
    **{(status, Step.UPDATE_APPLIED): VERIFIED for status in USABLE},
    **{(status, Step.UPDATE_REFUSED): UPDATE_FAILED for status in USABLE},
    **{(status, Step.CHECK_FAILED): DEGRADED for status in USABLE},
    **{(status, Step.CHECK_EXPIRING): EXPIRING for status in USABLE},
    (VERIFIED, Step.CHECK_PASSED): VERIFIED,
    (UPDATE_FAILED, Step.CHECK_PASSED): UPDATE_FAILED,  # the refused update's reason stays
    (DEGRADED, Step.CHECK_PASSED): VERIFIED,
    (EXPIRING, Step.CHECK_PASSED): VERIFIED,
    **{(status, Step.REQUEST_CRAWL): status for status in USABLE},
    **{(status, Step.UNLINK): UNLINKED for status in ACTIVE},
}
BUMPS = frozenset({Step.RELINK, Step.UPDATE_APPLIED, Step.UNLINK})  # new details or revocation

_REFUSALS = {  # why a command may not happen in a state, for the caller
    PENDING: "is still being verified; try again when it is verified or failed",
    FAILED: "never passed verification; fix it with an update, or unlink it",
    UNLINKED: "is unlinked",
}

E = TypeVar("E", bound=RegistryEvent)


@dataclass(frozen=True)
class Failure:
    """Why a verification failed: one of the closed set of reasons, and a message."""

    reason: str
    message: str


class LifecycleUnit(Protocol):
    """What the lifecycle needs of a unit of work (the real one, or a fake in unit tests)."""

    def add(self, row: Any) -> None: ...
    def flush(self) -> None: ...
    def proposal(self, update_id: str) -> RegistryUpdate | None: ...
    def command(self, command_id: str) -> CommandRecord | None: ...
    def open_commands(self, registry_id: str) -> list[CommandRecord]: ...
    def replace_secret(self, registry_id: str, host: str, sealed: Sealed | None) -> None: ...
    def drop_catalog(self, registry_id: str) -> None: ...
    def emit(self, envelope: Envelope) -> None: ...
    def audit(
        self,
        action: str,
        *,
        actor: str | None,
        project_id: str | None,
        target: str | None = None,
        command_id: str | None = None,
        **details: Any,
    ) -> None: ...


def allowed(registry: Registry | None, step: Step) -> bool:
    status = registry.status if registry is not None else None
    return (status, step) in TRANSITIONS


def check(registry: Registry, step: Step) -> None:
    """`Conflict` when `step` may not happen to the registry as it is."""
    if not allowed(registry, step):
        why = _REFUSALS.get(registry.status, f"is {registry.status}")
        raise Conflict(f"registry {registry.name!r} {why}")


def update_step(registry: Registry) -> Step:
    """Which step an update of the registry is: new details of a registry that never
    verified apply at once (`RELINK`); otherwise they wait as a proposal (`PROPOSE`)."""
    return Step.RELINK if registry.status == FAILED else Step.PROPOSE


def link(
    uow: LifecycleUnit,
    *,
    project_id: str,
    project: str,
    details: Mapping[str, Any],
    sealed: Sealed | None,
    cause: Envelope,
) -> Registry:
    """A new registry, `pending` until its verification settles the link command."""
    registry = Registry(id=str(uuid.uuid4()), project_id=project_id, **details)
    registry.active_name = registry.name.lower()
    registry.status = TRANSITIONS[(None, Step.LINK)]
    registry.work_since = registry.updated_at
    uow.add(registry)
    uow.flush()  # a racing duplicate name fails here (IntegrityError)
    if sealed is not None:
        uow.replace_secret(registry.id, host_port(registry.url)[0], sealed)
    _emit(uow, cause, event_about(RegistryLinkRequested, project, registry, url=registry.url))
    _audit(uow, cause, registry, "registry.link_requested", url=registry.url, auth=registry.auth)
    return registry


def update(
    uow: LifecycleUnit,
    registry: Registry,
    *,
    project: str,
    details: Mapping[str, Any],
    sealed: Sealed | None,
    keep_secret: bool,
    cause: Envelope,
    changes: list[str],
) -> None:
    """New details. A registry that never verified has nothing to protect: they apply at
    once and are verified afresh (`RELINK`). Otherwise they wait as a proposal, and the
    details in force stay until the proposal passes (`PROPOSE`); a proposal still
    waiting is superseded."""
    if update_step(registry) is Step.RELINK:
        _move(registry, Step.RELINK)
        _apply(uow, registry, details, sealed, keep_secret)
        registry.work_since = registry.updated_at
        _emit(uow, cause, event_about(RegistryLinkRequested, project, registry, url=registry.url))
    else:
        _move(registry, Step.PROPOSE)
        _supersede(uow, registry, "a newer update replaced it")
        proposal = RegistryUpdate(
            id=str(uuid.uuid4()),
            registry_id=registry.id,
            base_version=registry.version,
            command_id=cause.commandid,
            keep_secret=keep_secret,
            wrapped_key=sealed.wrapped_key if sealed else None,
            ciphertext=sealed.ciphertext if sealed else None,
            **details,
        )
        uow.add(proposal)
        registry.pending_update_id = proposal.id
        registry.work_since = registry.updated_at
        event = event_about(RegistryUpdateRequested, project, registry, update_id=proposal.id)
        _emit(uow, cause, event)
    uow.add(registry)
    _audit(uow, cause, registry, "registry.update_requested", changes=changes)


def unlink(
    uow: LifecycleUnit, registry: Registry, *, project: str, jobs: list[str], cause: Envelope
) -> None:
    """The registry leaves the project at once: its secret and catalog are destroyed, the
    version moves on so the revocation is the newest thing a job sees, and whatever was
    still in progress for it ends."""
    _move(registry, Step.UNLINK)
    _supersede(uow, registry, "the registry was unlinked")
    for record in uow.open_commands(registry.id):
        if record.id != cause.commandid:
            finish(record, error_code="conflict", error_message="the registry was unlinked")
            uow.add(record)
    registry.active_name = None
    registry.catalog_generation = None
    registry.unlinked_at = registry.updated_at
    registry.work_since = registry.crawl_since = registry.crawl_lease_until = None
    clear_retry(registry)
    uow.add(registry)
    uow.replace_secret(registry.id, "", None)
    uow.drop_catalog(registry.id)
    _emit(uow, cause, event_about(RegistryUnlinked, project, registry))
    _audit(uow, cause, registry, "registry.unlinked", version=registry.version, jobs=jobs)
    settle(uow, cause)


def request_crawl(uow: LifecycleUnit, registry: Registry, *, project: str, cause: Envelope) -> None:
    """Only details in force can be crawled; the crawl settles the command."""
    _move(registry, Step.REQUEST_CRAWL)
    registry.crawl_since = registry.updated_at
    uow.add(registry)
    _emit(uow, cause, event_about(CrawlRequested, project, registry))


def verification_finished(
    uow: LifecycleUnit,
    registry: Registry,
    *,
    project: str,
    cause: Envelope,
    catalog: str | None = None,
    failure: Failure | None = None,
) -> str:
    """`verified` (with whether the catalog lists) or `failed` with the reason."""
    if failure is None:
        _move(registry, Step.VERIFY_PASSED)
        registry.catalog, registry.verified_at = catalog, registry.updated_at
        registry.crawl_since = registry.updated_at  # the first crawl follows
        outcome: RegistryEvent = event_about(RegistryVerified, project, registry, catalog=catalog)
    else:
        _move(registry, Step.VERIFY_FAILED, failure)
        outcome = event_about(
            RegistryVerificationFailed,
            project,
            registry,
            reason=failure.reason,
            message=failure.message,
        )
    registry.work_since = None
    clear_retry(registry)
    uow.add(registry)
    _emit(uow, cause, outcome)
    _audit(
        uow, cause, registry, f"registry.{registry.status}", reason=registry.reason, catalog=catalog
    )
    settle(uow, cause, failure)
    return registry.status


def proposal_of(uow: LifecycleUnit, registry: Registry, update_id: str) -> RegistryUpdate | None:
    """The proposal, if it is still the one waiting on the details in force."""
    proposal = uow.proposal(update_id)
    if (
        proposal is None
        or registry.pending_update_id != proposal.id
        or proposal.status != "pending"
        or registry.version != proposal.base_version
        or registry.status not in USABLE
    ):
        return None
    return proposal


def update_finished(
    uow: LifecycleUnit,
    registry: Registry,
    proposal: RegistryUpdate,
    *,
    project: str,
    cause: Envelope,
    catalog: str | None = None,
    failure: Failure | None = None,
) -> str:
    """A passing proposal is put in force as the next version (jobs get it); a failing one
    leaves the details in force alone and says why."""
    registry.pending_update_id = None
    if failure is None:
        _move(registry, Step.UPDATE_APPLIED)
        _apply(uow, registry, _details_of(proposal), _sealed_of(proposal), proposal.keep_secret)
        registry.catalog, registry.verified_at = catalog, registry.updated_at
        registry.crawl_since = registry.updated_at  # the new details are crawled
        _shred(proposal, "applied")
        outcome: RegistryEvent = event_about(RegistryUpdated, project, registry)
    else:
        _move(registry, Step.UPDATE_REFUSED, failure)
        _shred(proposal, "failed", failure.reason)
        outcome = event_about(
            RegistryUpdateFailed, project, registry, reason=failure.reason, message=failure.message
        )
    registry.work_since = None
    clear_retry(registry)
    uow.add(proposal)
    uow.add(registry)
    uow.flush()  # a new name taken meanwhile fails here (IntegrityError)
    _emit(uow, cause, outcome)
    action = "registry.updated" if failure is None else "registry.update_failed"
    reason = failure.reason if failure else None
    _audit(uow, cause, registry, action, version=registry.version, reason=reason)
    settle(uow, cause, failure)
    return registry.status


def rechecked(
    uow: LifecycleUnit,
    registry: Registry,
    *,
    project: str,
    cause: Envelope,
    failure: Failure | None = None,
    expiring_at: datetime | None = None,
) -> str:
    """A periodic check of the details in force: `degraded` when they stopped working,
    `expiring` when they lapse soon, back to `verified` when they work again. Each
    change is announced to jobs once, not at every check."""
    before = registry.status
    if failure is not None:
        step, why = Step.CHECK_FAILED, failure
    elif expiring_at is not None:
        message = f"the credentials expire at {expiring_at.isoformat()}"
        step, why = Step.CHECK_EXPIRING, Failure("expiring", message)
    else:
        step, why = Step.CHECK_PASSED, None
    if not allowed(registry, step):
        return registry.status
    if step is Step.CHECK_PASSED and before == UPDATE_FAILED:
        _move(registry, step, Failure(registry.reason or "", registry.message or ""))
    else:
        _move(registry, step, why)
    if step is not Step.CHECK_FAILED:
        registry.verified_at = registry.updated_at
    clear_retry(registry)
    uow.add(registry)
    if registry.status != before:
        if step is Step.CHECK_FAILED and failure is not None:
            event: RegistryEvent = event_about(
                CredentialsFailing,
                project,
                registry,
                reason=failure.reason,
                message=failure.message,
                expires_at=registry.expires_at,
            )
            _emit(uow, cause, event)
        elif step is Step.CHECK_EXPIRING and expiring_at is not None:
            _emit(
                uow,
                cause,
                event_about(CredentialsExpiring, project, registry, expires_at=expiring_at),
            )
        _audit(uow, cause, registry, f"registry.{registry.status}", reason=registry.reason)
    return registry.status


def abandon(uow: LifecycleUnit, cause: Envelope, why: str) -> None:
    """The registry moved on before `cause` could have its effect: its command ends."""
    settle(uow, cause, Failure("conflict", why))


def clear_retry(registry: Registry) -> None:
    """The step that was being retried has its outcome."""
    registry.retry_step = registry.retry_reason = registry.retry_at = None
    registry.retry_count = 0


def _move(registry: Registry, step: Step, failure: Failure | None = None) -> None:
    """The one place status, reason and message change, and the version moves forward."""
    check(registry, step)
    registry.status = TRANSITIONS[(registry.status, step)]
    registry.reason = failure.reason if failure else None
    registry.message = failure.message if failure else None
    registry.updated_at = utcnow()
    if step in BUMPS:
        _bump(registry)


def _bump(registry: Registry) -> None:
    registry.version += 1


def _apply(
    uow: LifecycleUnit,
    registry: Registry,
    details: Mapping[str, Any],
    sealed: Sealed | None,
    keep_secret: bool,
) -> None:
    for key, value in details.items():
        setattr(registry, key, value)
    registry.active_name = registry.name.lower()
    if not keep_secret:
        uow.replace_secret(registry.id, host_port(registry.url)[0], sealed)


def _supersede(uow: LifecycleUnit, registry: Registry, why: str) -> None:
    """Drop the proposal still waiting, its secret with it, and end its command."""
    if registry.pending_update_id is None:
        return
    proposal = uow.proposal(registry.pending_update_id)
    registry.pending_update_id = None
    if proposal is None or proposal.status != "pending":
        return
    _shred(proposal, "superseded", "superseded")
    uow.add(proposal)
    record = uow.command(proposal.command_id) if proposal.command_id else None
    if record is not None and record.status in OPEN:
        finish(record, error_code="conflict", error_message=f"superseded: {why}")
        uow.add(record)


def _shred(proposal: RegistryUpdate, status: str, reason: str | None = None) -> None:
    proposal.status, proposal.reason = status, reason
    proposal.wrapped_key = proposal.ciphertext = None


_DETAILS = (
    "name",
    "url",
    "description",
    "auth",
    "username",
    "repositories",
    "expires_at",
    "ca_pem",
)


def _details_of(proposal: RegistryUpdate) -> dict[str, Any]:
    return {key: getattr(proposal, key) for key in _DETAILS}


def _sealed_of(proposal: RegistryUpdate) -> Sealed | None:
    if proposal.wrapped_key and proposal.ciphertext:
        return Sealed(proposal.wrapped_key, proposal.ciphertext)
    return None


def settle(uow: LifecycleUnit, cause: Envelope, failure: Failure | None = None) -> None:
    """The command that asked for this has its outcome, if it is still waiting for one."""
    record = uow.command(cause.commandid)
    if record is not None:
        settle_record(uow, record, failure)


def settle_record(uow: LifecycleUnit, record: CommandRecord, failure: Failure | None) -> None:
    if record.status not in OPEN:
        return
    if failure is None:
        finish(record)
    else:
        finish(record, error_code=failure.reason, error_message=failure.message)
    uow.add(record)


def event_about(kind: type[E], project: str, registry: Registry, **extra: Any) -> E:
    """An event about the registry as it is now (its id, name and version)."""
    return kind(
        project=project,
        registry_id=registry.id,
        name=registry.name,
        version=registry.version,
        **extra,
    )


def _emit(uow: LifecycleUnit, cause: Envelope, event: RegistryEvent) -> None:
    uow.emit(cause.follow(event, subject=f"/projects/{event.project}/registries/{event.name}"))


def _audit(
    uow: LifecycleUnit, cause: Envelope, registry: Registry, action: str, **details: Any
) -> None:
    uow.audit(
        action,
        actor=cause.actor,
        project_id=registry.project_id,
        target=registry.name,
        command_id=cause.commandid,
        **details,
    )
