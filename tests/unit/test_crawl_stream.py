"""The streaming crawl's pipeline: every tag reaches the writer, a bounded number of
repositories is open at a time, the next catalog page is read while the previous page's
requests are still under way, and the first failed request ends the crawl."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from workers.crawl_stream import DEFAULT_OPEN_PER_THREAD, Stages, stream_crawl
from workers.outbound.errors import Unreachable
from workers.outbound.registry_client import Manifest

CONCURRENCY = 2


class Writer:
    """Records what the pipeline hands over."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str | None]] = []
        self.counts: dict[str, int] = {}
        self.tags = self.repositories = 0

    def add_tag(self, repository: str, tag: str, digest: str | None = None, *_: Any) -> None:
        self.rows.append((repository, tag, digest))
        self.tags += 1

    def add_repository(self, name: str, tag_count: int) -> None:
        self.counts[name] = tag_count
        self.repositories += 1

    def flush(self) -> None:
        pass


def crawl(
    pages: Iterator[list[str]],
    tags: Callable[[str], list[str]],
    head: Callable[[str, str], Manifest | None] = lambda r, t: Manifest(f"sha256:{r}:{t}", "m"),
) -> tuple[Writer, int]:
    writer = Writer()
    progress = stream_crawl(
        None,  # type: ignore[arg-type]  (the stages below never use the client)
        pages,
        writer,  # type: ignore[arg-type]
        Stages(
            call=lambda request: request(),
            list_tags=lambda _, repository: tags(repository),
            head=lambda _, repository, tag: head(repository, tag),
        ),
        concurrency=CONCURRENCY,
        on_page=lambda _: None,
        check_time=lambda: None,
    )
    return writer, progress.pages


def test_every_tag_and_repository_reaches_the_writer() -> None:
    catalog = {"a": ["1", "2"], "b": [], "c": ["x"], "d": [f"t{i}" for i in range(30)]}
    writer, pages = crawl(iter([["b", "a"], ["c", "d", "c"]]), lambda r: catalog[r])
    assert pages == 2
    assert writer.counts == {name: len(tags) for name, tags in catalog.items()}
    expected = {(r, t, f"sha256:{r}:{t}") for r, tags in catalog.items() for t in tags}
    assert sorted(writer.rows) == sorted(expected)


def test_a_tag_gone_before_its_head_is_listed_without_a_digest() -> None:
    writer, _ = crawl(iter([["a"]]), lambda r: ["1"], head=lambda r, t: None)
    assert writer.rows == [("a", "1", None)]


def test_few_repositories_are_open_however_large_the_catalog() -> None:
    open_now: set[str] = set()
    most = 0
    lock = threading.Lock()

    def tags(repository: str) -> list[str]:
        nonlocal most
        with lock:
            open_now.add(repository)
            most = max(most, len(open_now))
        return ["1", "2", "3"]

    def head(repository: str, tag: str) -> Manifest:
        if tag == "3":
            with lock:
                open_now.discard(repository)
        return Manifest("sha256:x", "m")

    names = [f"r{i}" for i in range(200)]
    writer, _ = crawl(iter([names[:100], names[100:]]), tags, head)
    assert writer.repositories == 200
    assert most <= DEFAULT_OPEN_PER_THREAD * CONCURRENCY


def test_the_next_page_is_read_while_the_last_one_is_still_being_crawled() -> None:
    second_page_read = threading.Event()

    def pages() -> Iterator[list[str]]:
        yield ["slow"]
        second_page_read.set()
        yield ["other"]

    def head(repository: str, tag: str) -> Manifest:
        if repository == "slow":  # finishes only once the next page was asked for
            assert second_page_read.wait(timeout=10), "the crawl waited at the page boundary"
        return Manifest("sha256:x", "m")

    writer, _ = crawl(pages(), lambda r: ["1"], head)
    assert writer.counts == {"slow": 1, "other": 1}


def test_the_first_failed_request_ends_the_crawl() -> None:
    requested: list[str] = []

    def tags(repository: str) -> list[str]:
        requested.append(repository)
        if repository == "r0003":
            raise Unreachable("connection refused")
        return ["1"]

    with pytest.raises(Unreachable):
        crawl(iter([[f"r{i:04d}" for i in range(1000)]]), tags)
    assert len(requested) < 100  # the rest of the catalog was never asked for
