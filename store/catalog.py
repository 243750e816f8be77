"""Catalog snapshots: a crawl writes its rows under a new `generation` as it goes, then
switches the registry to it and drops the old one in one transaction, so browsing never
sees half a crawl.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete, exists, func, update
from sqlmodel import Session, col, select

from events.envelope import Envelope
from events.messages import DEFAULT_MAX_CHANGES, CatalogCrawled, CrawlRegistry
from store import lifecycle
from store.errors import DatabaseUnavailable
from store.lifecycle import Failure
from store.tables import CatalogRepository, CatalogTag, Registry, utcnow
from store.targets import Target
from store.uow import UnitOfWork, UnitOfWorkFactory

DEFAULT_SHOWN_CHANGES = 100  # added and removed `repo:tag` kept on the registry, each
CRAWL_STEP = "crawl_registry"  # the retry step a crawl records (its actor's name)


@dataclass(frozen=True)
class TagSnapshot:
    tag: str
    digest: str | None = None
    media_type: str | None = None
    platforms: tuple[str, ...] = ()


@dataclass(frozen=True)
class RepositorySnapshot:
    name: str
    tags: list[TagSnapshot] = field(default_factory=list)


def write_page(
    uow: UnitOfWorkFactory, registry_id: str, generation: str, page: Iterable[RepositorySnapshot]
) -> int:
    """Rows of one page of repositories under `generation`; how many tags they hold. The
    registry's progress counts them in the same transaction."""
    with uow() as unit:
        tags = repositories = 0
        for repo in page:
            repositories += 1
            unit.add(
                CatalogRepository(
                    registry_id=registry_id,
                    generation=generation,
                    name=repo.name,
                    tag_count=len(repo.tags),
                )
            )
            for tag in repo.tags:
                tags += 1
                unit.add(
                    CatalogTag(
                        registry_id=registry_id,
                        generation=generation,
                        repository=repo.name,
                        tag=tag.tag,
                        digest=tag.digest,
                        media_type=tag.media_type,
                        platforms=list(tag.platforms),
                    )
                )
        unit.session.execute(
            update(Registry)
            .where(col(Registry.id) == registry_id)
            .values(
                crawl_seen_repositories=func.coalesce(Registry.crawl_seen_repositories, 0)
                + repositories,
                crawl_seen_tags=func.coalesce(Registry.crawl_seen_tags, 0) + tags,
            )
        )
        unit.commit()
        return tags


DEFAULT_LEASE_S = 30.0  # a crawl's lease; renewed while it runs, so a killed one's lapses soon


@contextmanager
def crawl_lease(uow: UnitOfWorkFactory, registry_id: str) -> Iterator[bool]:
    """Hold the registry's crawl lease while the block runs (True), or find it held by a
    running crawl (False). One crawl per registry at a time: a hanging registry costs one
    crawl thread, not all. The lease is renewed every third of its length, so a crawl
    whose worker was killed frees the registry within DEFAULT_LEASE_S."""
    if not _claim(uow, registry_id):
        yield False
        return
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew, args=(uow, registry_id, stop), name="crawl-lease", daemon=True
    )
    renewer.start()
    try:
        yield True
    finally:
        stop.set()
        renewer.join()


def _claim(uow: UnitOfWorkFactory, registry_id: str) -> bool:
    with uow() as unit:
        registry = unit.lock_registry(registry_id)
        now = utcnow()
        if registry is None or (
            registry.crawl_lease_until is not None and registry.crawl_lease_until > now
        ):
            return False
        registry.crawl_lease_until = now + timedelta(seconds=DEFAULT_LEASE_S)
        registry.crawl_started_at = now  # shown `crawling`, with nothing seen yet
        registry.crawl_seen_repositories = registry.crawl_seen_tags = 0
        unit.add(registry)
        unit.commit()
        return True


def _renew(uow: UnitOfWorkFactory, registry_id: str, stop: threading.Event) -> None:
    while not stop.wait(DEFAULT_LEASE_S / 3):
        try:
            with uow() as unit:
                registry = unit.lock_registry(registry_id)
                if registry is None or registry.crawl_lease_until is None:
                    return  # the crawl ended (or the registry went) meanwhile
                registry.crawl_lease_until = utcnow() + timedelta(seconds=DEFAULT_LEASE_S)
                unit.add(registry)
                unit.commit()
        except DatabaseUnavailable:
            continue  # the next renewal tries again; the lease outlives one miss


def release_crawl(uow: UnitOfWorkFactory, registry_id: str) -> None:
    """This try of the crawl ended without an outcome (it comes back later)."""
    with uow() as unit:
        registry = unit.lock_registry(registry_id)
        if registry is not None:
            registry.crawl_lease_until = None
            unit.add(registry)
            unit.commit()


def _crawl_ended(
    unit: UnitOfWork, registry: Registry, cause: Envelope, failure: Failure | None
) -> None:
    """The crawl has its outcome: the work is done, the lease free, and every crawl
    command waiting on this registry (those that joined this crawl too) is settled."""
    registry.crawl_since = registry.crawl_lease_until = None
    if registry.retry_step == CRAWL_STEP:
        lifecycle.clear_retry(registry)
    unit.add(registry)
    lifecycle.settle(unit, cause, failure)
    for record in unit.open_commands(registry.id):
        if record.type == CrawlRegistry.TYPE:
            lifecycle.settle_record(unit, record, failure)


def switch_generation(
    uow: UnitOfWorkFactory,
    cause: Envelope,
    target: Target,
    generation: str,
    consumer: str,
    *,
    repositories: int,
    tags: int,
) -> CatalogCrawled | None:
    """Browsing shows `generation` from now on; the event says what changed. The command
    that asked for the crawl succeeds."""
    with uow() as unit:
        session = unit.session
        registry = unit.lock_registry(target.registry_id)
        if (
            registry is None
            or registry.active_name is None
            or not unit.first_time(consumer, cause.id)
        ):
            session.rollback()
            drop_generation(uow, target.registry_id, generation)
            return None
        old = registry.catalog_generation
        added_count, added = _difference(session, registry.id, generation, old)
        removed_count, removed = _difference(session, registry.id, old, generation)
        registry.catalog_generation = generation
        registry.crawled_at = registry.crawl_finished_at = utcnow()
        registry.repository_count, registry.tag_count = repositories, tags
        registry.last_changes = (
            None  # a first crawl changed nothing: there was nothing before it
            if old is None
            else {
                "added_count": added_count,
                "removed_count": removed_count,
                "added": list(added[:DEFAULT_SHOWN_CHANGES]),
                "removed": list(removed[:DEFAULT_SHOWN_CHANGES]),
            }
        )
        registry.crawl_error = None
        unit.add(registry)
        for table in (CatalogTag, CatalogRepository):
            session.execute(
                delete(table).where(
                    col(table.registry_id) == registry.id, col(table.generation) != generation
                )
            )
        crawled = CatalogCrawled(
            project=target.project,
            registry_id=registry.id,
            name=registry.name,
            version=registry.version,
            repositories=repositories,
            tags=tags,
            added_count=added_count,
            removed_count=removed_count,
            added=added,
            removed=removed,
        )
        unit.emit(
            cause.follow(crawled, subject=f"/projects/{target.project}/registries/{registry.name}")
        )
        _crawl_ended(unit, registry, cause, None)
        unit.commit()
        return crawled


def _difference(
    session: Session, registry_id: str, generation: str | None, other: str | None
) -> tuple[int, tuple[str, ...]]:
    """Tags (`repo:tag`) of `generation` missing from `other`: counted and named (capped) in
    the database, so a large catalog is not held in memory to compare it."""
    if generation is None:
        return 0, ()
    table = CatalogTag.__table__  # type: ignore[attr-defined]
    mine, theirs = table.alias("mine"), table.alias("theirs")
    missing = ~exists().where(
        theirs.c.registry_id == registry_id,
        theirs.c.generation == (other or ""),
        theirs.c.repository == mine.c.repository,
        theirs.c.tag == mine.c.tag,
    )
    where = (mine.c.registry_id == registry_id, mine.c.generation == generation, missing)
    count = session.execute(select(func.count()).select_from(mine).where(*where)).scalar_one()
    names = session.execute(
        select(mine.c.repository, mine.c.tag)
        .where(*where)
        .order_by(mine.c.repository, mine.c.tag)
        .limit(DEFAULT_MAX_CHANGES)
    )
    return int(count), tuple(f"{repo}:{tag}" for repo, tag in names)


def drop_generation(uow: UnitOfWorkFactory, registry_id: str, generation: str) -> None:
    with uow() as unit:
        for table in (CatalogTag, CatalogRepository):
            unit.session.execute(
                delete(table).where(
                    col(table.registry_id) == registry_id, col(table.generation) == generation
                )
            )
        unit.commit()


def record_crawl_error(
    uow: UnitOfWorkFactory, cause: Envelope, registry_id: str, failure: Failure
) -> None:
    """The previous snapshot stays browsable; the registry says the last crawl failed, and
    the command that asked for the crawl fails with the reason."""
    with uow() as unit:
        registry = unit.lock_registry(registry_id)
        if registry is not None:
            registry.crawl_error = failure.reason
            registry.crawl_finished_at = utcnow()
            _crawl_ended(unit, registry, cause, failure)
        else:
            lifecycle.settle(unit, cause, failure)
        unit.commit()
