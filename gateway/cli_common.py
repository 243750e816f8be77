"""What every `reglink` subcommand shares: the API client, output, and failing clearly."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, NoReturn

import typer

from events.errors import CommandRejected
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


def settings() -> Settings:
    return Settings()


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


def fail(exc: CommandRejected) -> NoReturn:
    typer.echo(printable(f"error: {exc.code}: {exc.message}"), err=True)
    raise typer.Exit(1)


def printable(text: str) -> str:
    """Text for a terminal: control characters from a registry or a caller are shown
    escaped (`\\x1b`), never obeyed. JSON output escapes them by itself."""
    return _CONTROL.sub(lambda m: ascii(m.group())[1:-1], text)
