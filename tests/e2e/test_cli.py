"""The CLI against running processes: `reglink up` on embedded defaults, and the split
`reglink api` + `reglink worker` deployment on Redis and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import redis

from events.sealing import generate_private_key
from store.secrets import generate_key
from tests.conftest import REDIS_URL
from tests.e2e.processes import base_env, cli, cli_json, free_port, process, wait_healthy
from tests.integration.redis_queue import queued_messages
from tests.polling import wait_until


def test_newcomer_tour_on_reglink_up(tmp_path: Path) -> None:
    port = free_port()
    env = base_env(
        REGLINK_DATA_DIR=str(tmp_path / "data"), REGLINK_API_URL=f"http://127.0.0.1:{port}"
    )
    with process(["up", "--port", str(port)], env, tmp_path / "up.log") as proc:
        wait_healthy(env["REGLINK_API_URL"], proc, tmp_path / "up.log")
        created = cli_json(env, "admin", "create-project", "demo", "--owner", "alice")
        env["REGLINK_TOKEN"] = created["token"]
        assert created["token"].startswith("rlk_")

        accepted = cli_json(
            env, "link", "demo", "hub", "https://registry.example.test", "--auth", "anonymous"
        )
        assert accepted["status"] == "queued" and accepted["command_id"]

        def pending() -> bool:
            listing = cli_json(env, "registries", "demo", "--all")["registries"]
            return [(r["name"], r["status"]) for r in listing] == [("hub", "pending")]

        wait_until(pending, what="hub pending")
        assert cli_json(env, "registries", "demo")["registries"] == []
        assert cli_json(env, "show", "demo", "hub")["status"] == "pending"

        outcome = cli_json(
            env,
            "link",
            "demo",
            "private",
            "https://r.example.test",
            "--auth",
            "basic",
            "--username",
            "ci",
            "--password-stdin",
            "--wait",
            stdin="hunter2-secret\n",
        )
        assert outcome["status"] == "succeeded"
        assert outcome["registry"]["auth"] == "basic"

        duplicate = cli(env, "link", "demo", "HUB", "https://registry.example.test")
        assert duplicate.returncode != 0
        assert "conflict" in duplicate.stderr
        insecure = cli(env, "link", "demo", "plain", "http://registry.example.test")
        assert insecure.returncode != 0 and "insecure_not_allowed" in insecure.stderr
        assert (tmp_path / "data" / "sealing.keys").stat().st_mode & 0o077 == 0, "keys are private"
    assert "hunter2-secret" not in (tmp_path / "up.log").read_text()


def test_split_deployment_on_redis_and_postgres(tmp_path: Path, postgres_url: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    port = free_port()
    env = base_env(
        REGLINK_DATA_DIR=str(tmp_path / "data"),
        REGLINK_DATABASE_URL=postgres_url,
        REGLINK_REDIS_URL=REDIS_URL,
        REGLINK_API_URL=f"http://127.0.0.1:{port}",
        REGLINK_LOG_FORMAT="json",
    )
    # keys are created once (as an operator would) and shared through the environment
    env["REGLINK_SEALING_KEYS"] = generate_private_key()
    env["REGLINK_STORE_KEYS"] = generate_key()
    with (
        process(["api", "--port", str(port)], env, tmp_path / "api.log") as api,
        process(["worker", "--processes", "2", "--threads", "2"], env, tmp_path / "worker.log"),
    ):
        wait_healthy(env["REGLINK_API_URL"], api, tmp_path / "api.log")
        env["REGLINK_TOKEN"] = cli_json(env, "admin", "create-project", "demo", "--owner", "alice")[
            "token"
        ]
        outcome = cli_json(env, "link", "demo", "hub", "https://registry.example.test", "--wait")
        assert outcome["status"] == "succeeded"
        messages = wait_until(lambda: queued_messages(client, "verify"), what="verify message")
        assert len(messages) == 1
    client.flushdb()
