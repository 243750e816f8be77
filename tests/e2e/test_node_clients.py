"""A Node.js publisher and subscriber written against docs/ and the AsyncAPI document
alone (tests/node), run against the real stack: `reglink api` and `reglink worker`
processes, Redis, PostgreSQL and the real registry. The publisher seals, enqueues straight
into Redis and follows the command; the subscriber verifies with `standardwebhooks`,
parses with the `cloudevents` SDK, drops duplicates and anything out of sequence."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from events.sealing import generate_private_key
from store.secrets import generate_key
from tests.conftest import REDIS_URL, USERS
from tests.e2e.processes import base_env, cli_json, free_port, process, wait_healthy
from tests.polling import wait_until
from tests.support.images import push_image
from tests.support.registry import RunningRegistry
from tests.support.skopeo import skopeo_inspect

NODE = Path(__file__).resolve().parents[1] / "node"
DEFAULT_TIMEOUT = 90  # seconds one publisher run may take (it follows the command itself)


def publish(env: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    """Run the Node publisher for one command; what it reports."""
    result = subprocess.run(
        ["node", str(NODE / "publisher.mjs")],
        input=json.dumps(spec),
        env={**env, "REDIS_URL": REDIS_URL, "REDIS_NAMESPACE": env["REGLINK_REDIS_NAMESPACE"]},
        capture_output=True,
        text=True,
        timeout=DEFAULT_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@contextmanager
def subscriber(port: int, secret: str, log: Path) -> Iterator[Path]:
    """The Node subscriber on `port`; yields the file its report lines go to."""
    env = {**base_env(), "PORT": str(port), "WEBHOOK_SECRET": secret}
    with log.open("wb") as out:
        proc = subprocess.Popen(["node", str(NODE / "subscriber.mjs")], env=env, stdout=out)
        try:
            wait_until(lambda: "listening" in log.read_text(), what="the Node subscriber")
            yield log
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def kept(log: Path) -> list[dict[str, Any]]:
    return [line for line in lines(log) if line["outcome"] == "kept"]


def test_a_node_publisher_and_subscriber_work_from_the_published_contract(
    tmp_path: Path, postgres_url: str, basic_registry: RunningRegistry
) -> None:
    push_image(basic_registry.url, "team/app", "1.0", auth=("alice", USERS["alice"]))
    port = free_port()
    env = base_env(
        REGLINK_DATA_DIR=str(tmp_path / "data"),
        REGLINK_DATABASE_URL=postgres_url,
        REGLINK_REDIS_URL=REDIS_URL,
        REGLINK_REDIS_NAMESPACE=f"reglink-node-{port}",
        REGLINK_API_URL=f"http://127.0.0.1:{port}",
        REGLINK_INSECURE_HOSTS="127.0.0.1",
        REGLINK_ALLOWED_NETWORKS="127.0.0.1/32",
        REGLINK_RETRY_BACKOFF_MS="50",
        REGLINK_SEALING_KEYS=generate_private_key(),
        REGLINK_STORE_KEYS=generate_key(),
        REGLINK_LOG_FORMAT="json",
    )
    hook_port = free_port()
    with (
        process(["api", "--port", str(port)], env, tmp_path / "api.log") as api,
        process(["worker"], env, tmp_path / "worker.log"),
    ):
        wait_healthy(env["REGLINK_API_URL"], api, tmp_path / "api.log")
        created = cli_json(env, "admin", "create-project", "demo", "--owner", "alice")
        env["REGLINK_TOKEN"] = created["token"]
        secret = cli_json(
            env, "jobs", "add", "demo", "ci", "--webhook", f"http://127.0.0.1:{hook_port}/hook"
        )["secret"]

        with subscriber(hook_port, secret, tmp_path / "subscriber.log") as log:
            linked = publish(env, {
                "type": "reglink.command.link", "project": "demo", "actor": "alice",
                "data": {"name": "private", "url": basic_registry.url, "auth": "basic",
                         "username": "alice"},
                "secret": USERS["alice"],
            })  # fmt: skip
            assert linked["outcome"]["status"] == "succeeded", linked
            assert linked["statuses"][-1] == "succeeded"
            assert set(linked["statuses"]) <= {404, "queued", "running", "succeeded"}
            assert cli_json(env, "show", "demo", "private")["status"] == "verified"
            cli_json(env, "jobs", "use", "demo", "ci", "private")
            wait_until(lambda: len(kept(log)) == 1, what="the first delivery kept")

            basic_registry.set_password("alice", "node-rotated")
            updated = publish(env, {
                "type": "reglink.command.update", "project": "demo", "actor": "alice",
                "data": {"name": "private"}, "secret": "node-rotated",
            })  # fmt: skip
            assert updated["outcome"]["status"] == "succeeded", updated
            wait_until(lambda: len(kept(log)) == 2, what="the update kept")

            refused = publish(env, {
                "type": "reglink.command.unlink", "project": "demo", "actor": "mallory",
                "data": {"name": "private", "force": True},
            })  # fmt: skip
            assert refused["outcome"]["status"] == "failed", "the actor must be an owner"
            unlinked = publish(env, {
                "type": "reglink.command.unlink", "project": "demo", "actor": "alice",
                "data": {"name": "private", "force": True},
            })  # fmt: skip
            assert unlinked["outcome"]["status"] == "succeeded", unlinked
            wait_until(lambda: len(kept(log)) == 3, what="the revocation kept")

            first = kept(log)[0]
            forged = {
                "webhook-id": "forged",
                "webhook-timestamp": "1",
                "webhook-signature": "v1,AA==",
            }
            hook = f"http://127.0.0.1:{hook_port}/hook"
            assert httpx.post(hook, content=b"{}", headers=forged).status_code == 400
    events = kept(log)
    assert [e["type"].rsplit(".", 1)[1] for e in events] == ["updated", "updated", "unlinked"]
    assert [e["data"]["version"] for e in events] == [1, 2, 3]
    sequences = [e["data"]["sequence"] for e in events]
    assert sequences == sorted(sequences) and len(set(sequences)) == 3
    assert [line["outcome"] for line in lines(log)].count("rejected") == 1
    config = events[1]["data"]["config"]
    entry = config["auths"][basic_registry.host]
    assert base64.b64decode(entry["auth"]).decode() == "alice:node-rotated"
    assert first["data"]["config"] != config
    pulled = skopeo_inspect(basic_registry.host, "team/app:1.0", config, tmp_path / "auth.json")
    assert pulled.returncode == 0, pulled.stderr
