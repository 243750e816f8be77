"""`reglink command`, and how every `--wait` follows a command: it polls the command's
own document until the status is terminal, because `succeeded` and `failed` already mean
the effect is settled. Exit 0 only on `succeeded`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import typer

from events.errors import CommandRejected
from gateway.cli_common import Json, Wait, call, client, emit, fail
from gateway.client import DEFAULT_WAIT, ApiClient

DEFAULT_FOLLOW_WAIT = 3600.0  # seconds `reglink command --wait` waits (a crawl may be long)

commands_app = typer.Typer()


class CommandFailed(CommandRejected):
    """A command that ran and failed; `code` is its own reason (e.g. `unauthorized`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def send(
    method: str,
    path: str,
    *,
    wait: bool,
    as_json: bool,
    success: Callable[[dict[str, Any]], str],
    body: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
    timeout: float = DEFAULT_WAIT,
) -> None:
    """Send a command. Without `wait`, say it was accepted; with it, print `success` of
    the settled command, or fail with the command's error."""
    api = client()
    accepted = call(api, method, path, json=body, params=params)
    if not wait:
        emit(accepted, as_json, f"accepted: command {accepted['command_id']}")
        return
    settle(follow(api, accepted["command_id"], timeout), as_json, success)


def follow(api: ApiClient, command_id: str, timeout: float = DEFAULT_WAIT) -> dict[str, Any]:
    """The command's document once settled; an unreachable API or a timeout fails."""
    try:
        return api.wait_for_command(command_id, timeout)
    except CommandRejected as exc:
        fail(exc)


def settle(
    outcome: dict[str, Any], as_json: bool, success: Callable[[dict[str, Any]], str]
) -> None:
    """Print a settled command; a failed one prints its document with --json, then its
    error on stderr, and exits 1."""
    if outcome["status"] == "succeeded":
        emit(outcome, as_json, success(outcome))
        return
    if as_json:
        typer.echo(json.dumps(outcome, indent=2, sort_keys=True))
    error = outcome.get("error") or {}
    fail(CommandFailed(error.get("code", "failed"), error.get("message", "the command failed")))


def registry_line(registry: dict[str, Any]) -> str:
    return f"{registry['name']}: {registry['status']} (version {registry['version']})"


def describe(document: dict[str, Any], *, with_error: bool = True) -> str:
    lines = [f"command {document['id']} ({document['type']}): {document['status']}"]
    error = document.get("error")
    if error and with_error:
        lines.append(f"error: {error['code']}: {error['message']}")
    if document.get("registry"):
        lines.append(f"registry {registry_line(document['registry'])}")
    return "\n".join(lines)


@commands_app.command("command")
def command(command_id: str, wait: Wait = False, as_json: Json = False) -> None:
    """Show a command's status and outcome."""
    api = client()
    if not wait:
        document = call(api, "GET", f"/v1/commands/{command_id}")
        emit(document, as_json, describe(document))
        return
    document = follow(api, command_id, DEFAULT_FOLLOW_WAIT)
    if document["status"] == "failed" and not as_json:
        typer.echo(describe(document, with_error=False))
    settle(document, as_json, describe)
