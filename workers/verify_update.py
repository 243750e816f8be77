"""Verifying a proposed update; the lifecycle then puts it in force, or keeps the details
in force as they are and says why."""

from __future__ import annotations

import structlog

from events.envelope import Envelope
from events.messages import RegistryUpdateRequested
from store import lifecycle
from store.lifecycle import Failure
from store.secrets import SecretBox
from store.targets import load_proposal
from store.uow import Clash, UnitOfWorkFactory
from workers.outbound.errors import OutboundError
from workers.outbound.registry_client import ClientFactory, Credentials
from workers.skipped import skipped
from workers.transient import failure_or_retry

log = structlog.get_logger(__name__)
CONSUMER = "verify_update"


def verify_update(
    event: RegistryUpdateRequested,
    cause: Envelope,
    *,
    uow: UnitOfWorkFactory,
    box: SecretBox,
    clients: ClientFactory,
    final: bool,
) -> str | None:
    target = load_proposal(
        uow,
        box,
        registry_id=event.registry_id,
        update_id=event.update_id,
        consumer=CONSUMER,
        message_id=cause.id,
    )
    if isinstance(target, str):
        skipped(uow, cause, target, "verify_update")
        return None
    catalog: str | None = None
    failure: Failure | None = None
    try:
        catalog = clients(
            target.url, Credentials(target.auth, target.username, target.secret), target.ca_pem
        ).check()
    except OutboundError as exc:
        failure = failure_or_retry(exc, final)
    try:
        status = _record(uow, event, cause, catalog, failure)
    except Clash:  # the new name was taken while the update was verified
        status = _record(uow, event, cause, None, Failure("conflict", "the new name is taken"))
    log.info("verify_update.finished", registry=event.name, status=status)
    return status


def _record(
    uow: UnitOfWorkFactory,
    event: RegistryUpdateRequested,
    cause: Envelope,
    catalog: str | None,
    failure: Failure | None,
) -> str | None:
    with uow() as unit:
        registry = unit.lock_registry(event.registry_id)
        proposal = lifecycle.proposal_of(unit, registry, event.update_id) if registry else None
        if registry is None or proposal is None or not unit.first_time(CONSUMER, cause.id):
            return None
        status = lifecycle.update_finished(
            unit,
            registry,
            proposal,
            project=event.project,
            cause=cause,
            catalog=catalog,
            failure=failure,
        )
        unit.commit()
        return status
