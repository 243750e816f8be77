"""A newcomer's and an operator's first hour with `reglink up`: commands run from any
directory find its data, a token from another store is never printed, the scheduler it
runs notices a rotated password, and its log stays short for a big catalog."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import USERS
from tests.e2e.processes import base_env, cli, cli_json, free_port, process, wait_healthy
from tests.polling import wait_until
from tests.support.images import push_image
from tests.support.registry import RunningRegistry

DEFAULT_REPOSITORIES = 1000  # the size the issue asks the log to stay short for
MAX_INFO_LINES = 50


def test_commands_find_the_running_up_and_it_notices_a_rotated_password(
    tmp_path: Path, basic_registry: RunningRegistry
) -> None:
    push_image(basic_registry.url, "team/app", "1.0", auth=("alice", USERS["alice"]))
    port = free_port()
    env = base_env(
        XDG_STATE_HOME=str(tmp_path / "state"),
        REGLINK_DATA_DIR=str(tmp_path / "data"),
        REGLINK_INSECURE_HOSTS="127.0.0.1",
        REGLINK_ALLOWED_NETWORKS="127.0.0.1/32",
        REGLINK_RECHECK_INTERVAL="0.5",
        REGLINK_SCHEDULER_TICK="0.2",
        REGLINK_RETRY_BACKOFF_MS="50",
        REGLINK_VERIFY_ATTEMPTS="1",
    )
    log = tmp_path / "up.log"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with process(["up", "--port", str(port)], env, log) as proc:
        wait_healthy(f"http://127.0.0.1:{port}", proc, log)
        said = log.read_text()
        assert f"http://127.0.0.1:{port}/docs" in said and str(tmp_path / "data") in said

        anywhere = {k: v for k, v in env.items() if not k.startswith("REGLINK_")}
        created = cli(anywhere, "admin", "create-project", "demo", "--owner", "alice", "--json",
                      cwd=elsewhere)  # fmt: skip
        assert created.returncode == 0, created.stderr
        assert "creating" not in created.stderr
        anywhere["REGLINK_TOKEN"] = json.loads(created.stdout)["token"]
        assert not (elsewhere / ".reglink").exists()

        linked = cli(anywhere, "link", "demo", "private", basic_registry.url,
                     "--username", "alice", "--password-stdin", "--wait",
                     stdin=USERS["alice"] + "\n", cwd=elsewhere)  # fmt: skip
        assert (linked.returncode, linked.stdout) == (0, "private: verified (version 1)\n")

        other_store = {**anywhere, "REGLINK_DATA_DIR": str(tmp_path / "other")}
        refused = cli(other_store, "admin", "add-member", "demo2", "bob", cwd=elsewhere)
        assert refused.returncode == 1
        assert "creating a new store there" in refused.stderr
        assert "rlk_" not in refused.stdout + refused.stderr

        basic_registry.set_password("alice", "rotated-elsewhere")
        wait_until(
            lambda: cli_json(anywhere, "show", "demo", "private")["status"] == "degraded",
            what="reglink up's own scheduler notices the rotated password",
        )
    after = cli(anywhere, "admin", "list-projects", cwd=elsewhere)  # up has stopped
    assert after.returncode == 0
    assert f"no reglink data at {elsewhere / '.reglink'}: creating a new store" in after.stderr


def clone_repositories(registry: RunningRegistry, seed: str, count: int) -> None:
    """`count` more repositories holding the seed's image, written straight into the
    registry's storage (a few small link files each): a big catalog in a second."""
    repositories = registry.storage_dir / "docker" / "registry" / "v2" / "repositories"
    for i in range(count):
        shutil.copytree(repositories / seed, repositories / f"bulk/r-{i:04d}")


def test_up_log_stays_short_for_linking_and_crawling_a_thousand_repositories(
    tmp_path: Path, anon_registry: RunningRegistry
) -> None:
    push_image(anon_registry.url, "seed", "1")
    clone_repositories(anon_registry, "seed", DEFAULT_REPOSITORIES)
    port = free_port()
    env = base_env(
        REGLINK_DATA_DIR=str(tmp_path / "data"),
        REGLINK_API_URL=f"http://127.0.0.1:{port}",
        REGLINK_INSECURE_HOSTS="127.0.0.1",
        REGLINK_ALLOWED_NETWORKS="127.0.0.1/32",
        REGLINK_LOG_FORMAT="json",
        REGLINK_CATALOG_PAGE_SIZE="250",
        REGLINK_CRAWL_CONCURRENCY="8",
    )
    log = tmp_path / "up.log"
    with process(["up", "--port", str(port)], env, log) as proc:
        wait_healthy(env["REGLINK_API_URL"], proc, log)
        env["REGLINK_TOKEN"] = cli_json(env, "admin", "create-project", "demo", "--owner", "a")[
            "token"
        ]
        linked = cli(env, "link", "demo", "big", anon_registry.url, "--wait")
        assert linked.returncode == 0, linked.stderr
        crawled = cli(env, "crawl", "demo", "big", "--wait")
        assert crawled.returncode == 0, crawled.stderr
        assert crawled.stdout == (
            f"big: crawled, {DEFAULT_REPOSITORIES + 1} repositories, "
            f"{DEFAULT_REPOSITORIES + 1} tags\n"
        )
        assert "big: crawling" in crawled.stderr  # plain progress lines off a terminal
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    summaries = [r for r in records if r.get("event") == "crawl.finished"]
    assert summaries and summaries[-1]["repositories"] == DEFAULT_REPOSITORIES + 1
    assert summaries[-1]["requests"] >= 2 * DEFAULT_REPOSITORIES
    assert not [r for r in records if r.get("logger") == "httpx"]
    assert len(lines) < MAX_INFO_LINES, "\n".join(lines)
