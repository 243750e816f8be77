"""An update of a registry used by N build jobs → N signed webhooks acknowledged:
reglink (`--mode scaled`: `reglink api` + `reglink worker`, PostgreSQL, Redis; `--mode
up`: `reglink up` on its defaults, SQLite and the in-process broker) beside raw async
httpx POSTs of bodies built and signed the same way (c=4) to the same receiver, in one
run.

    .venv/bin/python -m bench.webhooks --jobs 10000 --mode scaled
    .venv/bin/python -m bench.webhooks --jobs 10000 --mode up
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
from sqlalchemy import text

from bench.links import anonymous_registry
from bench.stack import DEFAULT_POLL_S, MODES, Reglink, reglink
from events import webhooks
from events.deliveries import cloud_event
from store.secrets import SecretBox
from tests.e2e.processes import free_port
from tests.polling import wait_until

DEFAULT_CONCURRENCY = 4  # the floor's POSTs in flight
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # one signing secret for every job


@contextmanager
def receiver() -> Iterator[str]:
    """The receiver's base URL, its process running."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.receiver", str(port)])
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.post(url, content=b"{}").status_code == 204
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=30, what="the receiver listens")
        yield url
    finally:
        proc.terminate()
        proc.wait()


def subscribe(stack: Reglink, jobs: int, hooks: str) -> None:
    """`jobs` build jobs of project `bench` using registry `big`, written straight into
    the store (the API would take minutes to add them one by one)."""
    sealed = SecretBox([stack.env["REGLINK_STORE_KEYS"]]).encrypt(SECRET)
    with stack.engine.begin() as conn:
        project, registry = conn.execute(
            text("SELECT project_id, id FROM registries WHERE name = 'big'")
        ).one()
        ids = [str(uuid.uuid4()) for _ in range(jobs)]
        now = datetime.now(UTC)
        conn.execute(
            text(
                "INSERT INTO build_jobs (id, project_id, name, webhook_url, wrapped_key, "
                "secret_ciphertext, created_at) VALUES (:i, :p, :n, :u, :w, :c, :t)"
            ),
            [
                {
                    "i": i,
                    "p": project,
                    "n": f"job-{n}",
                    "u": f"{hooks}/hooks/{n}",
                    "w": sealed.wrapped_key,
                    "c": sealed.ciphertext,
                    "t": now,
                }
                for n, i in enumerate(ids)
            ],
        )
        conn.execute(
            text(
                "INSERT INTO job_registries (job_id, registry_id, delivered_version, created_at)"
                " VALUES (:j, :r, 0, :t)"
            ),
            [{"j": i, "r": registry, "t": now} for i in ids],
        )


def delivered(stack: Reglink) -> int:
    with stack.engine.connect() as conn:
        query = "SELECT count(*) FROM deliveries WHERE status = 'delivered'"
        return int(conn.execute(text(query)).scalar_one())


def span(stack: Reglink) -> float:
    """Seconds from the first delivery row written to the last one acknowledged."""
    with stack.engine.connect() as conn:
        query = "SELECT min(created_at), max(delivered_at) FROM deliveries"
        first, last = conn.execute(text(query)).one()
    if isinstance(first, str):  # SQLite
        first, last = datetime.fromisoformat(first), datetime.fromisoformat(last)
    return float((last - first).total_seconds())


def reglink_fanout(
    jobs: int, registry_url: str, hooks: str, mode: str, processes: int = 1
) -> tuple[float, float, float, float]:
    """Seconds from the update command to every delivery acknowledged; of which until the
    update was in force (`update --wait` returned), and from the first delivery row
    written to the last acknowledged; and the worker's CPU seconds meanwhile."""
    with reglink(mode=mode, processes=processes) as stack:
        linked = stack.cli("link", "bench", "big", registry_url, "--wait")
        assert linked.returncode == 0, linked.stderr
        subscribe(stack, jobs, hooks)
        started, cpu = time.perf_counter(), stack.cpu_seconds()
        updated = stack.cli("update", "bench", "big", "--description", "rotated", "--wait")
        assert updated.returncode == 0, updated.stderr
        in_force = time.perf_counter() - started
        while delivered(stack) < jobs:
            time.sleep(DEFAULT_POLL_S)
        seconds, cpu = time.perf_counter() - started, stack.cpu_seconds() - cpu
        return seconds, in_force, span(stack), cpu


async def raw_posts(jobs: int, hooks: str, registry_url: str) -> float:
    """Seconds for plain async POSTs of signed CloudEvent bodies, `DEFAULT_CONCURRENCY`
    in flight, each body built and signed like a delivery."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(jobs):
        queue.put_nowait(n)
    limits = httpx.Limits(max_connections=DEFAULT_CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def work() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                delivery = str(uuid.uuid4())
                event = cloud_event(
                    delivery,
                    "updated",
                    project="bench",
                    registry="big",
                    url=registry_url,
                    version=2,
                    sequence=1,
                    extra={"config": {"auths": {}}},
                )
                body = json.dumps(event).encode()
                headers = webhooks.headers(SECRET, delivery, body)
                response = await client.post(f"{hooks}/hooks/{n}", content=body, headers=headers)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(work() for _ in range(DEFAULT_CONCURRENCY)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--mode", choices=MODES, default="scaled")
    parser.add_argument("--processes", type=int, default=1, help="worker processes (scaled)")
    args = parser.parse_args()
    with anonymous_registry() as registry, receiver() as hooks:
        registry_url = registry.url
        ours, in_force, sending, cpu = reglink_fanout(
            args.jobs, registry_url, hooks, args.mode, args.processes
        )
        theirs = asyncio.run(raw_posts(args.jobs, hooks, registry_url))
    scale = f", {args.processes} worker processes" if args.mode == "scaled" else ""
    print(f"update -> {args.jobs} webhooks acknowledged ({args.mode}{scale})")
    print(
        f"  reglink {ours:7.2f} s ({args.jobs / ours:7.1f}/s)   raw async POSTs c=4 "
        f"{theirs:6.2f} s ({args.jobs / theirs:7.1f}/s)   "
        f"reglink reaches {100 * theirs / ours:5.1f} % of the floor's throughput"
    )
    print(
        f"  (reglink: update in force after {in_force:.2f} s; "
        f"first delivery row written to last acknowledged {sending:.2f} s; "
        f"worker CPU {1000 * cpu / args.jobs:.2f} ms per webhook)"
    )


if __name__ == "__main__":
    main()
