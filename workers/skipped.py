"""A network step that found nothing to do: already applied, or the registry moved on."""

from __future__ import annotations

import structlog

from events.envelope import Envelope
from store import lifecycle
from store.targets import STALE
from store.uow import UnitOfWorkFactory

log = structlog.get_logger(__name__)


def skipped(uow: UnitOfWorkFactory, cause: Envelope, why: str, step: str) -> None:
    """A duplicate changes nothing. A stale request ends its command, if it still waits:
    its effect can no longer happen."""
    log.info(f"{step}.skipped", why=why)
    if why == STALE:
        with uow() as unit:
            lifecycle.abandon(unit, cause, "the registry changed before this could finish")
            unit.commit()
