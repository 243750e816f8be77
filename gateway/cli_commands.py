"""`reglink command`, and how every `--wait` follows a command: it polls the command's
own document until the status is terminal, because `succeeded` and `failed` already mean
the effect is settled. Exit 0 only on `succeeded`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer

from events.errors import CommandRejected
from gateway.cli_common import Json, Wait, call, client, emit, fail
from gateway.cli_progress import watching
from gateway.client import DEFAULT_WAIT, ApiClient

DEFAULT_FOLLOW_WAIT = 3600.0  # seconds `reglink command --wait` waits (a crawl may be long)

commands_app = typer.Typer()


class CommandFailed(CommandRejected):
    """A command that ran and failed; `code` is its own reason (e.g. `unauthorized`)."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
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
    hint: str | None = None,
) -> None:
    """Send a command. Without `wait`, say it was accepted; with it, print `success` of
    the settled command, or fail with the command's error. `hint` is the next step after
    a failed outcome (a refusal's message already says what to do)."""
    api = client()
    accepted = call(api, method, path, json=body, params=params)
    command_id = accepted["command_id"]
    if not wait:
        human = f"accepted: command {command_id}\nfollow it with `reglink command {command_id}`"
        emit(accepted, as_json, human)
        return
    settle(follow(api, command_id, timeout, quiet=as_json), as_json, success, hint)


def follow(
    api: ApiClient, command_id: str, timeout: float = DEFAULT_WAIT, *, quiet: bool
) -> dict[str, Any]:
    """The command's document once settled, showing progress on the way unless `quiet`;
    an unreachable API or a timeout fails."""
    try:
        with watching(quiet) as watcher:
            return api.wait_for_command(command_id, timeout, watcher)
    except CommandRejected as exc:
        fail(exc)


def settle(
    outcome: dict[str, Any],
    as_json: bool,
    success: Callable[[dict[str, Any]], str],
    hint: str | None = None,
) -> None:
    """Print a settled command; a failed one prints its document with --json, then its
    error and the next step on stderr, and exits 1."""
    if outcome["status"] == "succeeded":
        emit(outcome, as_json, success(outcome))
        return
    if as_json:
        typer.echo(json.dumps(outcome, indent=2, sort_keys=True))
    error = outcome.get("error") or {}
    failed = CommandFailed(
        error.get("code", "failed"), error.get("message", "the command failed"), hint
    )
    fail(failed, as_json=False)


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
def command(
    command_id: Annotated[
        str, typer.Argument(help="The id `link`, `update`, `unlink` or `crawl` printed.")
    ],
    wait: Wait = False,
    as_json: Json = False,
) -> None:
    """Show a command's status and outcome."""
    api = client()
    if not wait:
        document = call(api, "GET", f"/v1/commands/{command_id}")
        emit(document, as_json, describe(document))
        return
    document = follow(api, command_id, DEFAULT_FOLLOW_WAIT, quiet=as_json)
    if document["status"] == "failed" and not as_json:
        typer.echo(describe(document, with_error=False))
    settle(document, as_json, describe)
