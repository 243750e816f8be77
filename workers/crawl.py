"""The catalog crawl: every repository, its tags and their digests, as one snapshot.

Rows are written a catalog page at a time under a new generation (`store.catalog`),
which replaces the old one only when the crawl is complete.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from events.envelope import Envelope
from events.errors import InvalidInput
from events.messages import CatalogCrawled, RegistryEvent
from events.validation import check_repository, check_tag
from store.catalog import (
    CatalogWriter,
    crawl_lease,
    drop_generation,
    record_crawl_error,
    release_crawl,
    switch_generation,
)
from store.secrets import SecretBox
from store.targets import Target, load_target
from store.uow import UnitOfWorkFactory
from workers.crawl_stream import Stages, stream_crawl
from workers.metrics import CRAWL_DURATION
from workers.outbound.errors import (
    CatalogTooLarge,
    CrawlTooSlow,
    OutboundError,
    RateLimited,
    RepositoryNotFound,
)
from workers.outbound.registry_client import ClientFactory, Credentials, Manifest, RegistryClient
from workers.skipped import skipped
from workers.transient import failure_or_retry

log = structlog.get_logger(__name__)
CONSUMER = "crawl_registry"
DEFAULT_REQUEST_ATTEMPTS = 4  # one request's tries within a crawl (429/5xx/connection)
DEFAULT_CRAWL_ATTEMPTS = 3  # whole-crawl tries before the crawl is recorded as failed
DEFAULT_MAX_INLINE_WAIT_MS = 2_000  # longer waits go back to the broker, freeing the thread
T = TypeVar("T")
Backoff = Callable[[int, float | None], int]  # (try, Retry-After) -> delay in ms


@dataclass(frozen=True)
class CrawlLimits:
    """What one crawl may cost: requests in flight, time, catalog pages."""

    concurrency: int
    backoff: Backoff
    budget_s: float
    max_pages: int


def with_backoff(
    call: Callable[[], T], backoff: Backoff, sleep: Callable[[float], None] = time.sleep
) -> T:
    """One request, retried on transient failures with backoff (Retry-After honoured). A
    wait longer than a short bound is not slept here: the failure ends this try of the
    crawl, and the broker brings the crawl back after the wait, so a rate-limited
    registry never holds a worker thread."""
    for attempt in range(DEFAULT_REQUEST_ATTEMPTS):
        try:
            return call()
        except OutboundError as exc:
            if not exc.transient or attempt + 1 == DEFAULT_REQUEST_ATTEMPTS:
                raise
            retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
            delay = backoff(attempt, retry_after)
            if delay > DEFAULT_MAX_INLINE_WAIT_MS:
                raise
            sleep(delay / 1000)
    raise AssertionError("unreachable")


def repository_names(
    client: RegistryClient, target: Target, backoff: Backoff
) -> Iterator[list[str]]:
    """Catalog pages, then the repositories the owner named that the catalog did not list."""
    listed: set[str] = set()
    if target.catalog == "supported":
        # each page's request is retried in place: a generator that raised is finished,
        # so retrying `next()` on it would end the catalog early
        for listing in client.catalog_pages(retry=lambda call: with_backoff(call, backoff)):
            page = usable(listing, check_repository)
            listed.update(n for n in page if n in target.repositories)
            yield page
    named = [n for n in target.repositories if n not in listed]
    if named:
        yield named


def usable(names: list[str], check: Callable[[str], str]) -> list[str]:
    """The names the distribution spec allows. A registry may answer anything (path
    traversal, control characters, markup, 10 kB names): those are skipped, with the
    reason logged, so they are never requested, stored or shown."""
    kept = []
    for name in names:
        try:
            kept.append(check(name))
        except InvalidInput as exc:
            log.warning("crawl.name_skipped", reason=exc.message)
    return kept


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
    limits: CrawlLimits,
) -> CatalogCrawled | None:
    """Crawl the details in force (whatever their version: a crawl asked before an update
    crawls the updated registry); a failed crawl keeps the previous snapshot. One crawl
    per registry at a time: a crawl asked while one runs joins it."""
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
    with crawl_lease(uow, target.registry_id) as held:
        if not held:
            bound.info("crawl.joined", reason="a crawl of this registry is running")
            return None
        return _crawl(target, cause, uow, clients, final, limits, bound)


def _crawl(
    target: Target,
    cause: Envelope,
    uow: UnitOfWorkFactory,
    clients: ClientFactory,
    final: bool,
    limits: CrawlLimits,
    bound: Any,
) -> CatalogCrawled | None:
    generation = str(uuid.uuid4())
    credentials = Credentials(target.auth, target.username, target.secret)
    client = clients(target.url, credentials, target.ca_pem).crawling()
    writer = CatalogWriter(uow, target.registry_id, generation)
    pages = 0
    started = time.monotonic()

    def on_page(count: int) -> None:
        nonlocal pages
        pages = count
        _within(limits, pages, time.monotonic() - started)

    try:
        streamed = stream_crawl(
            client,
            repository_names(client, target, limits.backoff),
            writer,
            Stages(
                call=lambda request: with_backoff(request, limits.backoff),
                list_tags=lambda c, repository: usable(_all_tags(c, repository), check_tag),
                head=_manifest,
            ),
            concurrency=limits.concurrency,
            on_page=on_page,
            check_time=lambda: _within(limits, pages, time.monotonic() - started),
        )
    except OutboundError as exc:
        CRAWL_DURATION.labels(exc.reason).observe(time.monotonic() - started)
        drop_generation(uow, target.registry_id, generation)
        try:
            failure = failure_or_retry(exc, final)
        except OutboundError:
            release_crawl(uow, target.registry_id)
            raise
        record_crawl_error(uow, cause, target.registry_id, failure)
        bound.warning(
            "crawl.failed",
            reason=exc.reason,
            error=str(exc),
            pages=pages,
            requests=client.requests_sent,
        )
        return None
    repositories, tags = streamed.repositories, streamed.tags
    crawled = switch_generation(uow, cause, target, writer, CONSUMER)
    CRAWL_DURATION.labels("crawled").observe(time.monotonic() - started)
    bound.info(
        "crawl.finished",
        repositories=repositories,
        tags=tags,
        pages=pages,
        requests=client.requests_sent,
        seconds=round(time.monotonic() - started, 3),
    )
    return crawled


def _within(limits: CrawlLimits, pages: int, elapsed: float) -> None:
    """A catalog with no end, or a crawl slower than its budget, ends with a clear reason."""
    if pages > limits.max_pages:
        raise CatalogTooLarge(
            f"the catalog has more than {limits.max_pages} pages "
            "(REGLINK_MAX_CATALOG_PAGES); the previous snapshot stays"
        )
    if elapsed > limits.budget_s:
        raise CrawlTooSlow(
            f"the crawl ran past its budget of {limits.budget_s:.0f} s (REGLINK_CRAWL_BUDGET); "
            "the previous snapshot stays"
        )
