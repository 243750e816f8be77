"""Periodic re-verification of the details in force.

Credentials that stopped working turn the registry `degraded` (the last good details
stay, build jobs are told `credentials_failing`); a known expiry close ahead turns it
`expiring` (`credentials_expiring`), so owners rotate before builds break. The
lifecycle announces each change once; a recovery returns the registry to `verified`.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import structlog

from events.envelope import Envelope
from events.messages import RecheckRequested
from store import lifecycle
from store.lifecycle import Failure
from store.secrets import SecretBox
from store.tables import utcnow
from store.targets import load_target
from store.uow import UnitOfWorkFactory
from workers.outbound.errors import OutboundError
from workers.outbound.registry_client import ClientFactory, Credentials
from workers.skipped import skipped
from workers.transient import failure_or_retry

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


def recheck_registry(
    event: RecheckRequested,
    cause: Envelope,
    *,
    uow: UnitOfWorkFactory,
    box: SecretBox,
    clients: ClientFactory,
    final: bool,
    expiry_warning: timedelta,
) -> str | None:
    target = load_target(
        uow,
        box,
        registry_id=event.registry_id,
        version=event.version,
        consumer=CONSUMER,
        message_id=cause.id,
    )
    if isinstance(target, str):
        skipped(uow, cause, target, "recheck")
        return None
    failure: Failure | None = None
    try:
        clients(
            target.url, Credentials(target.auth, target.username, target.secret), target.ca_pem
        ).check()
    except OutboundError as exc:
        failure = failure_or_retry(exc, final)
    expiry = target.expires_at or token_expiry(target.secret)
    soon = expiry is not None and expiry - utcnow() <= expiry_warning
    with uow() as unit:
        registry = unit.lock_current(target.registry_id, target.version)
        if registry is None or not unit.first_time(CONSUMER, cause.id):
            return None
        before = registry.status
        status = lifecycle.rechecked(
            unit,
            registry,
            project=target.project,
            cause=cause,
            failure=failure,
            expiring_at=expiry if soon and failure is None else None,
        )
        unit.commit()
    if status != before:
        log.warning("registry.rechecked", registry=target.name, before=before, status=status)
    return status
