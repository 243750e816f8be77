"""`reglink ops` against `reglink up`: the in-process broker, read by the real CLI."""

from __future__ import annotations

from pathlib import Path

from events.broker import QUEUES
from tests.e2e.processes import base_env, cli, cli_json, free_port, process, wait_healthy


def test_ops_commands_on_reglink_up(tmp_path: Path) -> None:
    port = free_port()
    env = base_env(
        REGLINK_DATA_DIR=str(tmp_path / "data"), REGLINK_API_URL=f"http://127.0.0.1:{port}"
    )
    with process(["up", "--port", str(port)], env, tmp_path / "up.log") as proc:
        wait_healthy(env["REGLINK_API_URL"], proc, tmp_path / "up.log")
        alice = cli_json(env, "admin", "create-project", "demo", "--owner", "alice")["token"]
        env["REGLINK_TOKEN"] = alice
        bob = cli_json(env, "admin", "add-member", "demo", "bob", "--role", "member")["token"]
        refused = cli(env, "ops", "queues")
        assert refused.returncode == 1 and "forbidden" in refused.stderr, "owning is not operating"
        assert cli(env, "admin", "grant-operator", "alice").returncode == 0

        rows = cli_json(env, "ops", "queues")["queues"]
        assert [row["queue"] for row in rows] == list(QUEUES)
        assert all(row["dead"] == 0 and row["failures"] == {} for row in rows)
        table = cli(env, "ops", "queues")
        assert table.returncode == 0 and table.stdout.startswith("QUEUE")
        assert cli_json(env, "ops", "dead-letters") == {"dead_letters": []}
        replayed = cli(env, "ops", "replay", "--all")
        assert replayed.returncode == 0 and "replayed 0" in replayed.stdout
        assert cli(env, "ops", "replay").returncode == 1  # neither ids nor --all

        refused = cli({**env, "REGLINK_TOKEN": bob}, "ops", "queues")
        assert refused.returncode == 1 and "forbidden" in refused.stderr
