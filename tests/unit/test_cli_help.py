"""The CLI explains itself: every argument and option is described, `--version` works,
shell completion is offered, and `--auth basic` follows from `--username`."""

from __future__ import annotations

from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

import gateway.cli_commands
from gateway.cli import app
from gateway.client import ApiClient


def every_command() -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []

    def walk(command: Any, path: str) -> None:
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}".strip())

    walk(get_command(app), "")
    return found


def test_every_argument_and_option_is_described() -> None:
    undescribed = [
        f"{path or 'reglink'} {param.name}"
        for path, command in every_command()
        for param in command.params
        if not getattr(param, "help", None)
    ]
    assert undescribed == []


def test_version_and_completion() -> None:
    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert (version.exit_code, version.stdout) == (0, "reglink 0.1.0\n")
    assert "--install-completion" in runner.invoke(app, ["--help"]).stdout


class RecordingApi(ApiClient):
    def __init__(self) -> None:
        super().__init__("http://api.invalid", None)
        self.bodies: list[dict[str, Any]] = []

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        self.bodies.append(kwargs["json"])
        return {"command_id": "c-1", "status": "queued"}


def test_a_username_means_basic_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    api = RecordingApi()
    monkeypatch.setattr(gateway.cli_commands, "client", lambda: api)
    result = CliRunner().invoke(
        app,
        ["link", "demo", "hub", "https://r.test", "--username", "u", "--password-stdin"],
        input="pw\n",
    )
    assert result.exit_code == 0, result.stderr
    assert (api.bodies[0]["auth"], api.bodies[0]["password"]) == ("basic", "pw")


def test_basic_auth_without_a_password_in_a_script_says_how_to_give_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = RecordingApi()
    monkeypatch.setattr(gateway.cli_commands, "client", lambda: api)
    result = CliRunner().invoke(app, ["link", "demo", "hub", "https://r.test", "--username", "u"])
    assert result.exit_code == 1 and api.bodies == []
    assert result.stderr.splitlines() == [
        "error: invalid_input: basic auth needs a password",
        "hint: pass it on standard input with --password-stdin",
    ]
