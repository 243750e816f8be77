"""`reglink up` killed with SIGKILL in the middle of a burst, then started again: its
in-process broker lost whatever it held, and every command it had accepted still
reaches its end, from the store."""

from __future__ import annotations

import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.e2e.processes import base_env, cli_json, free_port, process, wait_healthy
from tests.polling import wait_until
from tests.support.faulty import FaultyRegistry, Rule, slow

DEFAULT_LINKS = 80  # link commands accepted just before `reglink up` is killed
DEFAULT_RECOVERY = 120.0  # seconds the restarted process may take to end them all


def test_a_killed_reglink_up_finishes_what_it_accepted_after_a_restart(tmp_path: Path) -> None:
    with FaultyRegistry({"team/app": ["1"]}) as registry:
        # each verification takes a second, so the kill always finds work unfinished
        registry.script = [Rule("GET", "/v2/", slow(1.0))]
        _kill_and_restart(tmp_path, registry.url)


def _kill_and_restart(tmp_path: Path, registry_url: str) -> None:
    port = free_port()
    env = base_env(
        REGLINK_DATA_DIR=str(tmp_path / "data"),
        REGLINK_API_URL=f"http://127.0.0.1:{port}",
        REGLINK_INSECURE_HOSTS="127.0.0.1",
        REGLINK_ALLOWED_NETWORKS="127.0.0.1/32",
        REGLINK_RETRY_BACKOFF_MS="50",
        REGLINK_LOG_LEVEL="WARNING",
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    with process(["up", "--port", str(port)], env, tmp_path / "up-1.log") as first:
        wait_healthy(env["REGLINK_API_URL"], first, tmp_path / "up-1.log")
        token = cli_json(env, "admin", "create-project", "demo", "--owner", "alice")["token"]
        client = httpx.Client(
            base_url=env["REGLINK_API_URL"], headers={"Authorization": f"Bearer {token}"}
        )
        with ThreadPoolExecutor(max_workers=8) as pool:  # faster than up can verify
            responses = list(
                pool.map(lambda i: link(client, i, registry_url), range(DEFAULT_LINKS))
            )
        first.send_signal(signal.SIGKILL)  # queued work lives only in its memory
        first.wait(10)
        accepted = [r.json()["command_id"] for r in responses if r.status_code == 202]
        assert len(accepted) == DEFAULT_LINKS
    unfinished = open_in_store(tmp_path / "data" / "reglink.db", accepted)
    started = time.monotonic()
    with process(["up", "--port", str(port)], env, tmp_path / "up-2.log") as second:
        wait_healthy(env["REGLINK_API_URL"], second, tmp_path / "up-2.log")
        outcomes = wait_until(
            lambda: ended(client, accepted),
            timeout=DEFAULT_RECOVERY,
            what="every accepted command ended after the restart",
        )
    recovery = time.monotonic() - started
    assert unfinished > 0, "the kill left work unfinished, or this proves nothing"
    assert outcomes == ["succeeded"] * len(accepted), "every link verified"
    print(
        f"\nup restart: accepted={len(accepted)} unfinished_at_kill={unfinished} "
        f"recovery_s={recovery:.1f}"
    )


def link(client: httpx.Client, i: int, url: str) -> httpx.Response:
    return client.post("/v1/projects/demo/registries", json={"name": f"r{i}", "url": url})


def ended(client: httpx.Client, ids: list[str]) -> list[str] | None:
    """Every command's status, once none is waiting any more."""
    statuses = [client.get(f"/v1/commands/{c}").json()["status"] for c in ids]
    return statuses if all(s in ("succeeded", "failed") for s in statuses) else None


def open_in_store(database: Path, ids: list[str]) -> int:
    """How many of the commands the store holds as unfinished, read while no process runs."""
    with sqlite3.connect(database) as db:
        marks = ",".join("?" * len(ids))
        query = "select count(*) from commands where status in ('queued', 'running') and id in "
        row = db.execute(f"{query}({marks})", ids).fetchone()
    return int(row[0])
