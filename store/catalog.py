"""Catalog snapshots: a crawl writes its rows under a new `generation` as it goes, then
switches the registry to it and drops the old one in one transaction, so browsing never
sees half a crawl.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, update
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


DEFAULT_WRITE_BATCH = 1_000  # rows per INSERT batch (and per transaction) while crawling


class CatalogWriter:
    """Rows of one crawl under `generation`, written in fixed-size batches of plain rows
    (executemany, no ORM object per tag), so memory stays flat however large the
    catalog. The registry's progress counts each batch in the same transaction. The last,
    partial batch is written by the transaction that switches to the generation
    (`switch_generation`): a small catalog costs one transaction, not two."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        registry_id: str,
        generation: str,
        batch: int = DEFAULT_WRITE_BATCH,
    ) -> None:
        self._uow, self._registry_id, self.generation = uow, registry_id, generation
        self._batch = batch
        self._tags: list[dict[str, Any]] = []
        self._repositories: list[dict[str, Any]] = []
        self.tags = self.repositories = 0  # handed over so far (written, or in the batch)

    def add_tag(
        self,
        repository: str,
        tag: str,
        digest: str | None = None,
        media_type: str | None = None,
        platforms: tuple[str, ...] = (),
    ) -> None:
        self._tags.append(
            {
                "registry_id": self._registry_id,
                "generation": self.generation,
                "repository": repository,
                "tag": tag,
                "digest": digest,
                "media_type": media_type,
                "platforms": list(platforms),
            }
        )
        self.tags += 1
        self._flush_when_full()

    def add_repository(self, name: str, tag_count: int) -> None:
        """A repository whose tags were all added."""
        self._repositories.append(
            {
                "registry_id": self._registry_id,
                "generation": self.generation,
                "name": name,
                "tag_count": tag_count,
            }
        )
        self.repositories += 1
        self._flush_when_full()

    def _flush_when_full(self) -> None:
        if len(self._tags) + len(self._repositories) >= self._batch:
            self.flush()

    def flush(self) -> None:
        """Write the batch in a transaction of its own, counted as the crawl's progress."""
        tags, repositories = len(self._tags), len(self._repositories)
        if not tags and not repositories:
            return
        with self._uow() as unit:
            self.write_rest(unit.session)
            unit.session.execute(
                update(Registry)
                .where(col(Registry.id) == self._registry_id)
                .values(
                    crawl_seen_repositories=func.coalesce(Registry.crawl_seen_repositories, 0)
                    + repositories,
                    crawl_seen_tags=func.coalesce(Registry.crawl_seen_tags, 0) + tags,
                )
            )
            unit.commit()

    def write_rest(self, session: Session) -> None:
        """Write the rows not written yet in the caller's transaction."""
        tables = (CatalogTag.__table__, CatalogRepository.__table__)  # type: ignore[attr-defined]
        for table, rows in zip(tables, (self._tags, self._repositories), strict=True):
            if rows:
                session.execute(table.insert(), rows)
        self._tags, self._repositories = [], []


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
    uow: UnitOfWorkFactory, cause: Envelope, target: Target, writer: CatalogWriter, consumer: str
) -> CatalogCrawled | None:
    """Browsing shows the writer's generation from now on, its last rows written in the
    same transaction; the event says what changed. The command that asked for the crawl
    succeeds."""
    generation, repositories, tags = writer.generation, writer.repositories, writer.tags
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
        writer.write_rest(session)
        old = registry.catalog_generation
        added_count, added, removed_count, removed = catalog_changes(
            session, registry.id, generation, old
        )
        for table in (CatalogTag, CatalogRepository):
            session.execute(
                delete(table).where(
                    col(table.registry_id) == registry.id, col(table.generation) != generation
                )
            )
        # the registry's fields are set after the statements above, so that they go out as
        # one UPDATE (each statement flushes what the session holds first)
        registry.crawl_seen_repositories, registry.crawl_seen_tags = repositories, tags
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


def catalog_changes(
    session: Session, registry_id: str, new: str, old: str | None
) -> tuple[int, tuple[str, ...], int, tuple[str, ...]]:
    """(added count, added, removed count, removed) between two generations."""
    added_count, added = _difference(session, registry_id, new, old)
    removed_count, removed = _difference(session, registry_id, old, new)
    return added_count, added, removed_count, removed


def _difference(
    session: Session, registry_id: str, generation: str | None, other: str | None
) -> tuple[int, tuple[str, ...]]:
    """Tags (`repo:tag`) of `generation` missing from `other`: counted and named (capped) in
    the database, so a large catalog is not held in memory to compare it. One set
    difference (`EXCEPT`) over the covering index, read once: its cost is linear whatever
    the planner believes about the table (a correlated anti-join on a never-analyzed
    table became a nested loop over n²/2 rows)."""
    if generation is None:
        return 0, ()
    table = CatalogTag.__table__  # type: ignore[attr-defined]

    def pairs(of: str) -> Any:
        return select(table.c.repository, table.c.tag).where(
            table.c.registry_id == registry_id, table.c.generation == of
        )

    missing = pairs(generation).except_(pairs(other or "")).subquery("missing")
    rows = session.execute(
        select(missing.c.repository, missing.c.tag, func.count().over())
        .order_by(missing.c.repository, missing.c.tag)
        .limit(DEFAULT_MAX_CHANGES)
    ).all()
    count = int(rows[0][2]) if rows else 0
    return count, tuple(f"{repo}:{tag}" for repo, tag, _ in rows)


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
