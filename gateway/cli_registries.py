"""`reglink link|update|unlink|crawl` (commands, followed with --wait) and
`reglink registries|show|repos|tags` (reads), all through the HTTP API."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from events.errors import CommandRejected
from gateway.cli_commands import registry_line, send
from gateway.cli_common import Json, Wait, call, client, emit, fail

DEFAULT_CRAWL_WAIT = 3600.0  # seconds `crawl --wait` waits: a big catalog takes long

registries_app = typer.Typer()


def _read_secret() -> str:
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        fail(CommandRejected("expected the secret on standard input"))
    return value


def _registry_outcome(outcome: dict[str, Any]) -> str:
    """`NAME: STATUS (version N)` of the registry the command settled."""
    registry = outcome.get("registry")
    return registry_line(registry) if registry else f"succeeded: command {outcome['id']}"


@registries_app.command()
def link(
    project: str,
    name: str,
    url: str,
    description: str = "",
    auth: Annotated[str, typer.Option(help="anonymous, basic or oauth2")] = "anonymous",
    username: str | None = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
    token_stdin: Annotated[bool, typer.Option("--token-stdin")] = False,
    repository: Annotated[
        list[str] | None, typer.Option(help="A repository to browse (repeatable).")
    ] = None,
    expires_at: Annotated[
        str | None, typer.Option(help="When the secret expires (ISO 8601).")
    ] = None,
    wait: Wait = False,
    as_json: Json = False,
) -> None:
    """Link a registry to a project."""
    body: dict[str, Any] = {
        "name": name,
        "url": url,
        "description": description,
        "auth": auth,
        "username": username,
        "repositories": repository or [],
        "expires_at": expires_at,
    }
    if password_stdin:
        body["password"] = _read_secret()
    if token_stdin:
        body["token"] = _read_secret()
    path = f"/v1/projects/{project}/registries"
    send("POST", path, body=body, wait=wait, as_json=as_json, success=_registry_outcome)


@registries_app.command()
def update(
    project: str,
    name: str,
    new_name: Annotated[str | None, typer.Option("--name", help="Rename the registry.")] = None,
    url: Annotated[str | None, typer.Option(help="A new registry URL.")] = None,
    description: str | None = None,
    auth: Annotated[str | None, typer.Option(help="anonymous, basic or oauth2")] = None,
    username: str | None = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
    token_stdin: Annotated[bool, typer.Option("--token-stdin")] = False,
    repository: Annotated[
        list[str] | None, typer.Option(help="Repositories to browse (replaces).")
    ] = None,
    expected_version: Annotated[
        int | None, typer.Option(help="Refuse if the version moved on.")
    ] = None,
    expires_at: Annotated[
        str | None, typer.Option(help="When the secret expires (ISO 8601).")
    ] = None,
    wait: Wait = False,
    as_json: Json = False,
) -> None:
    """Change a registry; new details are verified before they reach build jobs."""
    body: dict[str, Any] = {
        "new_name": new_name,
        "url": url,
        "description": description,
        "auth": auth,
        "username": username,
        "repositories": repository,
        "expected_version": expected_version,
        "expires_at": expires_at,
    }
    if password_stdin:
        body["password"] = _read_secret()
    if token_stdin:
        body["token"] = _read_secret()
    body = {k: v for k, v in body.items() if v is not None}
    path = f"/v1/projects/{project}/registries/{name}"
    send("PATCH", path, body=body, wait=wait, as_json=as_json, success=_registry_outcome)


@registries_app.command()
def unlink(
    project: str,
    name: str,
    force: Annotated[bool, typer.Option(help="Unlink even while build jobs use it.")] = False,
    wait: Wait = False,
    as_json: Json = False,
) -> None:
    """Unlink a registry: build jobs drop it, its secret is destroyed."""
    send(
        "DELETE",
        f"/v1/projects/{project}/registries/{name}",
        params={"force": str(force).lower()},
        wait=wait,
        as_json=as_json,
        success=lambda _outcome: f"{name}: unlinked",
    )


@registries_app.command()
def registries(
    project: str,
    all: Annotated[
        bool, typer.Option("--all", help="Include pending and failed registries.")
    ] = False,
    as_json: Json = False,
) -> None:
    """List a project's linked registries."""
    document = call(
        client(), "GET", f"/v1/projects/{project}/registries", params={"all": str(all).lower()}
    )
    lines = [f"{'NAME':20} {'STATUS':14} {'VERSION':7} URL"]
    for row in document["registries"]:
        reason = f"  ({row['reason']})" if row.get("reason") else ""
        lines.append(
            f"{row['name']:20} {row['status']:14} {row['version']:<7} {row['url']}{reason}"
        )
    emit(document, as_json, "\n".join(lines))


@registries_app.command()
def show(project: str, name: str, as_json: Json = False) -> None:
    """Show one registry."""
    document = call(client(), "GET", f"/v1/projects/{project}/registries/{name}")
    human = "\n".join(
        f"{key}: {value}" for key, value in document.items() if value not in (None, [], "")
    )
    emit(document, as_json, human)


@registries_app.command()
def crawl(project: str, name: str, wait: Wait = False, as_json: Json = False) -> None:
    """Crawl a registry's catalog now; with --wait, until the new snapshot is in place."""

    def crawled(outcome: dict[str, Any]) -> str:
        registry = outcome.get("registry") or {}
        return (
            f"{registry.get('name', name)}: crawled, {registry.get('repository_count')} "
            f"repositories, {registry.get('tag_count')} tags"
        )

    send(
        "POST",
        f"/v1/projects/{project}/registries/{name}/crawl",
        wait=wait,
        as_json=as_json,
        success=crawled,
        timeout=DEFAULT_CRAWL_WAIT,
    )


@registries_app.command()
def repos(project: str, name: str, as_json: Json = False) -> None:
    """List a registry's repositories (from its last crawl)."""
    document = call(client(), "GET", f"/v1/projects/{project}/registries/{name}/repositories")
    human = "\n".join(f"{row['name']}  ({row['tags']} tags)" for row in document["repositories"])
    emit(document, as_json, human)


@registries_app.command()
def tags(project: str, name: str, repo: str, as_json: Json = False) -> None:
    """List a repository's tags with digest, media type and platforms."""
    document = call(
        client(), "GET", f"/v1/projects/{project}/registries/{name}/repositories/{repo}/tags"
    )
    lines = [
        f"{row['tag']:24} {row['digest'] or '-':73} {','.join(row['platforms'])}"
        for row in document["tags"]
    ]
    emit(document, as_json, "\n".join(lines))
