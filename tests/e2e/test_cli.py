"""The CLI against running processes: `reglink up` on embedded defaults, and the split
`reglink api` + `reglink worker` deployment on Redis and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from events.sealing import generate_private_key
from store.secrets import generate_key
from tests.conftest import REDIS_URL, USERS
from tests.e2e.processes import base_env, cli, cli_json, free_port, process, wait_healthy
from tests.polling import wait_until
from tests.support.images import push_image
from tests.support.procfs import PARENT, STATE, stat_fields
from tests.support.registry import RunningRegistry


def test_newcomer_tour_on_reglink_up(tmp_path: Path, basic_registry: RunningRegistry) -> None:
    digest = push_image(basic_registry.url, "team/app", "1.0", auth=("alice", USERS["alice"]))
    port = free_port()
    env = base_env(
        REGLINK_DATA_DIR=str(tmp_path / "data"),
        REGLINK_API_URL=f"http://127.0.0.1:{port}",
        REGLINK_INSECURE_HOSTS="127.0.0.1",
        REGLINK_ALLOWED_NETWORKS="127.0.0.1/32",
        REGLINK_RETRY_BACKOFF_MS="50",
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

        def failed() -> bool:  # registry.example.test does not resolve
            listing = cli_json(env, "registries", "demo", "--all")["registries"]
            return [(r["name"], r["status"], r["reason"]) for r in listing] == [
                ("hub", "failed", "unreachable")
            ]

        wait_until(failed, what="hub failed")
        assert cli_json(env, "registries", "demo")["registries"] == []

        outcome = cli_json(
            env, "link", "demo", "private", basic_registry.url, "--auth", "basic",
            "--username", "alice", "--password-stdin", "--wait", stdin=USERS["alice"] + "\n",
        )  # fmt: skip
        assert outcome["status"] == "succeeded" and outcome["registry"]["status"] == "verified"
        assert [r["name"] for r in cli_json(env, "registries", "demo")["registries"]] == ["private"]
        shown = cli(env, "command", outcome["id"])
        assert shown.returncode == 0
        assert shown.stdout.splitlines() == [
            f"command {outcome['id']} (reglink.command.link): succeeded",
            "registry private: verified (version 1)",
        ]
        crawled = cli_json(env, "crawl", "demo", "private", "--wait")
        assert crawled["status"] == "succeeded" and crawled["registry"]["tag_count"] == 1
        said = cli(env, "crawl", "demo", "private", "--wait")
        assert said.stdout == "private: crawled, 1 repository, 1 tag\n"
        repos = cli_json(env, "repos", "demo", "private")["repositories"]
        assert repos == [{"name": "team/app", "tags": 1}]
        listed = cli_json(env, "tags", "demo", "private", "team/app")["tags"]
        assert [(t["tag"], t["digest"]) for t in listed] == [("1.0", digest)]

        refused = cli(
            env, "link", "demo", "wrongpw", basic_registry.url, "--auth", "basic",
            "--username", "alice", "--password-stdin", "--wait", stdin="not-it\n",
        )  # fmt: skip
        assert refused.returncode == 1 and "unauthorized" in refused.stderr
        refused_link = cli(
            env, "link", "demo", "wrongpw2", basic_registry.url, "--auth", "basic",
            "--username", "alice", "--password-stdin", "--wait", "--json", stdin="not-it\n",
        )  # fmt: skip
        document = json.loads(refused_link.stdout)
        assert refused_link.returncode == 1 and document["error"]["code"] == "unauthorized"
        followed = cli(env, "command", document["id"], "--wait")
        assert followed.returncode == 1
        assert followed.stderr.startswith("error: unauthorized: ")
        assert cli_json(env, "command", document["id"])["registry"]["status"] == "failed"

        duplicate = cli(env, "link", "demo", "HUB", "https://registry.example.test")
        assert duplicate.returncode != 0
        assert duplicate.stderr.startswith("error: conflict: ")
        assert "reglink unlink demo" in duplicate.stderr
        insecure = cli(env, "link", "demo", "plain", "http://registry.example.test")
        assert insecure.returncode != 0 and "insecure_not_allowed" in insecure.stderr
        unlinked = cli(env, "unlink", "demo", "private", "--wait")
        assert (unlinked.returncode, unlinked.stdout) == (0, "private: unlinked\n")
        assert (tmp_path / "data" / "sealing.keys").stat().st_mode & 0o077 == 0, "keys are private"
    assert USERS["alice"] not in (tmp_path / "up.log").read_text()


def worker_metric(port: int, series: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(
        float(line.split()[-1]) for line in text.splitlines() if line.startswith(series + " ")
    )


def test_split_deployment_on_redis_and_postgres(
    tmp_path: Path, postgres_url: str, anon_registry: RunningRegistry
) -> None:
    push_image(anon_registry.url, "app", "1")
    port = free_port()
    env = base_env(
        REGLINK_DATA_DIR=str(tmp_path / "data"),
        REGLINK_DATABASE_URL=postgres_url,
        REGLINK_REDIS_URL=REDIS_URL,
        REGLINK_REDIS_NAMESPACE=f"reglink-e2e-{free_port()}",
        REGLINK_API_URL=f"http://127.0.0.1:{port}",
        REGLINK_LOG_FORMAT="json",
        REGLINK_INSECURE_HOSTS="127.0.0.1",
        REGLINK_ALLOWED_NETWORKS="127.0.0.1/32",
    )
    metrics_port = free_port()
    env["REGLINK_WORKER_METRICS_PORT"] = str(metrics_port)  # two processes: this port and +1
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
        outcome = cli_json(env, "link", "demo", "hub", anon_registry.url, "--wait")
        assert outcome["registry"]["status"] == "verified"
        wait_until(
            lambda: cli_json(env, "show", "demo", "hub")["crawl_finished_at"], what="first crawl"
        )
        assert cli_json(env, "repos", "demo", "hub")["repositories"] == [{"name": "app", "tags": 1}]
        verified = sum(
            worker_metric(
                metrics_port + i, 'reglink_messages_total{actor="verify_registry",outcome="done"}'
            )
            for i in range(2)
        )
        assert verified >= 1, "the workers' own /metrics count the verification"


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat_fields(stat)[PARENT]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        state = stat_fields(pid)[STATE]
    except OSError:
        return False
    return state != "Z"


def test_the_children_of_a_killed_worker_stop_too(tmp_path: Path) -> None:
    """`reglink worker --processes 2` killed with SIGKILL cannot stop its children; they
    notice their parent is gone and stop, instead of consuming on unseen."""
    env = base_env(
        REGLINK_DATA_DIR=str(tmp_path / "data"),
        REGLINK_REDIS_URL=REDIS_URL,
        REGLINK_REDIS_NAMESPACE=f"reglink-e2e-{free_port()}",
        REGLINK_SEALING_KEYS=generate_private_key(),
        REGLINK_STORE_KEYS=generate_key(),
    )
    log = tmp_path / "worker.log"
    with process(["worker", "--processes", "2", "--threads", "1"], env, log) as worker:

        def started() -> list[int] | None:
            """The parent's children, once both workers said they started."""
            return _children(worker.pid) if log.read_text().count("workers.started") >= 2 else None

        children = wait_until(started, timeout=60, what="two worker children started")
        worker.kill()
        worker.wait()
        wait_until(
            lambda: not any(_alive(c) for c in children), timeout=15, what="children stopped"
        )
    assert "worker.parent_gone" in log.read_text()
