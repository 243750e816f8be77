"""Unfinished work: what is being retried (shown to people), and what is overdue.

The store, not the broker, is the source of truth for unfinished work. Every open state
records since when it waits: a command `queued` (its envelope is kept), a registry being
verified or with a proposal (`work_since`), a crawl asked for (`crawl_since`), a delivery
`pending` (`waiting_since`). When a message is lost (Redis restarted empty, a worker
killed, `reglink up` killed) that work is overdue after `after`, and `redrive` sends it
again. Re-sending is safe: commands are applied once (the record is locked), network
steps record their outcome once (inbox) and only while the lifecycle allows it, a
delivery's lease and status hold it to one send. A pass takes at most `batch` of each
kind, oldest first, and spreads the next deadline out, so a backlog never stampedes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, true
from sqlmodel import col, select

from events.envelope import Envelope, new_id
from events.messages import (
    CrawlRegistry,
    CrawlRequested,
    DeliverWebhooks,
    LinkRegistry,
    RegistryEvent,
    RegistryLinkRequested,
    RegistryUpdateRequested,
    UpdateRegistry,
)
from store import lifecycle
from store.command_records import OPEN
from store.tables import CommandRecord, Delivery, Registry, RegistryUpdate, utcnow
from store.uow import UnitOfWork

DEFAULT_BATCH = 200  # items of each kind one pass re-sends at most
DEFAULT_MAX_RETRY_WAIT = timedelta(minutes=5)  # the longest wait a delivery retry is given
SOURCE = "/reconciler"


@dataclass
class Redriven:
    """What one pass found overdue: commands to publish again (the caller publishes them
    to the commands queue); registry events and deliveries went to the outbox."""

    commands: list[Envelope] = field(default_factory=list)
    registries: int = 0
    deliveries: int = 0

    @property
    def total(self) -> int:
        return len(self.commands) + self.registries + self.deliveries


def note_retry(
    uow: UnitOfWork, registry_id: str, *, step: str, attempt: int, reason: str, at: datetime
) -> None:
    """A network step on the registry failed transiently and comes back at `at`: people
    see it (`show`), and the reconciler waits for it instead of sending it again."""
    registry = uow.session.get(Registry, registry_id)
    if registry is None or registry.active_name is None:
        return
    registry.retry_step, registry.retry_count = step, attempt
    registry.retry_reason, registry.retry_at = reason, at
    uow.add(registry)


def redrive(
    uow: UnitOfWork,
    *,
    after: timedelta,
    now: datetime | None = None,
    everything: bool = False,
    batch: int = DEFAULT_BATCH,
) -> Redriven:
    """Send again what waited longer than `after`. `everything`: all open work, at once
    (the in-process broker of a restarted `reglink up` holds nothing)."""
    now = now or utcnow()
    cutoff = now if everything else now - after
    found = Redriven()
    found.commands = _commands(uow, cutoff, now, batch)
    found.registries = _verifications(uow, cutoff, now, after, batch) + _crawls(
        uow, cutoff, now, after, batch, everything
    )
    found.deliveries = _deliveries(uow, cutoff, now, after, batch)
    return found


def _mark(now: datetime, after: timedelta) -> datetime:
    """The mark a re-sent item gets: it counts as lost again `after` from now, spread out
    by a quarter either way so a large batch does not come back all at once."""
    return now + after * (random.uniform(0.75, 1.25) - 1)


def _commands(uow: UnitOfWork, cutoff: datetime, now: datetime, batch: int) -> list[Envelope]:
    since = _since(CommandRecord.redriven_at, CommandRecord.created_at)
    statement = (
        select(CommandRecord)
        .where(
            CommandRecord.status == "queued",
            col(CommandRecord.envelope).is_not(None),
            since < cutoff,
        )
        .order_by(col(CommandRecord.created_at))
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    envelopes = []
    for record in uow.session.exec(statement):
        envelopes.append(Envelope.model_validate(record.envelope))
        record.redriven_at = now
        uow.add(record)
    return envelopes


def _verifications(
    uow: UnitOfWork, cutoff: datetime, now: datetime, after: timedelta, batch: int
) -> int:
    """A registry being verified, or with a proposal being verified, whose message is lost."""
    statement = (
        select(Registry)
        .where(
            col(Registry.active_name).is_not(None),
            col(Registry.work_since) < cutoff,
            or_(col(Registry.retry_at).is_(None), col(Registry.retry_at) < cutoff),
        )
        .order_by(col(Registry.work_since))
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    count = 0
    for registry in uow.session.exec(statement):
        project = uow.project_name(registry.project_id)
        proposal = (
            uow.session.get(RegistryUpdate, registry.pending_update_id)
            if registry.pending_update_id
            else None
        )
        if registry.status == lifecycle.PENDING:
            cause = _open_command(uow, registry, (LinkRegistry.TYPE, UpdateRegistry.TYPE))
            event: RegistryEvent = lifecycle.event_about(
                RegistryLinkRequested, project, registry, url=registry.url
            )
        elif proposal is not None and proposal.status == "pending":
            cause = uow.session.get(CommandRecord, proposal.command_id or "")
            event = lifecycle.event_about(
                RegistryUpdateRequested, project, registry, update_id=proposal.id
            )
        else:  # nothing to verify any more: the mark outlived its work
            registry.work_since = None
            uow.add(registry)
            continue
        uow.emit(_envelope(event, cause))
        registry.work_since = _mark(now, after)
        registry.retry_at = None
        uow.add(registry)
        count += 1
    return count


def _crawls(
    uow: UnitOfWork,
    cutoff: datetime,
    now: datetime,
    after: timedelta,
    batch: int,
    everything: bool,
) -> int:
    """A crawl asked for and not finished, not running now; or a usable registry that
    was never crawled (its first crawl was lost before it was recorded)."""
    lease_free = (  # after a restart of `reglink up` no crawl runs, whatever the lease says
        true()
        if everything
        else or_(col(Registry.crawl_lease_until).is_(None), col(Registry.crawl_lease_until) < now)
    )
    statement = (
        select(Registry)
        .where(
            col(Registry.active_name).is_not(None),
            col(Registry.status).in_(lifecycle.USABLE),
            lease_free,
            or_(
                col(Registry.crawl_since) < cutoff,
                and_(col(Registry.crawl_since).is_(None), col(Registry.crawled_at).is_(None)),
            ),
            or_(
                col(Registry.retry_at).is_(None),
                col(Registry.retry_at) < cutoff,
            ),
        )
        .order_by(col(Registry.crawl_since))
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    count = 0
    for registry in uow.session.exec(statement):
        project = uow.project_name(registry.project_id)
        cause = _open_command(uow, registry, (CrawlRegistry.TYPE,))
        uow.emit(_envelope(lifecycle.event_about(CrawlRequested, project, registry), cause))
        registry.crawl_since = _mark(now, after)
        registry.crawl_lease_until = None
        uow.add(registry)
        count += 1
    return count


def _deliveries(
    uow: UnitOfWork, cutoff: datetime, now: datetime, after: timedelta, batch: int
) -> int:
    waiting = _since(Delivery.waiting_since, Delivery.created_at)
    statement = (
        select(Delivery)
        .where(
            Delivery.status == "pending",
            or_(
                and_(col(Delivery.attempts) == 0, waiting < cutoff),
                # a retry waits up to DEFAULT_MAX_RETRY_WAIT after its try: no sooner is it lost
                waiting < cutoff - DEFAULT_MAX_RETRY_WAIT,
            ),
        )
        .order_by(col(Delivery.created_at))
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    overdue = list(uow.session.exec(statement))
    for delivery in overdue:
        delivery.waiting_since = _mark(now, after)
        uow.add(delivery)
    for batch_message in DeliverWebhooks.batches([d.id for d in overdue]):  # as the fan-out
        uow.emit(Envelope.wrap(batch_message, source=SOURCE))
    return len(overdue)


def _since(mark: Any, fallback: Any) -> Any:
    """Since when a row waits: its re-send mark, or its creation."""
    return func.coalesce(mark, fallback)


def _open_command(
    uow: UnitOfWork, registry: Registry, types: tuple[str, ...]
) -> CommandRecord | None:
    return next(
        (r for r in uow.open_commands(registry.id) if r.type in types and r.status in OPEN), None
    )


def _envelope(event: RegistryEvent, cause: CommandRecord | None) -> Envelope:
    """The event again, tied to the command waiting for it (so it settles that command)."""
    if cause is None:
        return Envelope.wrap(event, source=SOURCE)
    return Envelope.wrap(
        event,
        id=new_id(),
        command_id=cause.id,
        correlation_id=cause.correlation_id,
        actor=cause.actor,
        source=SOURCE,
    )
