"""`--wait` waits for a command's own outcome, and the exit code is that outcome: after a
refused update the next good one exits 0 at the new version, and an update of a link
that failed waits for the new verification."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import USERS
from tests.e2e.processes import base_env, cli, cli_json, free_port, process, wait_healthy
from tests.support.registry import RunningRegistry


def test_update_wait_exits_by_its_own_outcome(
    tmp_path: Path, basic_registry: RunningRegistry
) -> None:
    port = free_port()
    env = base_env(
        REGLINK_DATA_DIR=str(tmp_path / "data"),
        REGLINK_API_URL=f"http://127.0.0.1:{port}",
        REGLINK_INSECURE_HOSTS="127.0.0.1",
        REGLINK_ALLOWED_NETWORKS="127.0.0.1/32",
        REGLINK_RETRY_BACKOFF_MS="50",
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    good, bad = USERS["alice"] + "\n", "wrong-password\n"
    with process(["up", "--port", str(port)], env, tmp_path / "up.log") as proc:
        wait_healthy(env["REGLINK_API_URL"], proc, tmp_path / "up.log")
        env["REGLINK_TOKEN"] = cli_json(env, "admin", "create-project", "demo", "--owner", "alice")[
            "token"
        ]
        basic = ("--auth", "basic", "--username", "alice", "--password-stdin")
        linked = cli(env, "link", "demo", "r", basic_registry.url, *basic, "--wait", stdin=good)
        assert linked.returncode == 0, linked.stderr
        assert "r: verified (version 1)" in linked.stdout

        refused = cli(env, "update", "demo", "r", "--password-stdin", "--wait", stdin=bad)
        assert refused.returncode == 1
        assert "unauthorized" in refused.stderr
        shown = cli_json(env, "show", "demo", "r")
        assert (shown["status"], shown["version"]) == ("update_failed", 1)

        fixed = cli(env, "update", "demo", "r", "--password-stdin", "--wait", stdin=good)
        assert fixed.returncode == 0, fixed.stderr
        assert "r: verified (version 2)" in fixed.stdout
        assert "unauthorized" not in fixed.stdout + fixed.stderr, "not the previous outcome"

        failed = cli(env, "link", "demo", "f", basic_registry.url, *basic, "--wait", stdin=bad)
        assert failed.returncode == 1 and "unauthorized" in failed.stderr
        retried = cli_json(env, "update", "demo", "f", "--password-stdin", "--wait", stdin=good)
        assert retried["status"] == "succeeded"
        assert (retried["registry"]["status"], retried["registry"]["version"]) == ("verified", 2)
