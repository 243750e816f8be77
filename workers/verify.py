"""Verification of a new link: does the URL speak Registry API v2, do the credentials work?

The network step runs outside any transaction; the lifecycle records the outcome with
its event, once per message (inbox), and only if the registry is still the version
that asked.
"""

from __future__ import annotations

import structlog

from events.envelope import Envelope
from events.messages import RegistryLinkRequested
from store import lifecycle
from store.secrets import SecretBox
from store.targets import load_target
from store.uow import UnitOfWorkFactory
from workers.outbound.registry_client import ClientFactory
from workers.skipped import skipped
from workers.transient import probe

log = structlog.get_logger(__name__)
CONSUMER = "verify_registry"


def verify_registry(
    event: RegistryLinkRequested,
    cause: Envelope,
    *,
    uow: UnitOfWorkFactory,
    box: SecretBox,
    clients: ClientFactory,
    final: bool,
) -> str | None:
    """The registry's new status, or None when there was nothing to do."""
    target = load_target(
        uow,
        box,
        registry_id=event.registry_id,
        version=event.version,
        consumer=CONSUMER,
        message_id=cause.id,
    )
    if isinstance(target, str):
        skipped(uow, cause, target, "verify")
        return None
    catalog, failure = probe(clients, target, final)
    with uow() as unit:
        registry = unit.lock_current(target.registry_id, target.version)
        if (
            registry is None
            or not lifecycle.allowed(registry, lifecycle.Step.VERIFY_PASSED)  # sent twice
            or not unit.first_time(CONSUMER, cause.id)
        ):
            return None
        status = lifecycle.verification_finished(
            unit, registry, project=target.project, cause=cause, catalog=catalog, failure=failure
        )
        unit.commit()
    log.info("verify.finished", registry=target.name, status=status, reason=registry.reason)
    return status
