"""Deliveries across real processes: a worker killed between enqueue and delivery loses
nothing, each build job gets the update once, and what it gets works with skopeo."""

from __future__ import annotations

import base64
import signal
import subprocess
from pathlib import Path

import redis

from events.sealing import generate_private_key
from store.secrets import generate_key
from tests.conftest import REDIS_URL, USERS
from tests.e2e.processes import base_env, cli_json, free_port, process, wait_healthy
from tests.integration.redis_queue import queued_messages
from tests.polling import wait_until
from tests.support.images import push_image
from tests.support.registry import RunningRegistry
from tests.support.skopeo import skopeo_inspect as inspect
from tests.support.webhook_receiver import Reply, WebhookReceiver

JOBS = ("build-a", "build-b")


def skopeo_inspect(
    registry: RunningRegistry, auths: dict[str, object], path: Path
) -> subprocess.CompletedProcess[str]:
    return inspect(registry.host, "team/app:1.0", auths, path)


def pending_deliveries(env: dict[str, str], jobs: tuple[str, ...] = JOBS) -> list[str]:
    return [
        d["id"]
        for job in jobs
        for d in cli_json(env, "jobs", "deliveries", "demo", job)["deliveries"]
        if d["status"] == "pending"
    ]


def queued_deliveries(client: redis.Redis) -> int:
    """Deliveries waiting on the queue: a batch message carries several."""
    return sum(
        len(m["args"][0]["data"].get("delivery_ids", ["one"]))
        for m in queued_messages(client, "deliveries")
    )


def test_update_survives_a_killed_worker_and_the_delivered_auths_work_with_skopeo(
    tmp_path: Path, postgres_url: str, basic_registry: RunningRegistry
) -> None:
    push_image(basic_registry.url, "team/app", "1.0", auth=("alice", USERS["alice"]))
    namespace = f"reglink-e2e-{free_port()}"
    port = free_port()
    env = base_env(
        REGLINK_DATA_DIR=str(tmp_path / "data"),
        REGLINK_DATABASE_URL=postgres_url,
        REGLINK_REDIS_URL=REDIS_URL,
        REGLINK_REDIS_NAMESPACE=namespace,
        REGLINK_API_URL=f"http://127.0.0.1:{port}",
        REGLINK_INSECURE_HOSTS="127.0.0.1",
        REGLINK_ALLOWED_NETWORKS="127.0.0.1/32",
        REGLINK_RETRY_BACKOFF_MS="50",
        REGLINK_SEALING_KEYS=generate_private_key(),
        REGLINK_STORE_KEYS=generate_key(),
        REGLINK_LOG_FORMAT="json",
    )
    client = redis.Redis.from_url(REDIS_URL)
    client.namespace = namespace  # type: ignore[attr-defined]
    everything_but_deliveries = "commands,verify,crawl,fanout"
    with (
        WebhookReceiver() as hooks,
        process(["api", "--port", str(port)], env, tmp_path / "api.log") as api,
        process(
            ["worker", "--queues", everything_but_deliveries], env, tmp_path / "w1.log"
        ) as first,
    ):
        wait_healthy(env["REGLINK_API_URL"], api, tmp_path / "api.log")
        env["REGLINK_TOKEN"] = cli_json(env, "admin", "create-project", "demo", "--owner", "alice")[
            "token"
        ]
        linked = cli_json(
            env, "link", "demo", "private", basic_registry.url, "--auth", "basic",
            "--username", "alice", "--password-stdin", "--wait", stdin=USERS["alice"] + "\n",
        )  # fmt: skip
        assert linked["registry"]["status"] == "verified"
        for job in JOBS:
            added = cli_json(env, "jobs", "add", "demo", job, "--webhook", hooks.url(job))
            assert added["secret"].startswith("whsec_")
            hooks.add_job(job, added["secret"])
            assert cli_json(env, "jobs", "use", "demo", job, "private")["version"] == 1

        basic_registry.set_password("alice", "v2-password")
        updated = cli_json(
            env, "update", "demo", "private", "--password-stdin", "--wait", stdin="v2-password\n"
        )
        assert (updated["registry"]["status"], updated["registry"]["version"]) == ("verified", 2)
        wait_until(
            lambda: queued_deliveries(client) == 4, what="deliveries enqueued"
        )  # v1 for each new use, v2 for the update (one batch): nobody has sent them yet
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert hooks.requests() == []

        with process(["worker"], env, tmp_path / "w2.log"):
            wait_until(lambda: all(hooks.events(job) for job in JOBS), what="deliveries")
            wait_until(lambda: not pending_deliveries(env), what="every delivery settled")
        for job in JOBS:
            events = hooks.events(job)
            assert [e.get_data()["version"] for e in events] == [2], "v1 superseded, v2 once"  # type: ignore[index]
            statuses = sorted(
                d["status"] for d in cli_json(env, "jobs", "deliveries", "demo", job)["deliveries"]
            )
            assert statuses == ["delivered", "superseded"]
        assert hooks.rejected() == []

    delivered = hooks.events(JOBS[0])[0].get_data()
    assert isinstance(delivered, dict)
    auths = delivered["config"]
    assert list(auths["auths"]) == [basic_registry.host]
    assert skopeo_inspect(basic_registry, auths, tmp_path / "v2.json").returncode == 0
    old = base64.b64encode(f"alice:{USERS['alice']}".encode()).decode()
    stale = skopeo_inspect(
        basic_registry, {"auths": {basic_registry.host: {"auth": old}}}, tmp_path / "v1.json"
    )
    assert stale.returncode != 0 and "unauthorized" in stale.stderr.lower()
    assert (
        USERS["alice"] not in (tmp_path / "api.log").read_text() + (tmp_path / "w2.log").read_text()
    )


def test_a_worker_killed_mid_delivery_is_replaced_and_the_job_sees_one_webhook_id(
    tmp_path: Path, postgres_url: str, anon_registry: RunningRegistry
) -> None:
    port = free_port()
    env = base_env(
        REGLINK_DATA_DIR=str(tmp_path / "data"),
        REGLINK_DATABASE_URL=postgres_url,
        REGLINK_REDIS_URL=REDIS_URL,
        REGLINK_REDIS_NAMESPACE=f"reglink-e2e-{port}",
        REGLINK_API_URL=f"http://127.0.0.1:{port}",
        REGLINK_INSECURE_HOSTS="127.0.0.1",
        REGLINK_ALLOWED_NETWORKS="127.0.0.1/32",
        REGLINK_RETRY_BACKOFF_MS="50",
        REGLINK_SEALING_KEYS=generate_private_key(),
        REGLINK_STORE_KEYS=generate_key(),
        REGLINK_BROKER_HEARTBEAT_TIMEOUT="2",  # notice the dead worker quickly…
        REGLINK_BROKER_MAINTENANCE_CHANCE="1000000",  # …on the next broker call
        REGLINK_LOG_FORMAT="json",
    )
    with (
        WebhookReceiver() as hooks,
        process(["api", "--port", str(port)], env, tmp_path / "api.log") as api,
        process(["worker"], env, tmp_path / "w1.log") as first,
    ):
        wait_healthy(env["REGLINK_API_URL"], api, tmp_path / "api.log")
        env["REGLINK_TOKEN"] = cli_json(env, "admin", "create-project", "demo", "--owner", "alice")[
            "token"
        ]
        assert (
            cli_json(env, "link", "demo", "hub", anon_registry.url, "--wait")["registry"]["status"]
            == "verified"
        )
        secret = cli_json(env, "jobs", "add", "demo", "ci", "--webhook", hooks.url("ci"))["secret"]
        hooks.add_job("ci", secret)
        hooks.respond("ci", Reply(delay=8), times=1)  # the first POST hangs…
        cli_json(env, "jobs", "use", "demo", "ci", "hub")
        wait_until(lambda: hooks.attempts("ci"), what="the first POST")
        first.send_signal(signal.SIGKILL)  # …and its worker dies before it hears back
        first.wait(10)

        with process(["worker"], env, tmp_path / "w2.log"):
            wait_until(lambda: len(hooks.attempts("ci")) == 2, timeout=30, what="the redelivery")
            wait_until(lambda: not pending_deliveries(env, ("ci",)), what="delivery settled")
        rows = cli_json(env, "jobs", "deliveries", "demo", "ci")["deliveries"]
    assert [(r["status"], r["version"]) for r in rows] == [("delivered", 1)]
    ids = {received.webhook_id for received in hooks.attempts("ci")}
    assert ids == {rows[0]["id"]}, "the retry is the same delivery: the job drops the duplicate"
    assert {event.get_id() for event in hooks.events("ci")} == {rows[0]["id"]}
