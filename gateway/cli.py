"""The `reglink` command line. Commands about registries go through the HTTP API
(`REGLINK_API_URL`, `REGLINK_TOKEN`); `admin` commands work on the store directly."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from events.errors import CommandRejected
from gateway.cli_common import Json, Wait, call, emit, fail, settings
from gateway.cli_common import client as api_client
from gateway.cli_jobs import jobs_app
from gateway.cli_ops import ops_app

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # a traceback's locals may hold a secret
    help="Link registries to CI/CD projects.",
)
admin = typer.Typer(
    no_args_is_help=True, help="Projects and members (works on the store directly)."
)
app.add_typer(admin, name="admin")
app.add_typer(jobs_app, name="jobs")
app.add_typer(ops_app, name="ops")


@app.command()
def up(host: str = "127.0.0.1", port: int = 8080) -> None:
    """API and workers in one process, on embedded defaults."""
    from gateway.runners import run_up

    run_up(settings(), host, port)


@app.command()
def api(host: str = "127.0.0.1", port: int = 8080) -> None:
    """The HTTP API alone (needs REGLINK_REDIS_URL)."""
    from gateway.runners import run_api

    run_api(settings(), host, port)


@app.command()
def worker(
    processes: int = 1,
    threads: int = 4,
    queues: Annotated[
        str | None, typer.Option(help="Comma-separated queues to consume (default: all).")
    ] = None,
) -> None:
    """Workers and the outbox relay (needs REGLINK_REDIS_URL)."""
    from gateway.runners import run_worker

    chosen = {q.strip() for q in queues.split(",") if q.strip()} if queues else None
    run_worker(settings(), processes, threads, chosen)


@app.command()
def scheduler() -> None:
    """Ask for re-verifications and re-crawls as they fall due."""
    from gateway.runners import run_scheduler

    run_scheduler(settings())


@admin.command("create-project")
def create_project(
    project: str,
    owner: Annotated[str, typer.Option(help="The first owner.")],
    as_json: Json = False,
) -> None:
    """Create a project with its first owner; prints the owner's API token when the user is new."""
    from gateway.admin import create_project as create

    try:
        document = create(settings(), project, owner)
    except CommandRejected as exc:
        fail(exc)
    token = document.get("token")
    human = f"project {project} created, owner {owner}" + (f"\ntoken: {token}" if token else "")
    emit(document, as_json, human)


@admin.command("add-member")
def add_member(
    project: str,
    user: str,
    role: Annotated[str, typer.Option(help="owner or member")] = "member",
    as_json: Json = False,
) -> None:
    """Add a user to a project (or change their role); prints a new user's API token."""
    from gateway.admin import add_member as add

    try:
        document = add(settings(), project, user, role)
    except CommandRejected as exc:
        fail(exc)
    token = document.get("token")
    human = f"{user} is {role} of {project}" + (f"\ntoken: {token}" if token else "")
    emit(document, as_json, human)


def _read_secret(from_stdin: bool) -> str | None:
    if not from_stdin:
        return None
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        fail(CommandRejected("expected the secret on standard input"))
    return value


@app.command()
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
        body["password"] = _read_secret(True)
    if token_stdin:
        body["token"] = _read_secret(True)
    path = f"/v1/projects/{project}/registries"
    _submit("POST", path, body, wait=wait, as_json=as_json, until_verified=True)


@app.command()
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
        body["password"] = _read_secret(True)
    if token_stdin:
        body["token"] = _read_secret(True)
    body = {k: v for k, v in body.items() if v is not None}
    path = f"/v1/projects/{project}/registries/{name}"
    client = api_client()
    try:
        before = client.request("GET", path)["version"]
        accepted = client.request("PATCH", path, json=body)
        if not wait:
            emit(accepted, as_json, f"accepted: command {accepted['command_id']}")
            return
        outcome = client.wait_for_command(accepted["command_id"])
        if outcome["status"] == "succeeded":
            outcome["registry"] = client.poll(
                f"/v1/commands/{accepted['command_id']}",
                lambda doc: (
                    (doc.get("registry") or {}).get("version", before) > before
                    or (doc.get("registry") or {}).get("status") in ("update_failed", "failed")
                ),
                120,
                "the update's verification",
            )["registry"]
    except CommandRejected as exc:
        fail(exc)
    registry = outcome.get("registry") or {}
    if registry.get("status") == "update_failed":
        outcome["status"] = "failed"
        outcome["error"] = {"code": registry["reason"], "message": registry["message"]}
    _finish(outcome, as_json)


@app.command()
def unlink(
    project: str,
    name: str,
    force: Annotated[bool, typer.Option(help="Unlink even while build jobs use it.")] = False,
    wait: Wait = False,
    as_json: Json = False,
) -> None:
    """Unlink a registry: build jobs drop it, its secret is destroyed."""
    _submit(
        "DELETE",
        f"/v1/projects/{project}/registries/{name}",
        None,
        wait=wait,
        as_json=as_json,
        params={"force": str(force).lower()},
    )


def _submit(
    method: str,
    path: str,
    body: dict[str, Any] | None,
    *,
    wait: bool,
    as_json: bool,
    params: dict[str, str] | None = None,
    until_verified: bool = False,
) -> None:
    """Send a command; with `wait`, until it has an outcome (and, for a link, until the
    registry is verified or failed)."""
    client = api_client()
    wait_for = client.wait_for_verification if until_verified else client.wait_for_command
    try:
        accepted = client.request(method, path, json=body, params=params)
        if not wait:
            emit(accepted, as_json, f"accepted: command {accepted['command_id']}")
            return
        outcome = wait_for(accepted["command_id"])
    except CommandRejected as exc:
        fail(exc)
    _finish(outcome, as_json)


def _finish(outcome: dict[str, Any], as_json: bool) -> None:
    """Print a command's outcome; a failed command, or a registry that failed
    verification, exits non-zero with the reason."""
    registry = outcome.get("registry") or {}
    if outcome["status"] == "failed":
        code, message = outcome["error"]["code"], outcome["error"]["message"]
    elif registry.get("status") == "failed":
        code, message = registry["reason"], registry["message"]
    else:
        human = f"{outcome['status']}: command {outcome['id']}"
        if registry:
            human = f"{registry['name']}: {registry['status']} (version {registry['version']})"
        emit(outcome, as_json, human)
        return
    if as_json:
        typer.echo(json.dumps(outcome, indent=2, sort_keys=True))
    typer.echo(f"error: {code}: {message}", err=True)
    raise typer.Exit(1)


@app.command()
def registries(
    project: str,
    all: Annotated[
        bool, typer.Option("--all", help="Include pending and failed registries.")
    ] = False,
    as_json: Json = False,
) -> None:
    """List a project's linked registries."""
    document = call(
        api_client(), "GET", f"/v1/projects/{project}/registries", params={"all": str(all).lower()}
    )
    lines = [f"{'NAME':20} {'STATUS':14} {'VERSION':7} URL"]
    for row in document["registries"]:
        reason = f"  ({row['reason']})" if row.get("reason") else ""
        lines.append(
            f"{row['name']:20} {row['status']:14} {row['version']:<7} {row['url']}{reason}"
        )
    emit(document, as_json, "\n".join(lines))


@app.command()
def show(project: str, name: str, as_json: Json = False) -> None:
    """Show one registry."""
    document = call(api_client(), "GET", f"/v1/projects/{project}/registries/{name}")
    human = "\n".join(
        f"{key}: {value}" for key, value in document.items() if value not in (None, [], "")
    )
    emit(document, as_json, human)


@app.command()
def crawl(project: str, name: str, wait: Wait = False, as_json: Json = False) -> None:
    """Crawl a registry's catalog now; with --wait, until the new snapshot is in place."""
    client = api_client()
    path = f"/v1/projects/{project}/registries/{name}"
    try:
        before = client.request("GET", path).get("crawl_finished_at")
        accepted = client.request("POST", f"{path}/crawl")
        if not wait:
            emit(accepted, as_json, f"accepted: command {accepted['command_id']}")
            return
        outcome = client.wait_for_command(accepted["command_id"])
        if outcome["status"] == "succeeded":
            registry = client.poll(
                path, lambda doc: doc.get("crawl_finished_at") != before, 3600, "the crawl"
            )
            outcome["registry"] = registry
    except CommandRejected as exc:
        fail(exc)
    registry = outcome.get("registry") or {}
    if registry.get("crawl_error"):
        outcome["status"] = "failed"
        outcome["error"] = {"code": registry["crawl_error"], "message": "the crawl failed"}
    if outcome["status"] == "failed":
        _finish(outcome, as_json)
        return
    human = (
        f"{name}: {registry.get('repository_count')} repositories, {registry.get('tag_count')} tags"
    )
    emit(outcome, as_json, human)


@app.command()
def repos(project: str, name: str, as_json: Json = False) -> None:
    """List a registry's repositories (from its last crawl)."""
    document = call(api_client(), "GET", f"/v1/projects/{project}/registries/{name}/repositories")
    human = "\n".join(f"{row['name']}  ({row['tags']} tags)" for row in document["repositories"])
    emit(document, as_json, human)


@app.command()
def tags(project: str, name: str, repo: str, as_json: Json = False) -> None:
    """List a repository's tags with digest, media type and platforms."""
    document = call(
        api_client(), "GET", f"/v1/projects/{project}/registries/{name}/repositories/{repo}/tags"
    )
    lines = [
        f"{row['tag']:24} {row['digest'] or '-':73} {','.join(row['platforms'])}"
        for row in document["tags"]
    ]
    emit(document, as_json, "\n".join(lines))


def main() -> None:
    app()
