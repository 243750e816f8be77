"""`reglink link|update|unlink|crawl`: the registry commands, sent through the HTTP API
and followed with --wait. After a failure each says what to do next."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from events.errors import InvalidInput
from events.validation import DEFAULT_MAX_CA_BYTES
from gateway.cli_commands import registry_line, send
from gateway.cli_common import Json, Name, Project, Wait, fail
from gateway.cli_secrets import infer_auth, link_secrets, read_secret

DEFAULT_CRAWL_WAIT = 3600.0  # seconds `crawl --wait` waits: a big catalog takes long

registries_app = typer.Typer()

Url = Annotated[
    str,
    typer.Argument(
        help="The registry as its provider's docs write it: iad.ocir.io, ghcr.io, docker.io, "
        "https://harbor.example.com (no scheme means https; a trailing /v2/ is fine)."
    ),
]
Description = Annotated[str, typer.Option(help="A short description people see.")]
Auth = Annotated[
    str | None,
    typer.Option(
        help="anonymous, basic or oauth2 (default: basic with --username, oauth2 with "
        "--token-stdin, else anonymous).",
        show_default=False,
    ),
]
Username = Annotated[
    str | None, typer.Option(help="The registry user (implies --auth basic).", show_default=False)
]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from standard input (a hidden prompt on a terminal).",
    ),
]
TokenStdin = Annotated[
    bool,
    typer.Option(
        "--token-stdin",
        help="Read an oauth2 token from standard input (a hidden prompt on a terminal).",
    ),
]
ExpiresAt = Annotated[
    str | None,
    typer.Option(
        help="When the secret expires (ISO 8601), to be warned before.", show_default=False
    ),
]


CaFile = Annotated[
    Path | None,
    typer.Option(
        help="A PEM file with the CA (or CAs) the registry's certificate chains to, for a "
        "registry served with a private CA; trusted for this registry alone.",
        show_default=False,
    ),
]
Repository = Annotated[
    list[str] | None,
    typer.Option(
        help="A repository to browse, for registries that do not list their catalog "
        "(Docker Hub, GHCR, Harbor for non-admins); repeatable. Official Docker Hub images "
        "are library/NAME.",
        show_default=False,
    ),
]


def read_ca(path: Path) -> str:
    """The CA file's text; the API checks that it holds certificates only."""
    try:
        with path.open("rb") as handle:
            data = handle.read(DEFAULT_MAX_CA_BYTES + 1)
    except OSError as exc:
        fail(InvalidInput(f"cannot read --ca-file {path}: {exc.strerror}"))
    if len(data) > DEFAULT_MAX_CA_BYTES:
        fail(InvalidInput(f"--ca-file {path} is larger than {DEFAULT_MAX_CA_BYTES} bytes"))
    return data.decode("utf-8", errors="replace")


def _registry_outcome(outcome: dict[str, Any]) -> str:
    """`NAME: STATUS (version N)` of the registry the command settled."""
    registry = outcome.get("registry")
    if not registry:
        return f"succeeded: command {outcome['id']}"
    line = registry_line(registry)
    if registry.get("catalog_note") and not registry.get("repositories"):
        line += f"\nnote: {registry['catalog_note']}"
    return line


def _fix_or_remove(project: str, name: str) -> str:
    return (
        f"fix it with `reglink update {project} {name} --url …` (or other options) "
        f"or remove it with `reglink unlink {project} {name}`"
    )


@registries_app.command()
def link(
    project: Project,
    name: Annotated[str, typer.Argument(help="A name for the registry, unique in the project.")],
    url: Url,
    description: Description = "",
    auth: Auth = None,
    username: Username = None,
    password_stdin: PasswordStdin = False,
    token_stdin: TokenStdin = False,
    repository: Repository = None,
    expires_at: ExpiresAt = None,
    ca_file: CaFile = None,
    wait: Wait = False,
    as_json: Json = False,
) -> None:
    """Link a registry to a project; it is verified, then crawled."""
    chosen = infer_auth(auth, username, token_stdin)
    body: dict[str, Any] = {
        "name": name,
        "url": url,
        "description": description,
        "auth": chosen,
        "username": username,
        "repositories": repository or [],
        "expires_at": expires_at,
        "ca_pem": read_ca(ca_file) if ca_file else None,
        **link_secrets(chosen, password_stdin, token_stdin),
    }
    send(
        "POST",
        f"/v1/projects/{project}/registries",
        body=body,
        wait=wait,
        as_json=as_json,
        success=_registry_outcome,
        hint=f"{name} is kept as `failed`: {_fix_or_remove(project, name)}",
    )


@registries_app.command()
def update(
    project: Project,
    name: Name,
    new_name: Annotated[
        str | None, typer.Option("--name", help="Rename the registry.", show_default=False)
    ] = None,
    url: Annotated[str | None, typer.Option(help="A new registry URL.", show_default=False)] = None,
    description: Annotated[
        str | None, typer.Option(help="A new description.", show_default=False)
    ] = None,
    auth: Annotated[
        str | None,
        typer.Option(help="anonymous, basic or oauth2 (default: unchanged).", show_default=False),
    ] = None,
    username: Annotated[
        str | None, typer.Option(help="A new registry user.", show_default=False)
    ] = None,
    password_stdin: PasswordStdin = False,
    token_stdin: TokenStdin = False,
    repository: Annotated[
        list[str] | None,
        typer.Option(
            help="Repositories to browse (repeatable; replaces the list).", show_default=False
        ),
    ] = None,
    expected_version: Annotated[
        int | None,
        typer.Option(help="Refuse if the registry's version moved on.", show_default=False),
    ] = None,
    expires_at: ExpiresAt = None,
    ca_file: CaFile = None,
    no_ca: Annotated[
        bool, typer.Option("--no-ca", help="Trust only public CAs again (drop --ca-file).")
    ] = False,
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
        "ca_pem": "" if no_ca else (read_ca(ca_file) if ca_file else None),
        "password": read_secret("Password") if password_stdin else None,
        "token": read_secret("Token") if token_stdin else None,
    }
    body = {k: v for k, v in body.items() if v is not None}
    send(
        "PATCH",
        f"/v1/projects/{project}/registries/{name}",
        body=body,
        wait=wait,
        as_json=as_json,
        success=_registry_outcome,
        hint=f"the details in force stay as they were; see `reglink show {project} {name}` "
        f"and try again with `reglink update {project} {name} …`",
    )


@registries_app.command()
def unlink(
    project: Project,
    name: Name,
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
def crawl(project: Project, name: Name, wait: Wait = False, as_json: Json = False) -> None:
    """Crawl a registry's catalog now; with --wait, until the new snapshot is in place."""

    def crawled(outcome: dict[str, Any]) -> str:
        registry = outcome.get("registry") or {}
        return (
            f"{registry.get('name', name)}: crawled, "
            f"{plural(registry.get('repository_count') or 0, 'repository', 'repositories')}, "
            f"{plural(registry.get('tag_count') or 0, 'tag')}"
        )

    send(
        "POST",
        f"/v1/projects/{project}/registries/{name}/crawl",
        wait=wait,
        as_json=as_json,
        success=crawled,
        timeout=DEFAULT_CRAWL_WAIT,
        hint=f"the previous catalog stays browsable; see `reglink show {project} {name}`",
    )


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"
