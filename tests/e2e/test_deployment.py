"""The multi-process deployment: the Procfile under honcho serves a link end to end, and
the compose file runs the same processes with valid settings."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from events.sealing import generate_private_key
from gateway.settings import Settings
from store.secrets import generate_key
from tests.conftest import REDIS_URL
from tests.e2e.processes import base_env, cli_json, free_port, wait_healthy
from tests.polling import wait_until
from tests.support.images import push_image
from tests.support.registry import RunningRegistry

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {
        name.strip(): command.strip()
        for name, command in (line.split(":", 1) for line in lines if line.strip())
    }


def test_procfile_under_honcho_serves_a_link_end_to_end(
    tmp_path: Path, postgres_url: str, anon_registry: RunningRegistry
) -> None:
    push_image(anon_registry.url, "app", "1")
    port = free_port()
    env = base_env(
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
        REGLINK_DATA_DIR=str(tmp_path / "data"),
        REGLINK_DATABASE_URL=postgres_url,
        REGLINK_REDIS_URL=REDIS_URL,
        REGLINK_REDIS_NAMESPACE=f"reglink-honcho-{port}",
        REGLINK_API_URL=f"http://127.0.0.1:{port}",
        REGLINK_INSECURE_HOSTS="127.0.0.1",
        REGLINK_ALLOWED_NETWORKS="127.0.0.1/32",
        REGLINK_SEALING_KEYS=generate_private_key(),
        REGLINK_STORE_KEYS=generate_key(),
        REGLINK_LOG_FORMAT="json",
    )
    log = tmp_path / "honcho.log"
    with log.open("wb") as out:
        command = [str(BIN / "honcho"), "start", "-f", str(ROOT / "Procfile")]
        command += ["-d", str(ROOT), "-p", str(port)]
        honcho = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_healthy(env["REGLINK_API_URL"], honcho, log)
            env["REGLINK_TOKEN"] = cli_json(
                env, "admin", "create-project", "demo", "--owner", "alice"
            )["token"]
            outcome = cli_json(env, "link", "demo", "hub", anon_registry.url, "--wait")
            assert outcome["registry"]["status"] == "verified"
            wait_until(lambda: cli_json(env, "show", "demo", "hub")["tag_count"] == 1, what="crawl")
            started = log.read_text()
            for name in procfile():
                assert f"{name}.1" in started, f"honcho started no {name} process"
        finally:
            os.killpg(honcho.pid, signal.SIGTERM)
            honcho.wait(30)


def test_compose_runs_the_procfile_processes_with_known_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"redis", "postgres"} <= set(services)
    ours = {name: svc for name, svc in services.items() if svc.get("build")}
    assert set(ours) == set(procfile())
    known = {f"REGLINK_{name.upper()}" for name in Settings.model_fields}
    for name, service in ours.items():
        command = shlex.split(procfile()[name].replace("${PORT:-8080}", "8080"))
        assert command[:2] == service["command"][:2], name
        assert set(service["environment"]) <= known, name
        assert {"REGLINK_DATABASE_URL", "REGLINK_REDIS_URL"} <= set(service["environment"])
        assert "postgres" in service["depends_on"]
    assert "healthcheck" in services["api"] and "/healthz" in " ".join(
        services["api"]["healthcheck"]["test"]
    )
    assert (ROOT / "Dockerfile").exists()
