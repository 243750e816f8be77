"""What every `reglink` subcommand shares: the API client, output, and failing clearly."""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import typer

from events.errors import CommandRejected
from gateway.client import ApiClient
from gateway.settings import Settings

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
    typer.echo(json.dumps(document, indent=2, sort_keys=True) if as_json else human)


def fail(exc: CommandRejected) -> NoReturn:
    typer.echo(f"error: {exc.code}: {exc.message}", err=True)
    raise typer.Exit(1)
