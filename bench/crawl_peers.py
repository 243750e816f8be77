"""The peers a crawl is measured against, each walking the same catalog the same way
(catalog pages, every repository's tag list, one manifest HEAD per tag, `c` requests in
flight): a raw async httpx floor, and python-dxf (requests, on `c` threads).

Run on its own (`python -m bench.crawl_peers floor|dxf URL`) it prints its figures and
its own peak memory, so a benchmark can read a peer's memory from a separate process;
it imports nothing of reglink, so that figure is the peer's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin

import httpx

USER, PASSWORD = "bench", "bench-pw"  # the bench registry's one account
DEFAULT_PAGE_SIZE = 100  # catalog and tag-list page size, for reglink and its peers alike
MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


async def _pages(client: httpx.AsyncClient, url: str, key: str) -> list[str]:
    names: list[str] = []
    next_url: str | None = url
    while next_url:
        response = await client.get(next_url)
        response.raise_for_status()
        names.extend(response.json().get(key) or [])
        link = response.links.get("next", {}).get("url")
        next_url = urljoin(url, link) if link else None
    return names


async def floor_crawl(base: str, concurrency: int = 4) -> int:
    """Tags crawled by the floor: no store, no retries, just the requests."""
    auth = httpx.BasicAuth(USER, PASSWORD)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(auth=auth, limits=limits, timeout=60) as client:
        (await client.get(f"{base}/v2/")).raise_for_status()
        queue: asyncio.Queue[tuple[str, str | None] | None] = asyncio.Queue()
        url = f"{base}/v2/_catalog?n={DEFAULT_PAGE_SIZE}"
        for name in await _pages(client, url, "repositories"):
            queue.put_nowait((name, None))
        tags = 0

        async def work() -> None:
            nonlocal tags
            while (item := await queue.get()) is not None:
                repository, tag = item
                if tag is None:
                    listing = f"{base}/v2/{repository}/tags/list?n={DEFAULT_PAGE_SIZE}"
                    for found in await _pages(client, listing, "tags"):
                        queue.put_nowait((repository, found))
                else:
                    response = await client.head(
                        f"{base}/v2/{repository}/manifests/{tag}",
                        headers={"Accept": MANIFEST_ACCEPT},
                    )
                    response.raise_for_status()
                    tags += 1
                queue.task_done()

        async def stop_when_done() -> None:
            await queue.join()
            for _ in range(concurrency):
                queue.put_nowait(None)

        await asyncio.gather(stop_when_done(), *(work() for _ in range(concurrency)))
        return tags


def dxf_crawl(base: str, concurrency: int = 4) -> int:
    """Tags crawled by python-dxf, its listing and HEAD calls on `concurrency` threads."""
    from dxf import DXF, DXFBase  # the bench extra

    host = base.split("://", 1)[1]

    def auth(dxf: DXFBase, response: object) -> None:
        # dxf refuses Basic over plain http; the bench registry is on loopback
        dxf._insecure = False
        dxf.authenticate(USER, PASSWORD, response=response)

    names = list(DXFBase(host, auth=auth, insecure=True).list_repos(batch_size=DEFAULT_PAGE_SIZE))

    def crawl(name: str) -> int:
        repo = DXF(host, name, auth=auth, insecure=True)
        aliases = repo.list_aliases(batch_size=DEFAULT_PAGE_SIZE)
        for alias in aliases:
            repo.head_manifest_and_response(alias)
        return len(aliases)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return sum(pool.map(crawl, names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("peer", choices=["floor", "dxf"])
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    started = time.perf_counter()
    if args.peer == "floor":
        tags = asyncio.run(floor_crawl(args.url, args.concurrency))
    else:
        tags = dxf_crawl(args.url, args.concurrency)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"tags": tags, "seconds": seconds, "peak_mb": peak_mb}))


if __name__ == "__main__":
    main()
