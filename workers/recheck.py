"""Periodic re-verification of the details in force.

Credentials that stopped working turn the registry `degraded` (the last good details
stay, build jobs are told `credentials_failing`); a known expiry close ahead turns it
`expiring` (`credentials_expiring`), so owners rotate before builds break. Each
transition is announced once; a recovery returns the registry to `verified`.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import structlog

from events.envelope import Envelope
from events.messages import CredentialsExpiring, CredentialsFailing, RecheckRequested
from store.inbox import first_time
from store.tables import Registry, utcnow
from workers.deps import WorkerDeps
from workers.outbound.errors import OutboundError
from workers.verify import Target, check_registry, load_target

log = structlog.get_logger(__name__)
CONSUMER = "recheck_registry"


def token_expiry(secret: str | None) -> datetime | None:
    """The `exp` claim of a JWT-shaped token (read, not verified: it only sets a reminder)."""
    if not secret or secret.count(".") != 2:
        return None
    try:
        payload = secret.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (ValueError, KeyError, TypeError):
        return None


def recheck_registry(envelope: Envelope, deps: WorkerDeps, attempt: int = 0) -> str | None:
    event = envelope.message()
    assert isinstance(event, RecheckRequested)
    target = load_target(deps, event, CONSUMER, envelope.id)
    if target is None:
        return None
    failure: OutboundError | None = None
    try:
        check_registry(deps.registry_client(target.url, target.credentials))
    except OutboundError as exc:
        deps.retry_if_transient(exc, attempt, deps.verify_attempts, "recheck")
        failure = exc
    return _record(deps, envelope, target, failure)


def _record(
    deps: WorkerDeps, envelope: Envelope, target: Target, failure: OutboundError | None
) -> str | None:
    with deps.uow() as uow:
        session = uow.session
        registry = session.get(
            Registry, target.registry_id, with_for_update=True, populate_existing=True
        )
        if registry is None or registry.active_name is None or registry.version != target.version:
            return None
        if not first_time(session, CONSUMER, envelope.id):
            return None
        before = registry.status
        common = {
            "project": target.project,
            "registry_id": registry.id,
            "name": registry.name,
            "version": registry.version,
        }
        subject = f"/projects/{target.project}/registries/{registry.name}"
        if failure is not None:
            if before != "degraded":
                registry.status, registry.reason, registry.message = (
                    "degraded",
                    failure.reason,
                    str(failure),
                )
                uow.emit(
                    envelope.follow(
                        CredentialsFailing(**common, reason=failure.reason, message=str(failure)),
                        subject=subject,
                    )
                )  # type: ignore[arg-type]
                log.warning(
                    "registry.credentials_failing",
                    registry=registry.name,
                    project=target.project,
                    reason=failure.reason,
                )
        else:
            expiry = registry.expires_at or token_expiry(target.credentials.secret)
            warning = timedelta(seconds=deps.expiry_warning_s)
            if expiry is not None and expiry - utcnow() <= warning:
                if before != "expiring":
                    registry.status, registry.reason = "expiring", "expiring"
                    registry.message = f"the credentials expire at {expiry.isoformat()}"
                    uow.emit(
                        envelope.follow(
                            CredentialsExpiring(**common, expires_at=expiry), subject=subject
                        )
                    )  # type: ignore[arg-type]
                    log.warning(
                        "registry.credentials_expiring",
                        registry=registry.name,
                        project=target.project,
                        expires_at=expiry.isoformat(),
                    )
            elif before in ("degraded", "expiring"):
                registry.status, registry.reason, registry.message = "verified", None, None
            registry.verified_at = utcnow()
        if registry.status != before:
            registry.updated_at = utcnow()
            uow.audit(
                f"registry.{registry.status}",
                actor=None,
                project_id=registry.project_id,
                target=registry.name,
                reason=registry.reason,
            )
        session.add(registry)
        uow.commit()
        return registry.status
