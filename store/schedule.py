"""What is due: registries to re-verify and to re-crawl, claimed so that several
schedulers (or a restarted one) do not ask twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlmodel import col, select

from events.envelope import Envelope
from events.messages import CrawlRequested, RecheckRequested
from store.lifecycle import USABLE
from store.tables import Project, Registry, utcnow
from store.uow import UnitOfWork

DEFAULT_BATCH = 500  # registries claimed per pass and kind


def claim_due(
    uow: UnitOfWork, recheck: timedelta, recrawl: timedelta, now: datetime | None = None
) -> tuple[int, int]:
    """Emit RecheckRequested / CrawlRequested for due registries; (rechecks, crawls)."""
    now = now or utcnow()
    session = uow.session
    due_check = (
        select(Registry)
        .where(
            col(Registry.status).in_(USABLE),
            col(Registry.active_name).is_not(None),
            col(Registry.pending_update_id).is_(None),
            or_(col(Registry.checked_at).is_(None), col(Registry.checked_at) < now - recheck),
            or_(col(Registry.verified_at).is_(None), col(Registry.verified_at) < now - recheck),
        )
        .limit(DEFAULT_BATCH)
        .with_for_update(skip_locked=True)
    )
    rechecks = 0
    for registry in session.exec(due_check):
        registry.checked_at = now
        session.add(registry)
        _emit(uow, registry, RecheckRequested)
        rechecks += 1
    due_crawl = (
        select(Registry)
        .where(
            col(Registry.status).in_(USABLE),
            col(Registry.active_name).is_not(None),
            col(Registry.crawled_at) < now - recrawl,  # never crawled: `store.unfinished`
            or_(
                col(Registry.crawl_requested_at).is_(None),
                col(Registry.crawl_requested_at) < now - recrawl,
            ),
        )
        .limit(DEFAULT_BATCH)
        .with_for_update(skip_locked=True)
    )
    crawls = 0
    for registry in session.exec(due_crawl):
        registry.crawl_requested_at = registry.crawl_since = now
        session.add(registry)
        _emit(uow, registry, CrawlRequested)
        crawls += 1
    return rechecks, crawls


def _emit(
    uow: UnitOfWork, registry: Registry, kind: type[RecheckRequested] | type[CrawlRequested]
) -> None:
    project = uow.session.get(Project, registry.project_id)
    assert project is not None
    event = kind(
        project=project.name, registry_id=registry.id, name=registry.name, version=registry.version
    )
    uow.emit(
        Envelope.wrap(
            event,
            source="/scheduler",
            subject=f"/projects/{project.name}/registries/{registry.name}",
        )
    )
