"""The outbox relay: publishes committed outbox rows, then marks them published.

A crash between publish and mark publishes the row again on the next pass; the
message keeps the same ids, and consumers record what they applied
(`store.tables.ProcessedMessage`), so the effect happens once.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import dramatiq
import structlog

from events.broker import publish
from events.envelope import Envelope
from store.errors import DatabaseUnavailable
from store.outbox import claim_published, mark_published, prune_published, unpublished
from store.queues import BROKER_UNAVAILABLE
from store.uow import UnitOfWorkFactory
from workers.wiring import EVENT_ROUTES, Route

log = structlog.get_logger(__name__)

DEFAULT_BATCH = 200  # rows per transaction
DEFAULT_INTERVAL = 0.2  # seconds between polls when the outbox is empty
DEFAULT_KEEP_PUBLISHED = timedelta(hours=1)  # published rows kept this long, then pruned
DEFAULT_PRUNE_EVERY_S = 60.0  # how often an idle relay prunes
DEFAULT_PRUNE_BATCH = 5_000  # rows deleted per pruning transaction


def message_id_for(envelope_id: str, actor_name: str) -> str:
    """One stable dramatiq message id per (event, subscriber)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"reglink:{envelope_id}:{actor_name}"))


def relay_once(
    uow: UnitOfWorkFactory,
    broker: dramatiq.Broker,
    routes: dict[str, tuple[Route, ...]] = EVENT_ROUTES,
    batch: int = DEFAULT_BATCH,
) -> int:
    """Publish one batch; returns how many rows it settled."""
    with uow() as unit:
        rows = unpublished(unit.session, batch)
        for row in rows:
            envelope = Envelope.model_validate(row.envelope)
            _publish(broker, envelope, routes)
            mark_published(unit.session, row)
            log.debug(
                "outbox.published",
                type=row.type,
                event_id=envelope.id,
                command_id=envelope.commandid,
                correlation_id=envelope.correlationid,
            )
        unit.commit()
        return len(rows)


def relay_these(
    uow: UnitOfWorkFactory,
    broker: dramatiq.Broker,
    envelopes: list[Envelope],
    routes: dict[str, tuple[Route, ...]] = EVENT_ROUTES,
) -> int:
    """Publish the rows a handler just committed, without scanning the outbox: one
    statement marks those no relay took yet, they are published, then committed (a
    failed publish leaves them to the relay's next pass). How many it published."""
    with uow() as unit:
        mine = claim_published(unit.session, [e.id for e in envelopes])
        for envelope in envelopes:
            if envelope.id in mine:
                _publish(broker, envelope, routes)
        unit.commit()
        return len(mine)


def _publish(
    broker: dramatiq.Broker, envelope: Envelope, routes: dict[str, tuple[Route, ...]]
) -> None:
    for actor_name, queue_name in routes.get(envelope.type, ()):
        publish(
            broker,
            envelope,
            actor_name=actor_name,
            queue_name=queue_name,
            message_id=message_id_for(envelope.id, actor_name),
        )


def run_relay(
    uow: UnitOfWorkFactory,
    broker: dramatiq.Broker,
    stop: threading.Event,
    interval: float = DEFAULT_INTERVAL,
) -> None:
    """Poll until `stop` is set; a failing pass (broker or database away) is retried. An
    idle relay prunes rows published long ago now and then."""
    pruned_at = time.monotonic()
    while not stop.is_set():
        try:
            settled = relay_once(uow, broker)
            if settled == 0 and time.monotonic() - pruned_at > DEFAULT_PRUNE_EVERY_S:
                pruned_at = time.monotonic()
                prune(uow)
        except (DatabaseUnavailable, *BROKER_UNAVAILABLE) as exc:
            log.warning("outbox.relay_failed", error=type(exc).__name__)
            settled = 0
        if settled < DEFAULT_BATCH:
            stop.wait(interval)


def prune(uow: UnitOfWorkFactory, older_than: timedelta = DEFAULT_KEEP_PUBLISHED) -> int:
    """Delete rows published longer than `older_than` ago, a batch per transaction."""
    total = 0
    while True:
        with uow() as unit:
            deleted = prune_published(unit.session, older_than, DEFAULT_PRUNE_BATCH)
            unit.commit()
        total += deleted
        if deleted < DEFAULT_PRUNE_BATCH:
            return total
