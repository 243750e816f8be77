"""The README, Procfile and compose file promise what the code does."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml
from typer.main import get_command

from gateway.cli import app
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def cli_paths() -> set[str]:
    root = get_command(app)
    paths: set[str] = set()

    def walk(command: object, prefix: str) -> None:
        subcommands = getattr(command, "commands", {})
        for name, sub in subcommands.items():
            paths.add(f"{prefix}{name}".strip())
            walk(sub, f"{prefix}{name} ")

    walk(root, "")
    return paths


def test_readme_settings_table_matches_the_settings_class() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `(REGLINK_[A-Z_]+)` \|", readme, flags=re.M))
    declared = {f"REGLINK_{name.upper()}" for name in Settings.model_fields}
    assert documented == declared


def test_every_command_the_procfile_and_compose_file_run_exists() -> None:
    paths = cli_paths()
    commands = [
        line.split(":", 1)[1]
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.strip()
    ]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    commands += [" ".join(s["command"]) for s in compose["services"].values() if s.get("build")]
    assert commands
    for command in commands:
        words = shlex.split(command)
        assert words[0] == "reglink", command
        assert words[1] in paths, command


def test_readme_has_exactly_the_two_set_up_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    for marker in ("run-command", "test-command"):
        block = re.search(
            rf"<!-- {marker} -->\n```\n(.+?)\n```\n<!-- /{marker} -->", readme, flags=re.S
        )
        assert block is not None and "\n" not in block.group(1), marker
    assert "reglink up" in readme.split("<!-- /run-command -->")[0]


DESIGN_COMMANDS = (
    "up", "api", "worker", "scheduler", "admin create-project", "admin add-member",
    "admin grant-operator", "admin revoke-token", "admin list-tokens", "command",
    "link", "update", "unlink", "registries", "show", "crawl", "repos", "tags", "jobs add",
    "jobs use", "jobs drop", "jobs list", "jobs deliveries", "ops queues", "ops dead-letters",
    "ops replay",
)  # fmt: skip


def test_every_command_of_the_design_interface_exists() -> None:
    assert set(DESIGN_COMMANDS) <= cli_paths()


def test_cli_tracebacks_never_show_local_variables() -> None:
    """A crash must not print a password the command was holding."""
    assert app.pretty_exceptions_show_locals is False
