"""`reglink registries|show|repos|tags`: reading a project's registries and the catalog
of their last crawl, through the HTTP API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from events.errors import NotFound
from gateway.cli_common import Json, Name, Project, call, client, emit, fail
from gateway.cli_registries import plural

browse_app = typer.Typer()

SHOWN_LAST = ("activity", "progress")  # `show` puts what is happening now at the end


@browse_app.command()
def registries(
    project: Project,
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
        doing = f"  [{row['activity']}]" if row.get("activity") else ""
        lines.append(
            f"{row['name']:20} {row['status']:14} {row['version']:<7} {row['url']}{reason}{doing}"
        )
    emit(document, as_json, "\n".join(lines))


def describe_registry(document: dict[str, Any]) -> str:
    lines = [
        f"{key}: {value}"
        for key, value in document.items()
        if value not in (None, [], "") and key not in SHOWN_LAST
    ]
    progress = document.get("progress")
    if document.get("activity") == "crawling" and progress:
        lines.append(
            f"activity: crawling since {progress['started_at']}, "
            f"{plural(progress['repositories'], 'repository', 'repositories')} and "
            f"{plural(progress['tags'], 'tag')} so far"
        )
    elif document.get("activity"):
        lines.append(f"activity: {document['activity']}")
    return "\n".join(lines)


@browse_app.command()
def show(project: Project, name: Name, as_json: Json = False) -> None:
    """Show one registry, and what reglink is doing with it now (verifying, crawling)."""
    document = call(client(), "GET", f"/v1/projects/{project}/registries/{name}")
    emit(document, as_json, describe_registry(document))


@browse_app.command()
def repos(project: Project, name: Name, as_json: Json = False) -> None:
    """List a registry's repositories (from its last crawl)."""
    api = client()
    registry = call(api, "GET", f"/v1/projects/{project}/registries/{name}")
    if registry.get("crawled_at") is None:
        doing = "a crawl is running" if registry.get("activity") == "crawling" else ""
        fail(
            NotFound(
                f"{name} has not been crawled yet" + (f" ({doing})" if doing else ""),
                f"wait for it with `reglink crawl {project} {name} --wait`",
            )
        )
    document = call(api, "GET", f"/v1/projects/{project}/registries/{name}/repositories")
    human = "\n".join(
        f"{row['name']}  ({plural(row['tags'], 'tag')})" for row in document["repositories"]
    )
    empty = f"{name} has no repositories (crawled {registry['crawled_at']})"
    if registry.get("catalog_note"):
        empty += f"\nnote: {registry['catalog_note']}"
    emit(document, as_json, human or empty)


@browse_app.command()
def tags(
    project: Project,
    name: Name,
    repo: Annotated[str, typer.Argument(help="The repository, e.g. team/app.")],
    as_json: Json = False,
) -> None:
    """List a repository's tags with digest, media type and platforms."""
    document = call(
        client(), "GET", f"/v1/projects/{project}/registries/{name}/repositories/{repo}/tags"
    )
    lines = [
        f"{row['tag']:24} {row['digest'] or '-':73} {row['media_type'] or '-':58} "
        f"{','.join(row['platforms']) or '-'}"
        for row in document["tags"]
    ]
    emit(document, as_json, "\n".join(lines))


@browse_app.command()
def projects(as_json: Json = False) -> None:
    """List the projects your token belongs to, with your role in each."""
    document = call(client(), "GET", "/v1/projects")
    lines = [f"{row['name']:20} {row['role']}" for row in document["projects"]]
    emit(document, as_json, "\n".join(lines) or "no projects: ask an owner to add you")
