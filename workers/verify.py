"""Verification of a new link: does the URL speak Registry API v2, do the credentials work?

The network step runs outside any transaction; the lifecycle records the outcome with
its event, once per message (inbox), and only if the registry is still the version
that asked.
"""

from __future__ import annotations

import time

import structlog

from events.envelope import Envelope
from events.messages import RegistryLinkRequested
from store import lifecycle
from store.lifecycle import Failure
from store.secrets import SecretBox
from store.targets import load_target
from store.uow import UnitOfWorkFactory
from workers.metrics import VERIFY_DURATION
from workers.outbound.errors import OutboundError
from workers.outbound.registry_client import ClientFactory, Credentials
from workers.skipped import skipped
from workers.transient import failure_or_retry

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
    catalog: str | None = None
    failure: Failure | None = None
    started = time.perf_counter()
    try:
        catalog = clients(
            target.url, Credentials(target.auth, target.username, target.secret), target.ca_pem
        ).check()
        VERIFY_DURATION.labels("verified").observe(time.perf_counter() - started)
    except OutboundError as exc:
        VERIFY_DURATION.labels(exc.reason).observe(time.perf_counter() - started)
        failure = failure_or_retry(exc, final)
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
