"""The catalog crawl: every repository, its tags and their digests, as one snapshot.

A crawl writes its rows under a new `generation` as it goes (memory stays bounded: one
catalog page at a time), then switches the registry to that generation and drops the
old one in a single transaction, so browsing never sees half a crawl.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import structlog
from sqlalchemy import delete, exists, func
from sqlmodel import Session, col, select

from events.envelope import Envelope
from events.messages import DEFAULT_MAX_CHANGES, CatalogCrawled, RegistryEvent
from store.inbox import first_time
from store.tables import CatalogRepository, CatalogTag, Registry, utcnow
from workers.deps import WorkerDeps
from workers.metrics import CRAWL_DURATION
from workers.outbound.errors import OutboundError, RateLimited, RepositoryNotFound
from workers.outbound.registry_client import Manifest, RegistryClient
from workers.verify import Target, load_target

log = structlog.get_logger(__name__)
CONSUMER = "crawl_registry"
DEFAULT_REQUEST_ATTEMPTS = 4  # one request's tries within a crawl (429/5xx/connection)
DEFAULT_CRAWL_ATTEMPTS = 3  # whole-crawl tries before the crawl is recorded as failed
T = TypeVar("T")


@dataclass(frozen=True)
class RepositorySnapshot:
    name: str
    tags: list[tuple[str, Manifest | None]]


def with_backoff(
    call: Callable[[], T], deps: WorkerDeps, sleep: Callable[[float], None] = time.sleep
) -> T:
    """One request, retried on transient failures with backoff (Retry-After honoured)."""
    for attempt in range(DEFAULT_REQUEST_ATTEMPTS):
        try:
            return call()
        except OutboundError as exc:
            if not exc.transient or attempt + 1 == DEFAULT_REQUEST_ATTEMPTS:
                raise
            retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
            sleep(deps.retry_delay_ms(attempt, retry_after) / 1000)
    raise AssertionError("unreachable")


def repository_names(
    client: RegistryClient, target: Target, deps: WorkerDeps
) -> Iterator[list[str]]:
    """Catalog pages, then the repositories the owner named that the catalog did not list."""
    listed: set[str] = set()
    if target.catalog == "supported":
        # each page's request is retried in place: a generator that raised is finished,
        # so retrying `next()` on it would end the catalog early
        for page in client.catalog_pages(retry=lambda call: with_backoff(call, deps)):
            listed.update(n for n in page if n in target.repositories)
            yield page
    named = [n for n in target.repositories if n not in listed]
    if named:
        yield named


def snapshot_page(
    client: RegistryClient, names: list[str], pool: ThreadPoolExecutor, deps: WorkerDeps
) -> list[RepositorySnapshot]:
    """Tags of a page of repositories, then one manifest HEAD per tag, all on one bounded pool."""
    tag_lists = {
        name: pool.submit(with_backoff, lambda n=name: _all_tags(client, n), deps) for name in names
    }
    manifests: dict[str, list[tuple[str, Future[Manifest | None]]]] = {}
    for name, future in tag_lists.items():
        manifests[name] = [
            (tag, pool.submit(with_backoff, lambda n=name, t=tag: _manifest(client, n, t), deps))
            for tag in future.result()
        ]
    return [
        RepositorySnapshot(name, [(tag, future.result()) for tag, future in entries])
        for name, entries in manifests.items()
    ]


def _all_tags(client: RegistryClient, repository: str) -> list[str]:
    """A named repository that does not exist is browsable as empty, not an error."""
    try:
        return [tag for page in client.tags(repository) for tag in page]
    except RepositoryNotFound:
        return []


def _manifest(client: RegistryClient, repository: str, tag: str) -> Manifest | None:
    try:
        return client.manifest(repository, tag)
    except RepositoryNotFound:  # deleted between the listing and now
        return None


def write_page(
    deps: WorkerDeps, registry_id: str, generation: str, page: Iterable[RepositorySnapshot]
) -> int:
    with deps.uow() as uow:
        tags = 0
        for repo in page:
            uow.session.add(
                CatalogRepository(
                    registry_id=registry_id,
                    generation=generation,
                    name=repo.name,
                    tag_count=len(repo.tags),
                )
            )
            for tag, manifest in repo.tags:
                tags += 1
                uow.session.add(
                    CatalogTag(
                        registry_id=registry_id,
                        generation=generation,
                        repository=repo.name,
                        tag=tag,
                        digest=manifest.digest if manifest else None,
                        media_type=manifest.media_type if manifest else None,
                        platforms=list(manifest.platforms) if manifest else [],
                    )
                )
        uow.commit()
        return tags


def crawl_registry(envelope: Envelope, deps: WorkerDeps, attempt: int = 0) -> CatalogCrawled | None:
    event = envelope.message()
    assert isinstance(event, RegistryEvent)
    target = load_target(deps, event, CONSUMER, envelope.id)
    if target is None:
        return None
    bound = log.bind(
        registry=target.name, project=target.project, correlation_id=envelope.correlationid
    )
    generation = str(uuid.uuid4())
    client = deps.registry_client(target.url, target.credentials)
    repositories = tags = 0
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(
            max_workers=deps.crawl_concurrency, thread_name_prefix="crawl"
        ) as pool:
            for names in repository_names(client, target, deps):
                page = snapshot_page(client, sorted(set(names)), pool, deps)
                tags += write_page(deps, target.registry_id, generation, page)
                repositories += len(page)
    except OutboundError as exc:
        CRAWL_DURATION.labels(exc.reason).observe(time.monotonic() - started)
        _drop_generation(deps, target.registry_id, generation)
        deps.retry_if_transient(exc, attempt, DEFAULT_CRAWL_ATTEMPTS, "crawl")
        _record_crawl_error(deps, target, exc.reason)
        bound.warning("crawl.failed", reason=exc.reason, error=str(exc))
        return None
    crawled = _switch_generation(deps, envelope, target, generation, repositories, tags)
    CRAWL_DURATION.labels("crawled").observe(time.monotonic() - started)
    bound.info(
        "crawl.finished",
        repositories=repositories,
        tags=tags,
        seconds=round(time.monotonic() - started, 3),
    )
    return crawled


def _switch_generation(
    deps: WorkerDeps,
    envelope: Envelope,
    target: Target,
    generation: str,
    repositories: int,
    tags: int,
) -> CatalogCrawled | None:
    with deps.uow() as uow:
        session = uow.session
        registry = session.get(
            Registry, target.registry_id, with_for_update=True, populate_existing=True
        )
        if (
            registry is None
            or registry.active_name is None
            or not first_time(session, CONSUMER, envelope.id)
        ):
            session.rollback()
            _drop_generation(deps, target.registry_id, generation)
            return None
        old = registry.catalog_generation
        added_count, added = _difference(session, registry.id, generation, old)
        removed_count, removed = _difference(session, registry.id, old, generation)
        registry.catalog_generation = generation
        registry.crawled_at = registry.crawl_finished_at = utcnow()
        registry.repository_count, registry.tag_count, registry.crawl_error = (
            repositories,
            tags,
            None,
        )
        session.add(registry)
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
        uow.emit(
            envelope.follow(
                crawled, subject=f"/projects/{target.project}/registries/{registry.name}"
            )
        )
        uow.commit()
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


def _drop_generation(deps: WorkerDeps, registry_id: str, generation: str) -> None:
    with deps.uow() as uow:
        for table in (CatalogTag, CatalogRepository):
            uow.session.execute(
                delete(table).where(
                    col(table.registry_id) == registry_id, col(table.generation) == generation
                )
            )
        uow.commit()


def _record_crawl_error(deps: WorkerDeps, target: Target, reason: str) -> None:
    """The previous snapshot stays browsable; the registry says the last crawl failed."""
    with deps.uow() as uow:
        registry = uow.session.get(Registry, target.registry_id)
        if registry is not None:
            registry.crawl_error = reason
            registry.crawl_finished_at = utcnow()
            uow.session.add(registry)
            uow.commit()
