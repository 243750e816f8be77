"""An update of a registry used by N build jobs → N signed webhooks acknowledged:
reglink (`reglink api` + `reglink worker`, PostgreSQL, Redis) beside raw async httpx
POSTs of bodies built and signed the same way (c=4) to the same receiver, in one run.

    .venv/bin/python -m bench.webhooks --jobs 10000
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

import httpx
import psycopg

from bench.links import anonymous_registry
from bench.stack import DEFAULT_POLL_S, Reglink, reglink
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
    with psycopg.connect(stack.database_url, autocommit=False) as conn:
        project, registry = conn.execute(
            "SELECT project_id, id FROM registries WHERE name = 'big'"
        ).fetchone()  # type: ignore[misc]
        ids = [str(uuid.uuid4()) for _ in range(jobs)]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO build_jobs (id, project_id, name, webhook_url, wrapped_key, "
                "secret_ciphertext, created_at) VALUES (%s, %s, %s, %s, %s, %s, now())",
                [
                    (
                        i,
                        project,
                        f"job-{n}",
                        f"{hooks}/hooks/{n}",
                        sealed.wrapped_key,
                        sealed.ciphertext,
                    )
                    for n, i in enumerate(ids)
                ],
            )
            cur.executemany(
                "INSERT INTO job_registries (job_id, registry_id, delivered_version, created_at)"
                " VALUES (%s, %s, 0, now())",
                [(i, registry) for i in ids],
            )
        conn.commit()


def delivered(stack: Reglink) -> int:
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM deliveries WHERE status = 'delivered'").fetchone()
        return int(row[0]) if row else 0


def reglink_fanout(jobs: int, registry_url: str, hooks: str) -> float:
    """Seconds from the update command to every delivery acknowledged."""
    with reglink() as stack:
        linked = stack.cli("link", "bench", "big", registry_url, "--wait")
        assert linked.returncode == 0, linked.stderr
        subscribe(stack, jobs, hooks)
        started = time.perf_counter()
        updated = stack.cli("update", "bench", "big", "--description", "rotated", "--wait")
        assert updated.returncode == 0, updated.stderr
        while delivered(stack) < jobs:
            time.sleep(DEFAULT_POLL_S)
        return time.perf_counter() - started


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
    args = parser.parse_args()
    with anonymous_registry() as registry_url, receiver() as hooks:
        ours = reglink_fanout(args.jobs, registry_url, hooks)
        theirs = asyncio.run(raw_posts(args.jobs, hooks, registry_url))
    print(f"update -> {args.jobs} webhooks acknowledged")
    print(
        f"  reglink {ours:7.2f} s ({args.jobs / ours:7.1f}/s)   raw async POSTs c=4 "
        f"{theirs:6.2f} s ({args.jobs / theirs:7.1f}/s)   "
        f"reglink reaches {100 * theirs / ours:5.1f} % of the floor's throughput"
    )


if __name__ == "__main__":
    main()
