"""The crawl as a bounded pipeline: catalog pages → tag lists → manifest HEADs → batched
writes, with a fixed number of items in flight at every stage, so a crawl's memory does
not depend on the catalog's size.

One loop on the crawl's own thread feeds a pool of `concurrency` request threads: it
keeps at most `DEFAULT_WINDOW_PER_THREAD * concurrency` requests submitted, prefers the
HEADs of repositories already listed over listing new ones (so few repositories are
open at a time), reads the next catalog page only when it runs out of names (no barrier
at page boundaries: the requests of the previous page keep going), and hands finished
rows to the writer, which writes them in fixed-size batches.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial

from store.catalog import CatalogWriter
from workers.outbound.registry_client import Manifest, RegistryClient

DEFAULT_WINDOW_PER_THREAD = 2  # requests submitted per pool thread, so none idles
DEFAULT_OPEN_PER_THREAD = 2  # repositories listed but not finished, per pool thread


@dataclass
class _Open:
    """A repository whose tags are listed and whose HEADs are under way."""

    name: str
    remaining: int = 0
    tags: int = 0
    todo: deque[str] = field(default_factory=deque)


@dataclass(frozen=True)
class Progress:
    repositories: int
    tags: int
    pages: int


@dataclass
class Stages:
    """The requests a crawl makes, each already wrapped in its retries by `call`."""

    call: Callable[[Callable[[], object]], object]
    list_tags: Callable[[RegistryClient, str], list[str]]
    head: Callable[[RegistryClient, str, str], Manifest | None]


class _Pipeline:
    def __init__(
        self,
        client: RegistryClient,
        pages: Iterator[list[str]],
        writer: CatalogWriter,
        stages: Stages,
        on_page: Callable[[int], None],
        concurrency: int,
    ) -> None:
        self.client, self.pages, self.writer, self.stages = client, pages, writer, stages
        self.on_page = on_page
        self.window = DEFAULT_WINDOW_PER_THREAD * concurrency
        self.max_open = DEFAULT_OPEN_PER_THREAD * concurrency
        self.names: deque[str] = deque()
        self.page_count = 0
        self.exhausted = False
        self.open: dict[str, _Open] = {}
        self.ready: deque[_Open] = deque()  # listed repositories with HEADs left to submit
        self.pending: dict[Future[object], tuple[_Open, str | None]] = {}

    def fill(self, pool: ThreadPoolExecutor) -> None:
        """Submit requests up to the window: HEADs first, then new repositories."""
        while len(self.pending) < self.window:
            if self.ready:
                repo = self.ready[0]
                tag = repo.todo.popleft()
                if not repo.todo:
                    self.ready.popleft()
                head = partial(self.stages.head, self.client, repo.name, tag)
                self.pending[pool.submit(self.stages.call, head)] = (repo, tag)
                continue
            if len(self.open) >= self.max_open:
                return
            name = self._next_name()
            if name is None:
                return
            repo = self.open[name] = _Open(name)
            listing = partial(self.stages.list_tags, self.client, name)
            self.pending[pool.submit(self.stages.call, listing)] = (repo, None)

    def take(self, future: Future[object]) -> None:
        """One finished request; a failed one raises here and ends the crawl."""
        repo, tag = self.pending.pop(future)
        result = future.result()
        if tag is None:
            listed: list[str] = result  # type: ignore[assignment]
            repo.remaining = repo.tags = len(listed)
            repo.todo.extend(listed)
            if listed:
                self.ready.append(repo)
            else:
                self._finish(repo)
            return
        _add(self.writer, repo.name, tag, result)  # type: ignore[arg-type]
        repo.remaining -= 1
        if repo.remaining == 0:
            self._finish(repo)

    def _finish(self, repo: _Open) -> None:
        del self.open[repo.name]
        self.writer.add_repository(repo.name, repo.tags)

    def _next_name(self) -> str | None:
        while not self.names and not self.exhausted:
            page = next(self.pages, None)
            if page is None:
                self.exhausted = True
                break
            self.page_count += 1
            self.on_page(self.page_count)
            self.names.extend(sorted(set(page)))
        return self.names.popleft() if self.names else None


def stream_crawl(
    client: RegistryClient,
    pages: Iterator[list[str]],
    writer: CatalogWriter,
    stages: Stages,
    *,
    concurrency: int,
    on_page: Callable[[int], None],
    check_time: Callable[[], None],
) -> Progress:
    """Crawl every repository `pages` names into `writer`; what was written. The first
    failed request ends the crawl: requests not started are cancelled."""
    pipeline = _Pipeline(client, pages, writer, stages, on_page, concurrency)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="crawl") as pool:
        try:
            while True:
                check_time()
                pipeline.fill(pool)
                if not pipeline.pending:
                    break
                done, _ = wait(pipeline.pending, return_when=FIRST_COMPLETED)
                for future in done:
                    pipeline.take(future)
        except BaseException:
            for future in pipeline.pending:
                future.cancel()
            raise
    # the last, partial batch is written by the transaction that ends the crawl
    return Progress(writer.repositories, writer.tags, pipeline.page_count)


def _add(writer: CatalogWriter, repository: str, tag: str, manifest: Manifest | None) -> None:
    if manifest is None:  # gone between the listing and its HEAD: listed without a digest
        writer.add_tag(repository, tag)
    else:
        writer.add_tag(
            repository, tag, manifest.digest, manifest.media_type, tuple(manifest.platforms)
        )
