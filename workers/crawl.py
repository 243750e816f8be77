"""The catalog crawl: every repository, its tags and their digests, as one snapshot.

Rows are written a catalog page at a time under a new generation (`store.catalog`),
which replaces the old one only when the crawl is complete.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import structlog

from events.envelope import Envelope
from events.messages import CatalogCrawled, RegistryEvent
from store.catalog import (
    RepositorySnapshot,
    TagSnapshot,
    drop_generation,
    record_crawl_error,
    start_crawl,
    switch_generation,
    write_page,
)
from store.secrets import SecretBox
from store.targets import Target, load_target
from store.uow import UnitOfWorkFactory
from workers.metrics import CRAWL_DURATION
from workers.outbound.errors import OutboundError, RateLimited, RepositoryNotFound
from workers.outbound.registry_client import ClientFactory, Credentials, Manifest, RegistryClient
from workers.skipped import skipped
from workers.transient import failure_or_retry

log = structlog.get_logger(__name__)
CONSUMER = "crawl_registry"
DEFAULT_REQUEST_ATTEMPTS = 4  # one request's tries within a crawl (429/5xx/connection)
DEFAULT_CRAWL_ATTEMPTS = 3  # whole-crawl tries before the crawl is recorded as failed
T = TypeVar("T")
Backoff = Callable[[int, float | None], int]  # (try, Retry-After) -> delay in ms


def with_backoff(
    call: Callable[[], T], backoff: Backoff, sleep: Callable[[float], None] = time.sleep
) -> T:
    """One request, retried on transient failures with backoff (Retry-After honoured)."""
    for attempt in range(DEFAULT_REQUEST_ATTEMPTS):
        try:
            return call()
        except OutboundError as exc:
            if not exc.transient or attempt + 1 == DEFAULT_REQUEST_ATTEMPTS:
                raise
            retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
            sleep(backoff(attempt, retry_after) / 1000)
    raise AssertionError("unreachable")


def repository_names(
    client: RegistryClient, target: Target, backoff: Backoff
) -> Iterator[list[str]]:
    """Catalog pages, then the repositories the owner named that the catalog did not list."""
    listed: set[str] = set()
    if target.catalog == "supported":
        # each page's request is retried in place: a generator that raised is finished,
        # so retrying `next()` on it would end the catalog early
        for page in client.catalog_pages(retry=lambda call: with_backoff(call, backoff)):
            listed.update(n for n in page if n in target.repositories)
            yield page
    named = [n for n in target.repositories if n not in listed]
    if named:
        yield named


def snapshot_page(
    client: RegistryClient, names: list[str], pool: ThreadPoolExecutor, backoff: Backoff
) -> list[RepositorySnapshot]:
    """Tags of a page of repositories, then one manifest HEAD per tag, all on one bounded pool."""
    tag_lists = {
        name: pool.submit(with_backoff, lambda n=name: _all_tags(client, n), backoff)
        for name in names
    }
    manifests: dict[str, list[tuple[str, Future[Manifest | None]]]] = {}
    for name, future in tag_lists.items():
        manifests[name] = [
            (tag, pool.submit(with_backoff, lambda n=name, t=tag: _manifest(client, n, t), backoff))
            for tag in future.result()
        ]
    return [
        RepositorySnapshot(name, [_tag(tag, future.result()) for tag, future in entries])
        for name, entries in manifests.items()
    ]


def _tag(tag: str, manifest: Manifest | None) -> TagSnapshot:
    if manifest is None:
        return TagSnapshot(tag)
    return TagSnapshot(tag, manifest.digest, manifest.media_type, tuple(manifest.platforms))


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


def crawl_registry(
    event: RegistryEvent,
    cause: Envelope,
    *,
    uow: UnitOfWorkFactory,
    box: SecretBox,
    clients: ClientFactory,
    final: bool,
    concurrency: int,
    backoff: Backoff,
) -> CatalogCrawled | None:
    """Crawl the details in force (whatever their version: a crawl asked before an update
    crawls the updated registry); a failed crawl keeps the previous snapshot."""
    target = load_target(
        uow,
        box,
        registry_id=event.registry_id,
        version=None,
        consumer=CONSUMER,
        message_id=cause.id,
    )
    if isinstance(target, str):
        skipped(uow, cause, target, "crawl")
        return None
    bound = log.bind(registry=target.name, project=target.project)
    generation = str(uuid.uuid4())
    client = clients(target.url, Credentials(target.auth, target.username, target.secret))
    repositories = tags = 0
    started = time.monotonic()
    start_crawl(uow, target.registry_id)
    try:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="crawl") as pool:
            for names in repository_names(client, target, backoff):
                page = snapshot_page(client, sorted(set(names)), pool, backoff)
                tags += write_page(uow, target.registry_id, generation, page)
                repositories += len(page)
    except OutboundError as exc:
        CRAWL_DURATION.labels(exc.reason).observe(time.monotonic() - started)
        drop_generation(uow, target.registry_id, generation)
        failure = failure_or_retry(exc, final)
        record_crawl_error(uow, cause, target.registry_id, failure)
        bound.warning(
            "crawl.failed", reason=exc.reason, error=str(exc), requests=client.requests_sent
        )
        return None
    crawled = switch_generation(
        uow, cause, target, generation, CONSUMER, repositories=repositories, tags=tags
    )
    CRAWL_DURATION.labels("crawled").observe(time.monotonic() - started)
    bound.info(
        "crawl.finished",
        repositories=repositories,
        tags=tags,
        requests=client.requests_sent,
        seconds=round(time.monotonic() - started, 3),
    )
    return crawled
