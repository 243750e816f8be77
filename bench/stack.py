"""What the benchmarks run against: the real distribution registry with basic auth and
a catalog of any size, and reglink as an operator runs it (`reglink api` + `reglink
worker`) on a throwaway PostgreSQL database and its own Redis namespace."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine

from bench.crawl_peers import DEFAULT_PAGE_SIZE, PASSWORD, USER
from bench.pgbench_db import scratch_database
from events.sealing import generate_private_key
from store.engine import driver_url
from store.secrets import generate_key
from tests.e2e.processes import base_env, cli, cli_json, free_port, process, wait_healthy
from tests.support.images import push_image
from tests.support.procfs import PARENT, cpu_ticks, stat_fields
from tests.support.registry import RunningRegistry, start_registry

REDIS_URL = os.environ.get("REGLINK_BENCH_REDIS", "redis://127.0.0.1:6379/9")
DEFAULT_POLL_S = 0.1  # how often a wait looks at the API


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # the file system's limit of links to one file
        shutil.copyfile(source, target)


def populate(registry: RunningRegistry, repositories: int, tags: int) -> None:
    """`repositories` x `tags` tags of one image, written straight into the registry's
    storage (hard links of the seed's small link files): a big catalog in seconds."""
    push_image(registry.url, "seed", "t0", auth=(USER, PASSWORD))
    root = registry.storage_dir / "docker" / "registry" / "v2" / "repositories"
    seed_tags = root / "seed" / "_manifests" / "tags"
    for i in range(1, tags):
        shutil.copytree(seed_tags / "t0", seed_tags / f"t{i}", copy_function=_link_or_copy)
    for i in range(repositories - 1):
        shutil.copytree(root / "seed", root / f"bulk/r-{i:05d}", copy_function=_link_or_copy)


@contextmanager
def catalog(repositories: int, tags: int) -> Iterator[RunningRegistry]:
    """A basic-auth registry holding `repositories` x `tags` tags."""
    with tempfile.TemporaryDirectory(prefix="reglink-bench-") as tmp:
        registry = start_registry(Path(tmp), auth="htpasswd", htpasswd_users={USER: PASSWORD})
        try:
            populate(registry, repositories, tags)
            yield registry
        finally:
            registry.stop()


@dataclass
class Reglink:
    """A running `reglink api` + `reglink worker`, and the CLI's environment."""

    env: dict[str, str]
    worker: subprocess.Popen[bytes]  # `reglink worker`, or `reglink up`
    database_url: str
    api: subprocess.Popen[bytes] | None = None  # `reglink api` (scaled)

    def cli_json(self, *args: str, stdin: str | None = None) -> Any:
        return cli_json(self.env, *args, stdin=stdin)

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return cli(self.env, *args, stdin=stdin)

    def registry(self, name: str) -> dict[str, Any]:
        """The registry's document; empty while it is not listed yet (being verified)."""
        response = httpx.get(
            f"{self.env['REGLINK_API_URL']}/v1/projects/bench/registries/{name}",
            headers={"Authorization": f"Bearer {self.env['REGLINK_TOKEN']}"},
        )
        if response.status_code == 404:
            return {}
        response.raise_for_status()
        return dict(response.json())

    def wait_crawled(self, name: str, after: str | None, timeout: float = 3600) -> dict[str, Any]:
        """The registry once a crawl finished later than `after` (its last `crawled_at`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = self.registry(name)
            if doc.get("crawled_at") and doc["crawled_at"] != after:
                return doc
            if doc.get("crawl_error"):
                raise RuntimeError(f"crawl failed: {doc['crawl_error']}")
            time.sleep(DEFAULT_POLL_S)
        raise TimeoutError("the crawl did not finish")

    @cached_property
    def engine(self) -> Engine:
        """One engine on reglink's store for the whole run (the waits poll through it)."""
        return create_engine(driver_url(self.database_url))

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the worker process and its children (`--processes`)
        have used so far."""
        return self.cpu_by_part()["reglink"]

    def cpu_by_part(self, registry_pid: int | None = None) -> dict[str, float]:
        """CPU seconds used so far by each part: `reglink` (the worker and its children,
        or the `up` process), `api`, `postgres` (the server's backends on this run's
        database) and `registry` (the process `registry_pid`)."""
        worker, api = str(self.worker.pid), str(self.api.pid) if self.api else None
        database = self.database_url.rsplit("/", 1)[-1]
        parts = dict.fromkeys(("reglink", "api", "postgres", "registry"), 0)
        for stat in Path("/proc").glob("[0-9]*/stat"):
            pid = stat.parent.name
            try:
                fields = stat_fields(stat)
                title = (stat.parent / "cmdline").read_bytes() if fields[PARENT] != worker else b""
            except OSError:  # the process ended meanwhile
                continue
            if pid == worker or fields[PARENT] == worker:
                part = "reglink"
            elif pid == api:
                part = "api"
            elif title.startswith(b"postgres: ") and f" {database} ".encode() in title:
                part = "postgres"
            elif pid == str(registry_pid):
                part = "registry"
            else:
                continue
            parts[part] += cpu_ticks(fields)
        return {part: ticks / os.sysconf("SC_CLK_TCK") for part, ticks in parts.items()}

    def peak_rss_mb(self) -> float:
        """The worker process's peak resident memory (VmHWM) so far."""
        for line in Path(f"/proc/{self.worker.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM")


MODES = ("scaled", "up")  # `reglink api` + `reglink worker` on PostgreSQL and Redis; `reglink up`


@contextmanager
def reglink(
    threads: int = 4, mode: str = "scaled", processes: int = 1, **settings: str
) -> Iterator[Reglink]:
    """reglink on a fresh store; project `bench`. `scaled`: `reglink api` and `reglink
    worker` (`processes` of them) on a throwaway PostgreSQL database and Redis namespace;
    `up`: `reglink up` on its embedded defaults (SQLite, in-process broker)."""
    with ExitStack() as stack:
        data_dir = stack.enter_context(tempfile.TemporaryDirectory())
        port = free_port()
        env = base_env(
            REGLINK_DATA_DIR=data_dir,
            REGLINK_API_URL=f"http://127.0.0.1:{port}",
            REGLINK_INSECURE_HOSTS="127.0.0.1",
            REGLINK_ALLOWED_NETWORKS="127.0.0.1/32",
            REGLINK_LOG_FORMAT="json",
            REGLINK_CATALOG_PAGE_SIZE=str(DEFAULT_PAGE_SIZE),
            REGLINK_SEALING_KEYS=generate_private_key(),
            REGLINK_STORE_KEYS=generate_key(),
            **{f"REGLINK_{k.upper()}": v for k, v in settings.items()},
        )
        logs = Path(data_dir)
        api = None
        if mode == "up":
            database_url = f"sqlite:///{logs / 'reglink.db'}"
            worker = stack.enter_context(process(["up", "--port", str(port)], env, logs / "up.log"))
            wait_healthy(env["REGLINK_API_URL"], worker, logs / "up.log")
        else:
            database_url = stack.enter_context(scratch_database("reglink_bench"))
            env.update(
                REGLINK_DATABASE_URL=database_url,
                REGLINK_REDIS_URL=REDIS_URL,
                REGLINK_REDIS_NAMESPACE=f"reglink-bench-{uuid.uuid4().hex[:8]}",
            )
            api = stack.enter_context(process(["api", "--port", str(port)], env, logs / "api.log"))
            wait_healthy(env["REGLINK_API_URL"], api, logs / "api.log")
            command = ["worker", "--threads", str(threads), "--processes", str(processes)]
            worker = stack.enter_context(process(command, env, logs / "worker.log"))
        env["REGLINK_TOKEN"] = cli_json(env, "admin", "create-project", "bench", "--owner", "b")[
            "token"
        ]
        running = Reglink(env, worker, database_url, api)
        try:
            yield running
        finally:
            if "engine" in running.__dict__:
                running.engine.dispose()


def link(stack: Reglink, name: str, registry: RunningRegistry) -> None:
    """Link `registry` with basic auth; returns once it is verified (its crawl runs on)."""
    linked = stack.cli(
        "link",
        "bench",
        name,
        registry.url,
        "--auth",
        "basic",
        "--username",
        USER,
        "--password-stdin",
        "--wait",
        stdin=PASSWORD,
    )
    if linked.returncode != 0:
        raise RuntimeError(linked.stderr)
