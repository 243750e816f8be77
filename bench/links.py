"""N anonymous link commands → all verified: reglink (`--mode scaled`: `reglink api` +
`reglink worker`, PostgreSQL, Redis; `--mode up`: `reglink up` on its defaults) beside
two peers in the same run: a dramatiq no-op actor on the same Redis (1 process, 4
threads) handling N messages, and the registry floor: the requests a link makes of the
registry (verification's two, the first crawl's three) sent N times by raw async httpx,
4 links in flight, with nothing stored; that floor is what the registry and an HTTP
client alone cost on this machine.

    .venv/bin/python -m bench.links --links 2000 --mode scaled
    .venv/bin/python -m bench.links --links 2000 --mode up
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import dramatiq
import httpx
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import text

from bench.crawl_peers import MANIFEST_ACCEPT
from bench.stack import DEFAULT_POLL_S, MODES, REDIS_URL, reglink
from tests.support.images import push_image
from tests.support.procfs import cpu_seconds
from tests.support.registry import RunningRegistry, start_registry

DEFAULT_SENDERS = 4  # link requests in flight
LINK_REQUESTS = (  # what verifying and first crawling the bench registry ask of it
    ("GET", "/v2/"),
    ("GET", "/v2/_catalog?n=1"),
    ("GET", "/v2/_catalog?n=100"),
    ("GET", "/v2/app/tags/list?n=100"),
    ("HEAD", "/v2/app/manifests/1"),
)


@contextmanager
def anonymous_registry() -> Iterator[RunningRegistry]:
    """An anonymous registry holding one small image."""
    with tempfile.TemporaryDirectory(prefix="reglink-bench-") as tmp:
        registry = start_registry(Path(tmp))
        try:
            push_image(registry.url, "app", "1")
            yield registry
        finally:
            registry.stop()


def reglink_links(
    count: int, registry: RunningRegistry, mode: str, processes: int
) -> tuple[float, dict[str, float]]:
    """Seconds from the first link command to every registry verified, and the CPU
    seconds each part used meanwhile (`Reglink.cpu_by_part`). The wait reads the store (a
    count), so that polling does not load the API it measures."""
    with reglink(mode=mode, processes=processes) as stack:
        api, token = stack.env["REGLINK_API_URL"], stack.env["REGLINK_TOKEN"]
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{api}/v1/projects/bench/registries"
        query = text("SELECT count(*) FROM registries WHERE status = 'verified'")

        def verified() -> int:
            with stack.engine.connect() as conn:
                return int(conn.execute(query).scalar_one())

        with httpx.Client(headers=headers, timeout=60) as client:

            def link(i: int) -> None:
                body = {"name": f"r{i}", "url": registry.url, "auth": "anonymous"}
                client.post(url, json=body).raise_for_status()

            started, before = time.perf_counter(), stack.cpu_by_part(registry.pid)
            with ThreadPoolExecutor(DEFAULT_SENDERS) as pool:
                list(pool.map(link, range(count)))
            while verified() < count:
                time.sleep(DEFAULT_POLL_S)
            seconds, after = time.perf_counter() - started, stack.cpu_by_part(registry.pid)
            return seconds, {part: after[part] - before[part] for part in after}


def dramatiq_noop(count: int) -> float:
    """Seconds for a dramatiq worker (4 threads) to run `count` no-op messages."""
    broker = RedisBroker(url=REDIS_URL, namespace=f"reglink-bench-noop-{uuid.uuid4().hex[:8]}")
    done = threading.Semaphore(0)

    @dramatiq.actor(broker=broker, queue_name="noop")
    def noop(i: int) -> None:
        done.release()

    started = time.perf_counter()
    for i in range(count):
        noop.send(i)
    worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=100)
    worker.start()
    for _ in range(count):
        done.acquire()
    seconds = time.perf_counter() - started
    worker.stop()
    broker.client.delete(*broker.client.keys(f"{broker.namespace}:*") or ["none"])
    broker.close()
    return seconds


def registry_floor(count: int, registry: RunningRegistry) -> tuple[float, float, float]:
    """Seconds for raw async httpx to send `count` links' registry requests
    (`LINK_REQUESTS`, in order per link, `DEFAULT_SENDERS` links at once), and the CPU
    seconds the client and the registry used."""

    async def run() -> None:
        links = iter(range(count))
        limits = httpx.Limits(max_connections=DEFAULT_SENDERS)
        headers = {"Accept": MANIFEST_ACCEPT}
        async with httpx.AsyncClient(
            base_url=registry.url, headers=headers, limits=limits, timeout=60
        ) as client:

            async def sender() -> None:
                for _ in links:
                    for method, path in LINK_REQUESTS:
                        (await client.request(method, path)).raise_for_status()

            await asyncio.gather(*(sender() for _ in range(DEFAULT_SENDERS)))

    pid = registry.pid
    assert pid is not None, "the registry is running"
    started, client_cpu, registry_cpu = time.perf_counter(), time.process_time(), cpu_seconds(pid)
    asyncio.run(run())
    return (
        time.perf_counter() - started,
        time.process_time() - client_cpu,
        cpu_seconds(pid) - registry_cpu,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--links", type=int, default=2000)
    parser.add_argument("--mode", choices=MODES, default="scaled")
    parser.add_argument("--processes", type=int, default=1, help="worker processes (scaled)")
    args = parser.parse_args()
    with anonymous_registry() as registry:
        ours, cpu = reglink_links(args.links, registry, args.mode, args.processes)
        floor, floor_client, floor_registry = registry_floor(args.links, registry)
    theirs = dramatiq_noop(args.links)
    print(f"{args.links} link commands -> verified ({args.mode})")
    print(
        f"  reglink {ours:7.2f} s ({args.links / ours:7.1f}/s)   dramatiq no-op "
        f"{theirs:6.2f} s ({args.links / theirs:7.1f}/s)   ratio {ours / theirs:6.1f}x"
    )
    print(
        f"  registry floor {floor:6.2f} s ({args.links / floor:7.1f}/s: client "
        f"{1000 * floor_client / args.links:.1f} ms, registry "
        f"{1000 * floor_registry / args.links:.1f} ms CPU per link)   reglink reaches "
        f"{100 * floor / ours:.1f} % of its rate"
    )
    worker = "process" if args.mode == "up" else "workers"
    apart = ("api", "postgres") if args.mode == "scaled" else ()  # `up` runs them in-process
    spent = {
        worker if part == "reglink" else part: v
        for part, v in cpu.items()
        if part in ("reglink", "registry", *apart)
    }
    print(
        f"  (reglink's {worker}: {1000 * cpu['reglink'] / args.links:.1f} ms CPU per link; "
        "each part: "
        + ", ".join(f"{part} {1000 * v / args.links:.1f} ms" for part, v in spent.items())
        + ")"
    )


if __name__ == "__main__":
    main()
