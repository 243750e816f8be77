"""A burst of mixed commands while workers are killed with SIGKILL at random moments
and Redis (keeping nothing on disk) is killed and restarted empty: every accepted
command reaches its end, every registry that should be crawled is crawled, every
delivery is delivered or dead, and nothing is applied twice. The figures the last run
held are in tests/reliability/README.md."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from events.sealing import generate_private_key
from store import lifecycle
from store.engine import make_engine
from store.secrets import generate_key
from store.tables import AuditEntry, CommandRecord, Delivery, Registry
from store.uow import uow_factory
from tests.e2e.processes import base_env, cli_json, free_port, process, wait_healthy
from tests.polling import wait_until
from tests.reliability.chaos import Crew, EphemeralRedis
from tests.support.images import push_image
from tests.support.registry import RunningRegistry
from tests.support.webhook_receiver import WebhookReceiver

DEFAULT_COMMANDS = 510  # accepted commands in the burst
DEFAULT_LINKS = 150  # of which links; the rest update, crawl, use and unlink them
DEFAULT_KILL_EVERY = 2.0  # seconds between worker SIGKILLs (a worker takes ~1 s to start)
DEFAULT_MIN_KILLS = 20
DEFAULT_RECOVERY = 240.0  # seconds everything may take to end after the burst
REDRIVE_AFTER = 5  # REGLINK_REDRIVE_AFTER in this scenario
EFFECTS = ("registry.link_requested", "registry.update_requested", "registry.unlinked")


@pytest.mark.timeout(600)
def test_a_burst_survives_killed_workers_and_a_redis_that_restarts_empty(
    tmp_path: Path, postgres_url: str, anon_registry: RunningRegistry
) -> None:
    push_image(anon_registry.url, "team/app", "1")
    rng = random.Random(9)
    port = free_port()
    with EphemeralRedis(tmp_path / "redis") as broker_redis, WebhookReceiver() as hooks:
        env = base_env(
            REGLINK_DATA_DIR=str(tmp_path / "data"),
            REGLINK_DATABASE_URL=postgres_url,
            REGLINK_REDIS_URL=broker_redis.url,
            REGLINK_API_URL=f"http://127.0.0.1:{port}",
            REGLINK_INSECURE_HOSTS="127.0.0.1",
            REGLINK_ALLOWED_NETWORKS="127.0.0.1/32",
            REGLINK_RETRY_BACKOFF_MS="50",
            REGLINK_SEALING_KEYS=generate_private_key(),
            REGLINK_STORE_KEYS=generate_key(),
            REGLINK_LOG_FORMAT="json",
            REGLINK_LOG_LEVEL="WARNING",
            REGLINK_SCHEDULER_TICK="1",
            REGLINK_REDRIVE_AFTER=str(REDRIVE_AFTER),
            REGLINK_BROKER_HEARTBEAT_TIMEOUT="5",
            REGLINK_BROKER_MAINTENANCE_CHANCE="100000",
        )
        token = cli_json(env, "admin", "create-project", "demo", "--owner", "alice")["token"]
        crew = Crew(env, tmp_path, size=3)
        with (
            process(["api", "--port", str(port)], env, tmp_path / "api.log") as api,
            process(["scheduler"], env, tmp_path / "scheduler.log"),
        ):
            wait_healthy(env["REGLINK_API_URL"], api, tmp_path / "api.log")
            crew.start()
            client = httpx.Client(
                base_url=env["REGLINK_API_URL"],
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            job = client.post(
                "/v1/projects/demo/jobs", json={"name": "build", "webhook": hooks.url("build")}
            )
            assert job.status_code == 201, job.text
            hooks.add_job("build", job.json()["secret"])
            burst = Burst(client, anon_registry.url, rng)
            stop = threading.Event()
            chaos = threading.Thread(target=_chaos, args=(crew, broker_redis, burst, stop, rng))
            chaos.start()
            started = time.monotonic()
            try:
                burst.run(DEFAULT_COMMANDS, DEFAULT_LINKS)
                print(f"\nburst sent in {time.monotonic() - started:.1f} s")
            finally:
                stop.set()
                chaos.join()
            ended = time.monotonic()
            try:
                figures = _settled(postgres_url, burst.accepted, ended)
            finally:
                crew.stop()
    assert crew.kills >= DEFAULT_MIN_KILLS and burst.redis_restarts == 1
    print(f"\nburst figures: {figures} kills={crew.kills} refused={dict(burst.refused)}")


class Burst:
    """Mixed commands through the HTTP API, as fast as it takes them; a refusal (409 while
    a registry is still being verified, 503 while Redis is down) is counted, not accepted."""

    def __init__(self, client: httpx.Client, url: str, rng: random.Random) -> None:
        self.client, self.url, self.rng = client, url, rng
        self.accepted: dict[str, str] = {}
        self.refused: Counter[int] = Counter()
        self.linked: list[str] = []
        self.unlinked: set[str] = set()
        self.used: set[str] = set()
        self.redis_restarts = 0

    def run(self, commands: int, links: int) -> None:
        while len(self.accepted) < commands:
            if len(self.linked) < links:
                name = f"r{len(self.linked)}"
                if self._send(
                    "link",
                    "POST",
                    "/v1/projects/demo/registries",
                    json={"name": name, "url": self.url},
                ):
                    self.linked.append(name)
                continue
            name = self.rng.choice([n for n in self.linked if n not in self.unlinked])
            kind = self.rng.choices(["update", "crawl", "use", "unlink"], [5, 3, 1, 1])[0]
            path = f"/v1/projects/demo/registries/{name}"
            if kind == "update":
                self._send(kind, "PATCH", path, json={"description": f"d{len(self.accepted)}"})
            elif kind == "crawl":
                self._send(kind, "POST", f"{path}/crawl")
            elif kind == "use" and name not in self.used:
                response = self.client.put(f"/v1/projects/demo/jobs/build/registries/{name}")
                if response.status_code == 200:
                    self.used.add(name)
            elif kind == "unlink" and self._send(kind, "DELETE", path, params={"force": "true"}):
                self.unlinked.add(name)

    def _send(self, kind: str, method: str, path: str, **kwargs: Any) -> bool:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError:
            self.refused[0] += 1
            return False
        if response.status_code != 202:
            self.refused[response.status_code] += 1
            return False
        self.accepted[response.json()["command_id"]] = kind
        return True


def _chaos(
    crew: Crew,
    broker_redis: EphemeralRedis,
    burst: Burst,
    stop: threading.Event,
    rng: random.Random,
) -> None:
    """Kill a worker every DEFAULT_KILL_EVERY s, on until the burst is sent and at least
    DEFAULT_MIN_KILLS were killed; a third of the way in, kill Redis too, and bring it
    back empty three seconds later."""
    while not stop.wait(DEFAULT_KILL_EVERY) or crew.kills < DEFAULT_MIN_KILLS:
        crew.kill_one(rng)
        if burst.redis_restarts == 0 and len(burst.accepted) > DEFAULT_COMMANDS // 3:
            broker_redis.kill()
            stop.wait(3)
            broker_redis.start()
            burst.redis_restarts += 1


def _settled(database_url: str, accepted: dict[str, str], ended: float) -> dict[str, Any]:
    """Wait until every accepted command, crawl and delivery has ended; the figures."""
    engine = make_engine(database_url)
    uow = uow_factory(engine)

    def open_work() -> dict[str, int]:
        with uow() as unit:
            records = unit.session.exec(
                select(CommandRecord).where(col(CommandRecord.id).in_(list(accepted)))
            )
            statuses = Counter(r.status for r in records)
            uncrawled = unit.session.exec(
                select(Registry).where(
                    col(Registry.active_name).is_not(None),
                    col(Registry.status).in_(lifecycle.USABLE),
                    col(Registry.crawled_at).is_(None),
                )
            ).all()
            pending = unit.session.exec(select(Delivery).where(Delivery.status == "pending")).all()
        return {
            "open": statuses["queued"]
            + statuses["running"]
            + (len(accepted) - sum(statuses.values())),
            "uncrawled": len(uncrawled),
            "pending_deliveries": len(pending),
        }

    try:
        left = wait_until(
            lambda: not any((w := open_work()).values()) and w,
            timeout=DEFAULT_RECOVERY,
            what="every accepted command, crawl and delivery ended",
        )
        recovery = time.monotonic() - ended
        with uow() as unit:
            effects = Counter(
                a.command_id
                for a in unit.session.exec(
                    select(AuditEntry).where(col(AuditEntry.action).in_(EFFECTS))
                )
            )
            outcomes = Counter(
                r.status
                for r in unit.session.exec(
                    select(CommandRecord).where(col(CommandRecord.id).in_(list(accepted)))
                )
            )
            deliveries = Counter(d.status for d in unit.session.exec(select(Delivery)))
    finally:
        engine.dispose()
    twice = [command for command, n in effects.items() if n > 1]
    assert twice == [], "nothing is applied twice"
    assert left == {"open": 0, "uncrawled": 0, "pending_deliveries": 0}
    return {
        "accepted": len(accepted),
        "outcomes": dict(outcomes),
        "deliveries": dict(deliveries),
        "recovery_s": round(recovery, 1),
        "applied_twice": len(twice),
    }
