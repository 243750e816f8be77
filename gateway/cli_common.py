"""What every `reglink` subcommand shares: settings that find the running `reglink up`,
the API client, output, and failing clearly (one or two lines, or one JSON document)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, NoReturn

import typer
from typer._click.globals import get_current_context  # the click Typer runs on

from events.errors import CommandRejected
from gateway import instance
from gateway.client import ApiClient
from gateway.settings import Settings

# C0 and C1 controls (but newline and tab) and bidi overrides: a terminal obeys them
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

Json = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
Wait = Annotated[
    bool,
    typer.Option(
        "--wait", help="Block until the command's effect is settled; exit 1 if it failed."
    ),
]
Project = Annotated[str, typer.Argument(help="The project, e.g. demo.", show_default=False)]
Name = Annotated[str, typer.Argument(help="The registry's name in the project.")]


def settings() -> Settings:
    """The environment's settings; REGLINK_DATA_DIR and REGLINK_API_URL, when unset, are
    the running `reglink up`'s, so a command run from any directory sees its data."""
    current = Settings()
    found = instance.running()
    if found is None:
        return current
    update: dict[str, Any] = {}
    if "data_dir" not in current.model_fields_set:
        update["data_dir"] = found.data_dir
    if "api_url" not in current.model_fields_set:
        update["api_url"] = found.api_url
    return current.model_copy(update=update)


def client() -> ApiClient:
    current = settings()
    token = current.token.get_secret_value() if current.token else None
    return ApiClient(current.api_url, token)


def call(api: ApiClient, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """One API request; a refusal ends the command with its code and message."""
    try:
        return api.request(method, path, **kwargs)
    except CommandRejected as exc:
        fail(exc)


def emit(document: dict[str, Any], as_json: bool, human: str) -> None:
    typer.echo(json.dumps(document, indent=2, sort_keys=True) if as_json else printable(human))


def wants_json() -> bool:
    """Whether the running command was given --json (errors then go to stdout as JSON)."""
    context = get_current_context(silent=True)
    return bool(context is not None and context.params.get("as_json"))


def fail(exc: CommandRejected, *, as_json: bool | None = None) -> NoReturn:
    """End the command: `error: CODE: message` and the next step on stderr, or, with
    --json, `{"error": {"code", "message", "hint"}}` on stdout. Exit 1."""
    if wants_json() if as_json is None else as_json:
        error = {"code": exc.code, "message": exc.message, "hint": exc.hint}
        typer.echo(json.dumps({"error": error}, indent=2, sort_keys=True))
    else:
        typer.echo(printable(f"error: {exc.code}: {exc.message}"), err=True)
        if exc.hint:
            typer.echo(printable(f"hint: {exc.hint}"), err=True)
    raise typer.Exit(1)


def printable(text: str) -> str:
    """Text for a terminal: control characters from a registry or a caller are shown
    escaped (`\\x1b`), never obeyed. JSON output escapes them by itself."""
    return _CONTROL.sub(lambda m: ascii(m.group())[1:-1], text)
